"""Settings shared by many simulated devices: one `CPEOptions` object serves a whole fleet.

They live apart from the device so the modules a device is made of (the
session, the RPC handlers, diagnostics) can read them without importing the
device, and a fleet of 10,000 devices holds one object, not 10,000.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .quirks import normalize_ns
from .soap import CWMP_1_0

if TYPE_CHECKING:
    from .crserver import ConnectionRequestServer
    from .session import SessionResult
    from .state import StateStore
    from .udpcr import UdpConnectionRequestServer


@dataclass(slots=True)
class CPEOptions:
    """Settings shared by many devices (one object for a whole fleet)."""

    #: cwmp namespace of the device's own requests (Inform, TransferComplete).
    cwmp_ns: str = CWMP_1_0
    #: ACS RPCs answered with fault 9000, e.g. {"Reboot", "FactoryReset"}.
    unsupported: frozenset[str] = frozenset()
    #: Per-request HTTP timeout (seconds).
    timeout: float = 30.0
    #: Override of ManagementServer.PeriodicInformInterval (0: back-to-back sessions, for load tests).
    periodic_interval: float | None = None
    #: Random delay added to each periodic inform, uniform in [0, jitter].
    jitter: float = 0.0
    #: TR-069 3.2.1.1 session retry: CWMPRetryMinimumWaitInterval and multiplier.
    retry_min_wait: float = 5.0
    retry_multiplier: float = 2.0
    retry_max_wait: float = 3600.0
    #: Simulated boot time after Reboot / FactoryReset / firmware upgrade.
    reboot_delay: float = 0.0
    #: Seconds the device takes to answer each ACS request (a slow CPE).
    answer_delay: float = 0.0
    #: Force `0 BOOTSTRAP` + `1 BOOT` on the first Inform after start. Without it, a device with
    #: a `state_store` bootstraps until a bootstrap of its is acknowledged (then saved); one
    #: without a store counts as bootstrapped long ago and boots with `1 BOOT`.
    bootstrap: bool = False
    #: Where devices keep their configuration across restarts (cpesim.state); None: nowhere,
    #: nothing read or written (the default, and what fleets of benchmarks want).
    state_store: StateStore | None = None
    #: SoftwareVersion after a firmware Download (default: derived from the file).
    firmware_version: str | None = None
    #: Allow Download/Upload to non-loopback hosts.
    allow_remote_transfers: bool = False
    #: Start a session by itself after Reboot, Download, ScheduleInform, connection requests…
    auto_sessions: bool = True
    #: Completed SessionResults kept per device (for tests; 0 keeps only the last one).
    history: int = 0
    #: Shared by a fleet to cap concurrent sessions.
    session_semaphore: asyncio.Semaphore | None = None
    #: Shared connection-request listener; None: `start_cr_listener()` makes one per device.
    cr_server: ConnectionRequestServer | None = None
    cr_host: str = "127.0.0.1"
    cr_port: int = 0
    #: UDP connection requests (TR-069 Annex G): `start(cr=True)` also starts the UDP listener.
    udp_cr: bool = False
    #: Shared UDP listener; None: `start_udp_cr_listener()` makes one per device on cr_host.
    udp_cr_server: UdpConnectionRequestServer | None = None
    udp_cr_port: int = 0
    #: STUN server `HOST:PORT` (TR-111 Part 2): Binding Requests from the UDP listener.
    stun_server: str | None = None
    #: STUNUsername for `stun_server` ({serial} and {id} replaced); default OUI-ProductClass-Serial.
    stun_username: str | None = None
    #: Seconds between Binding Requests; default STUNMinimumKeepAlivePeriod, else 30.
    stun_interval: float | None = None
    #: TLS towards the ACS and for https transfers (created once and shared: never per session).
    ssl_context: ssl.SSLContext | None = None
    #: `cwmp:SupportedCWMPVersions` header value for the Inform (CWMP 1.4), e.g. "1.0,1.1,1.2,1.3,1.4".
    supported_versions: str | None = None
    user_agent: str | None = None
    #: Log every session's transcript at INFO.
    verbose: bool = False
    #: A response header (lower-case name, e.g. "x-upstream": which server a proxy
    #: chose) to record per request in `SessionResult.recorded_headers`. Off: None.
    record_header: str | None = None
    #: Called with (cpe, result) after every session (fleet statistics). The device is
    #: typed Any: options sit below the device in the import graph.
    on_session: Callable[[Any, SessionResult], None] | None = None

    def __post_init__(self) -> None:
        self.unsupported = method_set(self.unsupported)
        self.cwmp_ns = normalize_ns(self.cwmp_ns)

    def with_overrides(self, **overrides: Any) -> CPEOptions:
        """A copy with some fields changed (unknown names raise TypeError)."""
        if not overrides:
            return self
        return dataclasses.replace(self, **overrides)


def method_set(value: str | Iterable[str] | None) -> frozenset[str]:
    """RPC names from "A,B" or an iterable: the CLI and the API spell `unsupported` both ways."""
    if value is None:
        return frozenset()
    if isinstance(value, str):
        value = value.split(",")
    return frozenset(v.strip() for v in value if v.strip())


DEFAULT_OPTIONS = CPEOptions()
