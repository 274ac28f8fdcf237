"""A simulated device without its network side: identity, parameters, events, the Inform, its memory.

`cpe.SimulatedCPE` builds on `Device` with what needs the network and the
event loop (sessions, the work a session leaves behind, the living loop,
connection-request listeners). Keeping what a device *is* apart from what
it *does* lets the one be read, and tested, without the other.
"""

from __future__ import annotations

import logging
import sys
from urllib.parse import quote

from . import events, inform, state
from .events import CpeRequest
from .model import DeviceModel
from .options import CPEOptions
from .quirks import Quirks
from .tree import DeviceTree
from .udpcr import (
    UdpConnectionRequestServer,
    default_stun_username,
    format_address,
    split_host_port,
    stun_settings,
)
from .values import validate_value

log = logging.getLogger("cpesim")

#: Saved values a restarted device does not take back: where the ACS is, and the addresses
#: of its own listeners, are this run's (the command line's), not the last one's.
_NOT_RESTORED = (
    "ManagementServer.URL",
    "ManagementServer.ConnectionRequestURL",
    "ManagementServer.UDPConnectionRequestAddress",
)


def _fmt_serial(template: str, serial: str) -> str:
    return template.replace("{serial}", serial) if "{serial}" in template else template


def provision(
    model: DeviceModel,
    serial: str,
    options: CPEOptions,
    *,
    acs_url: str,
    username: str = "",
    password: str = "",
    cr_username: str | None = None,
    cr_password: str | None = None,
) -> DeviceTree:
    """A factory-fresh tree with the identity a device is given when it is made.

    These values are the tree's `base`: a FactoryReset keeps them, as a real
    CPE keeps what its ISP provisioned (serial number, ACS URL, credentials).
    """
    opts = options
    root = model.root + "."
    ms = root + "ManagementServer."
    base: dict[str, str] = {
        ms + "URL": acs_url,
        ms + "Username": _fmt_serial(username, serial),
        ms + "Password": _fmt_serial(password, serial),
        ms + "ConnectionRequestURL": (
            f"http://{opts.cr_host}:{opts.cr_port or 7547}/cr/{quote(serial, safe='')}"
            if opts.cr_server is None or not opts.cr_server.started
            else opts.cr_server.url_for(serial)
        ),
    }
    if serial != model.serial:
        base[root + "DeviceInfo.SerialNumber"] = serial
    if cr_username is not None:
        base[ms + "ConnectionRequestUsername"] = _fmt_serial(cr_username, serial)
    if cr_password is not None:
        base[ms + "ConnectionRequestPassword"] = _fmt_serial(cr_password, serial)
    if opts.periodic_interval is not None:
        base[ms + "PeriodicInformInterval"] = str(int(opts.periodic_interval))
    if opts.stun_server:
        stun_host, stun_port = split_host_port(opts.stun_server)
        base[ms + "STUNEnable"] = "true"
        base[ms + "STUNServerAddress"] = stun_host
        base[ms + "STUNServerPort"] = str(stun_port)
        base[ms + "STUNUsername"] = default_stun_username(
            model.oui, model.product_class, serial, opts.stun_username
        )
    return DeviceTree(model, {k: v for k, v in base.items() if k in model.nodes})


class Device:
    """One device's state and the rules that need no network."""

    __slots__ = (
        "_booted",
        "_bootstrapped",
        "_calls",
        "_changed",
        "_events",
        "_rebooting",
        "_requests",
        "_saved",
        "_seq",
        "_udp",
        "model",
        "options",
        "quirks",
        "retry_count",
        "serial",
        "tree",
    )

    def __init__(
        self,
        model: DeviceModel,
        serial: str,
        quirks: Quirks,
        options: CPEOptions,
        tree: DeviceTree,
    ) -> None:
        self.model = model
        self.serial = serial
        self.quirks = quirks
        self.options = options
        self.tree = tree
        #: The next Inform's RetryCount (TR-069 A.3.3.1).
        self.retry_count = 0
        self._events: list[tuple[str, str]] | None = None
        self._requests: list[CpeRequest] | None = None
        self._changed: set[str] | None = None
        self._seq = 0
        #: Reached the ACS since this start (an InformResponse came).
        self._booted = False
        self._calls: dict[str, int] | None = None
        #: The UDP connection-request listener the device is registered on (its Inform
        #: then reports UDPConnectionRequestAddress); SimulatedCPE manages it.
        self._udp: UdpConnectionRequestServer | None = None
        #: A `0 BOOTSTRAP` was acknowledged since the device was factory-fresh. Without a
        #: state store nothing says otherwise, so a device counts as bootstrapped long ago.
        self._bootstrapped = True
        #: Events of a reboot in progress: queued once the device is up, owed already.
        self._rebooting: list[tuple[str, str]] | None = None
        #: hash() of the state last written, so an unchanged device writes nothing.
        self._saved: int | None = None
        store = options.state_store
        if store is not None:
            self._bootstrapped = False
            saved = store.load(serial, model.name)
            if saved is not None:
                self._restore(saved)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.model.name} {self.serial}>"

    def _trigger(self) -> None:
        """Something needs a session: a bare Device cannot hold one, a SimulatedCPE starts it."""

    # -- parameters ------------------------------------------------------------

    def get(self, path: str) -> str:
        """Current value of a parameter (KeyError if the device has no such parameter)."""
        return self.tree.get(path)

    def set(self, path: str, value: str, *, notify: bool = True) -> None:
        """Change a value from the device side (as its web UI or the network would).

        With notification 1 or 2 on the parameter this is a VALUE CHANGE the
        next Inform reports; with 2 (active) it starts a session at once.
        """
        old = self.tree.get(path)
        value = validate_value(self.tree.type_of(path), value)
        self.tree.set(path, value)
        if notify and old != value:
            level = self.tree.attributes(path)[0]
            if level:
                if self._changed is None:
                    self._changed = set()
                self._changed.add(path)
                self.add_event("4 VALUE CHANGE")
                if level == 2:
                    self._trigger()

    def set_parameter_key(self, key: str) -> None:
        """The CPE sets ManagementServer.ParameterKey after a successful change (TR-069 A.3.2.1)."""
        path = self.tree.root + "ManagementServer.ParameterKey"
        if self.tree.exists(path):
            self.tree.set(path, key)

    def _set_base(self, path: str, value: str) -> None:
        """Provision a value (kept across FactoryReset) if the dump has the parameter."""
        if path in self.model.nodes:
            self.tree.base[path] = value
            if self.tree.values and path in self.tree.values:
                del self.tree.values[path]

    def connection_request_credentials(self) -> tuple[str, str]:
        ms = self.tree.root + "ManagementServer."
        return self.tree.get_or(ms + "ConnectionRequestUsername"), self.tree.get_or(
            ms + "ConnectionRequestPassword"
        )

    @property
    def connection_request_url(self) -> str:
        return self.tree.get_or(self.tree.root + "ManagementServer.ConnectionRequestURL")

    @property
    def udp_connection_request_address(self) -> str:
        """`host:port` of the UDP listener (or the STUN-mapped address), "" without UDP."""
        if self._udp is None:
            return ""
        path = self.tree.root + "ManagementServer.UDPConnectionRequestAddress"
        return self.tree.get_or(path) or self._udp.address

    def fault_injected(self, method: str, limit: int) -> bool:
        """Count a call of `method`; True while it is one of the first `limit` (quirk `fault=`)."""
        if self._calls is None:
            self._calls = {}
        count = self._calls[method] = self._calls.get(method, 0) + 1
        return count <= limit

    def footprint(self) -> int:
        """Bytes this device holds beyond what it shares with others (structural estimate)."""
        size = sys.getsizeof(self) + self.tree.footprint() + sys.getsizeof(self.serial)
        for value in (self._events, self._requests, self._changed):
            if value is not None:
                size += sys.getsizeof(value)
        return size

    # -- STUN (TR-111 Part 2) ---------------------------------------------------------------

    def _stun_default_username(self) -> str:
        model = self.model
        return default_stun_username(
            model.oui, model.product_class, self.serial, self.options.stun_username
        )

    def stun_settings(self) -> tuple[str, int, str, str, float] | None:
        """(server host, port, USERNAME, STUNPassword, keep-alive seconds), or None when off."""
        return stun_settings(
            self.tree,
            server=self.options.stun_server,
            interval=self.options.stun_interval,
            default_username=self._stun_default_username(),
        )

    def stun_mapped(self, mapped: tuple[str, int]) -> None:
        """The STUN server saw our binding at `mapped`: that is where UDP requests must go."""
        ms = self.tree.root + "ManagementServer."
        address = format_address(*mapped)
        if self.tree.exists(ms + "UDPConnectionRequestAddress"):
            if self.tree.get(ms + "UDPConnectionRequestAddress") != address:
                self.set(ms + "UDPConnectionRequestAddress", address)  # active notification
        if self.tree.exists(ms + "NATDetected") and self._udp is not None:
            nat = "false" if address == self._udp.address else "true"
            if self.tree.get(ms + "NATDetected") != nat:
                self.tree.set(ms + "NATDetected", nat)

    # -- events and the device's own requests -------------------------------------------

    @property
    def pending_events(self) -> list[tuple[str, str]]:
        """Events waiting for the next Inform, as (code, command key)."""
        return list(self._events or ())

    @property
    def pending_requests(self) -> list[str]:
        """The device's own requests (TransferComplete, …) waiting for the next session."""
        return [r.method for r in self._requests or ()]

    def add_event(self, code: str, command_key: str = "") -> None:
        """Queue an event for the next Inform; single events (`1 BOOT`) are not duplicated."""
        self._events = events.add(self._events, code, command_key)

    def boot_events(self) -> list[str]:
        """The events of this device's start-up Inform: `0 BOOTSTRAP` while not bootstrapped."""
        bootstrap = self.options.bootstrap or not self._bootstrapped
        return events.boot_events(self.quirks, bootstrap=bootstrap, booted=self._booted)

    def has_work(self) -> bool:
        """Something waits for a session: events, or requests of the device's own."""
        return bool(self._events or self._requests)

    def _queue_request(self, method: str, body: str, events: tuple[tuple[str, str], ...]) -> None:
        if self._requests is None:
            self._requests = []
        self._requests.append(CpeRequest(method, body, events))

    def outgoing_requests(self) -> list[CpeRequest]:
        return list(self._requests or ())

    def request_delivered(self, request: CpeRequest) -> None:
        if self._requests and request in self._requests:
            self._requests.remove(request)

    def _inform_events(self) -> list[tuple[str, str]]:
        pending = events.for_inform(self._events or (), self._requests or ())
        if not pending:
            for code in self.boot_events() if not self._booted else ["2 PERIODIC"]:
                self.add_event(code)  # pending until an InformResponse, like any event
            pending = events.for_inform(self._events or (), ())
        return pending

    def inform_acknowledged(self, sent: list[tuple[str, str]]) -> None:
        """An InformResponse came: these events are delivered, the device has reached the ACS."""
        self._booted = True
        self.retry_count = 0
        if any(c == "0 BOOTSTRAP" for c, _ in sent):
            self._bootstrapped = True
        if self._events:
            self._events = [e for e in self._events if e not in sent] or None
        if self._changed is not None and any(c == "4 VALUE CHANGE" for c, _ in sent):
            self._changed = None

    # -- the Inform ----------------------------------------------------------------------

    def next_id(self) -> str:
        """The cwmp:ID of the device's next own request."""
        self._seq += 1
        return f"{self.serial}-{self._seq}"

    def own_ns(self) -> str:
        """The cwmp namespace of the device's own requests."""
        return self.quirks.ns or self.options.cwmp_ns

    @property
    def user_agent(self) -> str:
        return self.options.user_agent or f"cpesim ({self.model.name})"

    def build_inform(
        self, events: list[tuple[str, str]], retry_count: int | None = None
    ) -> tuple[bytes, str | None]:
        """The Inform envelope for these events; returns (bytes, cwmp:ID)."""
        q = self.quirks
        names = inform.parameters(self.tree, udp=self._udp is not None, changed=self._changed or ())
        msg_id: str | None = "1" if "same-id" in q else self.next_id()
        if "no-header" in q:
            msg_id = None
        data = inform.build(
            self.tree,
            q,
            events,
            names=names,
            retries=self.retry_count if retry_count is None else retry_count,
            msg_id=msg_id,
            ns=self.own_ns(),
            supported_versions=self.options.supported_versions,
        )
        return data, msg_id

    # -- memory across restarts (cpesim.state) -----------------------------------------------

    def _restore(self, saved: state.SavedState) -> None:
        """Become the device that was saved: its configuration, bootstrap, what it still owes."""
        saved.tree.apply(self.tree)
        values = self.tree.values
        if values:
            for rel in _NOT_RESTORED:
                values.pop(self.tree.root + rel, None)
            self.tree.values = values or None
        url = self.tree.get_or(self.tree.root + "ManagementServer.URL")
        # `0 BOOTSTRAP` means first installation or a new ACS URL: a new ACS gets one.
        self._bootstrapped = saved.bootstrapped and saved.acs_url == url
        self._events = events.kept(saved.events) or None
        self._requests = list(saved.requests) or None
        self._saved = hash(self._state_text())  # a device that changes nothing writes nothing
        log.info("%s: restored from %s", self.serial, self.options.state_store)

    def _state_text(self) -> str:
        snapshot = state.SavedState(
            dump=self.model.name,
            acs_url=self.tree.get_or(self.tree.root + "ManagementServer.URL"),
            bootstrapped=self._bootstrapped,
            tree=state.TreeDiff.of(self.tree),
            events=events.kept([*(self._events or ()), *(self._rebooting or ())]),
            requests=list(self._requests or ()),
        )
        return state.encode(self.serial, snapshot)

    def save_state(self) -> None:
        """Save the device's state if it has a store and anything changed since the last save."""
        store = self.options.state_store
        if store is None:
            return
        text = self._state_text()
        digest = hash(text)
        if digest != self._saved and store.save(self.serial, text):
            self._saved = digest
