"""A simulated CWMP CPE: sessions, events, periodic informs, transfers and connection requests.

The device keeps almost nothing of its own (a tree overlay, a few counters),
so thousands fit in one process; everything shared (the parsed dump, options,
quirks) is referenced, not copied.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import random
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from . import diagnostics, rpc, transfer
from .crserver import ConnectionRequestServer
from .digest import ClientAuth
from .httpclient import CookieJar, HttpConnection, HttpError, HttpResponse, Url
from .model import DeviceModel
from .options import DEFAULT_OPTIONS, CPEOptions
from .quirks import Quirks
from .session import SessionError, SessionResult
from .soap import SoapError, array, envelope, esc, literal_prefix_problem, parse
from .tree import DeviceTree
from .udpcr import (
    DEFAULT_KEEPALIVE,
    DEFAULT_STUN_PORT,
    UdpConnectionRequestServer,
    format_address,
    split_host_port,
    stun_loop,
)
from .values import validate_value

#: CPEOptions and SessionResult were defined here; bench/ imports them from here still.
__all__ = ["CPEOptions", "SessionResult", "SimulatedCPE"]

log = logging.getLogger("cpesim")

SINGLE_EVENTS_ORDER = ("0 BOOTSTRAP", "1 BOOT", "2 PERIODIC", "3 SCHEDULED", "4 VALUE CHANGE")


@dataclass(slots=True)
class CpeRequest:
    """A request the CPE sends after the InformResponse (TransferComplete, DUStateChangeComplete)."""

    method: str
    body: str
    events: tuple[tuple[str, str], ...]


class _Session:
    """Per-session state, created per session and dropped after it."""

    __slots__ = ("auth", "conn", "follow_ups", "inform_id", "informed", "jar", "result", "url")

    def __init__(
        self,
        conn: HttpConnection,
        auth: ClientAuth,
        jar: CookieJar,
        result: SessionResult,
        url: Url,
    ) -> None:
        self.conn = conn
        self.auth = auth
        self.jar = jar
        self.result = result
        self.url = url
        self.follow_ups: list[tuple] = []
        self.inform_id = ""
        self.informed = False


def _asks_partial_path(message: Any) -> bool:
    if message.method != "GetParameterValues" or message.element is None:
        return False
    names = [
        el.text or "" for el in message.element.iter() if el.tag.rpartition("}")[2] == "string"
    ]
    return any(not n or n.endswith(".") for n in names)


def _fmt_serial(template: str, serial: str) -> str:
    return template.replace("{serial}", serial) if "{serial}" in template else template


class SimulatedCPE:
    """One simulated device.

    Drive it explicitly (`await cpe.run_session(["1 BOOT"])`) or let it live
    (`await cpe.start()`: boot, periodic informs, connection requests and the
    sessions a Reboot or Download leads to).
    """

    __slots__ = (
        "_acs",
        "_booted",
        "_calls",
        "_changed",
        "_diagnostics",
        "_driver",
        "_events",
        "_history",
        "_jar",
        "_lock",
        "_own_cr",
        "_periodic",
        "_periodic_dirty",
        "_requests",
        "_seq",
        "_tasks",
        "_timers",
        "_transfers",
        "_udp",
        "_waiters",
        "_wake",
        "last_result",
        "model",
        "options",
        "quirks",
        "retry_count",
        "rpcs_answered",
        "serial",
        "sessions_failed",
        "sessions_ok",
        "tree",
    )

    def __init__(
        self,
        model: DeviceModel | str,
        *,
        acs_url: str,
        serial: str | None = None,
        username: str = "",
        password: str = "",
        quirks: Quirks | str | Iterable[str] | Mapping[str, object] | None = None,
        cr_username: str | None = None,
        cr_password: str | None = None,
        options: CPEOptions | None = None,
        **option_overrides: Any,
    ) -> None:
        if isinstance(model, str):
            model = DeviceModel.from_dump(model)
        self.model = model
        self.serial = serial or model.serial
        self.quirks = Quirks.parse(quirks)
        self.options = (options or DEFAULT_OPTIONS).with_overrides(**option_overrides)
        opts = self.options
        root = model.root + "."
        ms = root + "ManagementServer."
        base: dict[str, str] = {
            ms + "URL": acs_url,
            ms + "Username": _fmt_serial(username, self.serial),
            ms + "Password": _fmt_serial(password, self.serial),
            ms + "ConnectionRequestURL": (
                f"http://{opts.cr_host}:{opts.cr_port or 7547}/cr/{quote(self.serial, safe='')}"
                if opts.cr_server is None or not opts.cr_server.started
                else opts.cr_server.url_for(self.serial)
            ),
        }
        if self.serial != model.serial:
            base[root + "DeviceInfo.SerialNumber"] = self.serial
        if cr_username is not None:
            base[ms + "ConnectionRequestUsername"] = _fmt_serial(cr_username, self.serial)
        if cr_password is not None:
            base[ms + "ConnectionRequestPassword"] = _fmt_serial(cr_password, self.serial)
        if opts.periodic_interval is not None:
            base[ms + "PeriodicInformInterval"] = str(int(opts.periodic_interval))
        if opts.stun_server:
            stun_host, stun_port = split_host_port(opts.stun_server)
            base[ms + "STUNEnable"] = "true"
            base[ms + "STUNServerAddress"] = stun_host
            base[ms + "STUNServerPort"] = str(stun_port)
            base[ms + "STUNUsername"] = self._stun_default_username()
        self.tree = DeviceTree(model, {k: v for k, v in base.items() if k in model.nodes})
        self.sessions_ok = 0
        self.sessions_failed = 0
        self.rpcs_answered = 0
        self.retry_count = 0
        self.last_result: SessionResult | None = None
        self._events: list[tuple[str, str]] | None = None
        self._requests: list[CpeRequest] | None = None
        self._transfers: list[rpc.Transfer] | None = None
        self._changed: set[str] | None = None
        self._jar: CookieJar | None = None
        self._seq = 0
        self._booted = False
        self._lock: asyncio.Lock | None = None
        self._wake: asyncio.Event | None = None
        self._driver: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] | None = None
        self._timers: set[asyncio.TimerHandle] | None = None
        self._waiters: list[tuple[int, asyncio.Future]] | None = None
        self._history: deque[SessionResult] | None = None
        self._periodic_dirty = False
        self._periodic = False
        self._own_cr: ConnectionRequestServer | None = None
        self._udp: UdpConnectionRequestServer | None = None
        self._diagnostics: dict[str, asyncio.Task] | None = None
        self._acs: tuple[str, Url] | None = None
        self._calls: dict[str, int] | None = None

    def __repr__(self) -> str:
        return f"<SimulatedCPE {self.model.name} {self.serial}>"

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

    def parameter_written(self, path: str) -> None:
        """Hook after the ACS set a parameter: some change the device's own behaviour."""
        if path.endswith(
            ("ManagementServer.PeriodicInformInterval", "ManagementServer.PeriodicInformEnable")
        ):
            self._periodic_dirty = True
            if self._wake is not None:
                self._wake.set()
        elif self._udp is not None and path.startswith(self.tree.root + "ManagementServer."):
            name = path.rpartition(".")[2]
            if name == "ConnectionRequestUsername":
                self._udp.username_changed(self)
            elif name.startswith("STUN"):
                self._start_stun()

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

    @property
    def transfers(self) -> list[rpc.Transfer]:
        if self._transfers is None:
            self._transfers = []
        return self._transfers

    @property
    def pending_events(self) -> list[tuple[str, str]]:
        """Events waiting for the next Inform, as (code, command key)."""
        return list(self._events or ())

    @property
    def pending_requests(self) -> list[str]:
        """The device's own requests (TransferComplete, …) waiting for the next session."""
        return [r.method for r in self._requests or ()]

    def fault_injected(self, method: str, limit: int) -> bool:
        """Count a call of `method`; True while it is one of the first `limit` (quirk `fault=`)."""
        if self._calls is None:
            self._calls = {}
        count = self._calls[method] = self._calls.get(method, 0) + 1
        return count <= limit

    @property
    def sessions_completed(self) -> int:
        return self.sessions_ok + self.sessions_failed

    def footprint(self) -> int:
        """Bytes this device holds beyond what it shares with others (structural estimate)."""
        size = sys.getsizeof(self) + self.tree.footprint()
        for attr in ("_events", "_requests", "_transfers", "_changed"):
            value = getattr(self, attr)
            if value is not None:
                size += sys.getsizeof(value)
        size += sys.getsizeof(self.serial)
        return size

    # -- events ------------------------------------------------------------------

    def add_event(self, code: str, command_key: str = "") -> None:
        """Queue an event for the next Inform; single events (`1 BOOT`) are not duplicated."""
        if self._events is None:
            self._events = []
        if code[:2] in ("M ", "X "):
            if (code, command_key) not in self._events:
                self._events.append((code, command_key))
        elif all(c != code for c, _ in self._events):
            self._events.append((code, command_key))

    def boot_events(self) -> list[str]:
        """The events of this device's start-up Inform, per the bootstrap option and quirks."""
        if "first-boot-periodic" in self.quirks and not self._booted:
            return ["2 PERIODIC"]
        if "first-boot-boot" in self.quirks:
            return ["1 BOOT"]
        if self.options.bootstrap and not self._booted:
            return ["0 BOOTSTRAP", "1 BOOT"]
        return ["1 BOOT"]

    def _inform_events(self) -> list[tuple[str, str]]:
        events = list(self._events or ())
        for req in self._requests or ():
            for ev in req.events:
                if ev not in events and (
                    ev[0][:2] in ("M ", "X ") or all(c != ev[0] for c, _ in events)
                ):
                    events.append(ev)
        if not events:
            for code in self.boot_events() if not self._booted else ["2 PERIODIC"]:
                self.add_event(code)  # pending until an InformResponse, like any event
            events = list(self._events or ())
        order = {code: i for i, code in enumerate(SINGLE_EVENTS_ORDER)}
        events.sort(key=lambda e: order.get(e[0], 50 if e[0][:1].isdigit() else 90))
        return events

    def _events_delivered(self, sent: list[tuple[str, str]]) -> None:
        if self._events:
            self._events = [e for e in self._events if e not in sent] or None
        if self._changed is not None and any(c == "4 VALUE CHANGE" for c, _ in sent):
            self._changed = None

    # -- Inform ------------------------------------------------------------------

    def _next_id(self) -> str:
        self._seq += 1
        return f"{self.serial}-{self._seq}"

    def _own_ns(self) -> str:
        return self.quirks.ns or self.options.cwmp_ns

    def _inform_parameters(self) -> list[str]:
        tree = self.tree
        names = [p for p in self.model.inform_paths if tree.exists(p)]
        # TR-181 ManagementServer.InformParameter.{i}: extra parameters the ACS asked for.
        table = tree.root + "ManagementServer.InformParameter."
        if tree.exists(table):
            for inst in tree.children(table):
                if tree.get_or(inst + "Enable", "false").lower() in ("1", "true"):
                    name = tree.get_or(inst + "ParameterName")
                    if name and tree.exists(name) and not name.endswith(".") and name not in names:
                        names.append(name)
        if self._udp is not None:
            # With UDP connection requests on, the ACS learns where to send them from the Inform.
            udp = tree.root + "ManagementServer.UDPConnectionRequestAddress"
            if tree.get_or(udp) and udp not in names:
                names.append(udp)
        for name in sorted(self._changed or ()):
            if name not in names and tree.exists(name):
                names.append(name)
        return names

    def _current_time(self) -> str:
        q = self.quirks
        now = datetime.now(UTC)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S")
        if "time-micro" in q:
            stamp += now.strftime(".%f")
        if "time-naive" not in q:
            stamp += "Z"
        return stamp

    def _event_code(self, code: str) -> str:
        if "event-case" in self.quirks and code[:1].isdigit():
            number, _, words = code.partition(" ")
            return f"{number} {words.title()}"
        return code

    def build_inform(
        self, events: list[tuple[str, str]], retry_count: int | None = None
    ) -> tuple[bytes, str | None]:
        """The Inform envelope for these events; returns (bytes, cwmp:ID)."""
        q = self.quirks
        tree = self.tree
        info = tree.root + "DeviceInfo."
        bad = "bad-arraytype" in q
        device_id = (
            f"<DeviceId><Manufacturer>{esc(tree.get_or(info + 'Manufacturer'))}</Manufacturer>"
            f"<OUI>{esc(tree.get_or(info + 'ManufacturerOUI'))}</OUI>"
            f"<ProductClass>{esc(tree.get_or(info + 'ProductClass'))}</ProductClass>"
            f"<SerialNumber>{esc(tree.get_or(info + 'SerialNumber'))}</SerialNumber></DeviceId>"
        )
        codes = list(events)
        if "vendor-event" in q:
            codes.append(
                (f"X {tree.get_or(info + 'ManufacturerOUI') or '000000'} VENDOR EVENT", "")
            )
        event_items = [
            f"<EventStruct><EventCode>{esc(self._event_code(c))}</EventCode><CommandKey>{esc(k)}</CommandKey></EventStruct>"
            for c, k in codes
        ]
        params = [rpc.pvs(n, tree.get(n), tree.type_of(n), q) for n in self._inform_parameters()]
        retries = self.retry_count if retry_count is None else retry_count
        body = (
            f"<cwmp:Inform>{device_id}{array('Event', 'cwmp:EventStruct', event_items, bad_count=bad)}"
            f"<MaxEnvelopes>1</MaxEnvelopes><CurrentTime>{self._current_time()}</CurrentTime>"
            f"<RetryCount>{retries}</RetryCount>"
            f"{array('ParameterList', 'cwmp:ParameterValueStruct', params, bad_count=bad)}</cwmp:Inform>"
        )
        msg_id: str | None = "1" if "same-id" in q else self._next_id()
        extra = ""
        if self.options.supported_versions:
            extra = f"<cwmp:SupportedCWMPVersions>{esc(self.options.supported_versions)}</cwmp:SupportedCWMPVersions>"
        if "no-header" in q:
            msg_id, extra = None, ""
        data = envelope(
            body,
            cwmp_ns=self._own_ns(),
            msg_id=msg_id,
            prefix=q.prefix,
            header_extra=extra,
            pretty="pretty" in q,
        )
        return data, msg_id

    # -- HTTP ----------------------------------------------------------------------

    def _acs_url(self) -> Url:
        url = self.tree.get_or(self.tree.root + "ManagementServer.URL")
        cached = self._acs
        if cached is None or cached[0] != url:
            cached = (url, Url.parse(url))
            self._acs = cached
        return cached[1]

    def _headers(
        self, s: _Session, body: bytes, soap_method: str | None
    ) -> tuple[list[tuple[str, str]], bytes]:
        q = self.quirks
        headers: list[tuple[str, str]] = [
            ("User-Agent", self.options.user_agent or f"cpesim ({self.model.name})"),
        ]
        ct = q.content_type
        if ct is None:
            if body:
                headers.append(("Content-Type", 'text/xml; charset="utf-8"'))
        elif ct == "empty":
            headers.append(("Content-Type", ""))
        elif ct != "none":
            headers.append(("Content-Type", ct))
        if soap_method is not None:
            mode = q.soapaction
            if mode is None:
                headers.append(("SOAPAction", f'"{self._own_ns()}#{soap_method}"'))
            elif mode == "empty":
                headers.append(("SOAPAction", ""))
            elif mode == "quoted-empty":
                headers.append(("SOAPAction", '""'))
            elif mode == "unquoted":
                headers.append(("SOAPAction", f"cwmp:{soap_method}"))
        if "gzip" in q:
            headers.append(("Accept-Encoding", "gzip"))
            if body:
                body = gzip.compress(body, compresslevel=1)
                headers.append(("Content-Encoding", "gzip"))
        authorization = s.auth.header("POST", s.url.target)
        if authorization:
            headers.append(("Authorization", authorization))
        if "no-cookies" not in q:
            cookie = s.jar.header(with_attrs="cookie-attrs" in q, comma="cookie-comma" in q)
            if cookie and "cookie-comma" in q:
                # A cookie of the device's own first: the ACS's is never alone nor first.
                cookie = "cpesim=1, " + cookie
            if cookie:
                headers.append(("Cookie", cookie))
        if "connection-per-request" in q:
            headers.append(("Connection", "close"))
        return headers, body

    async def _post(
        self, s: _Session, body: bytes, what: str, soap_method: str | None = None
    ) -> HttpResponse:
        """POST with cookies and credentials; a 401 is answered by re-sending with credentials."""
        response: HttpResponse | None = None
        for _attempt in range(3):
            headers, payload = self._headers(s, body, soap_method)
            response = await s.conn.request("POST", s.url.target, headers, payload)
            if "connection-per-request" in self.quirks:
                s.conn.close()  # the next request opens a new connection
            s.result.statuses.append(response.status)
            s.result.transcript.append(("->", what, response.status))
            if self.options.record_header:
                if s.result.recorded_headers is None:
                    s.result.recorded_headers = []
                s.result.recorded_headers.append(
                    response.header(self.options.record_header.lower())
                )
            set_cookies = response.header_all("set-cookie")
            if set_cookies:
                s.jar.update(set_cookies)
                s.result.cookies.update(s.jar.as_dict())
            if response.status == 401 and s.auth.challenge(response.header_all("www-authenticate")):
                continue
            if response.status != 401:
                s.auth.succeeded()
                s.auth.authentication_info(response.header("authentication-info"))
            return response
        assert response is not None
        return response

    def _empty_body(self) -> bytes:
        q = self.quirks
        if "empty-envelope" in q:
            return envelope(
                "", cwmp_ns=self._own_ns(), msg_id=None, prefix=q.prefix, pretty="pretty" in q
            )
        if "empty-whitespace" in q:
            return b"\r\n  \r\n"
        return b""

    # -- the session -------------------------------------------------------------------

    async def run_session(self, events: Iterable[str] | None = None) -> SessionResult:
        """Run one CWMP session now and return what happened.

        `events` are added to the pending ones (codes like "1 BOOT", or
        "M Reboot" with an empty CommandKey). Without `events`, the device
        adds its boot events until its first contact succeeded, and sends
        `2 PERIODIC` when nothing else is pending.
        """
        if events is None and not self._booted:
            # A device that has not reached the ACS since it started still owes its boot events.
            for code in self.boot_events():
                self.add_event(code)
        for code in events or ():
            self.add_event(code)
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            semaphore = self.options.session_semaphore
            if semaphore is None:
                return await self._session()
            async with semaphore:
                return await self._session()

    async def boot(self) -> SessionResult:
        """The start-up session (`1 BOOT`, or per the bootstrap option and first-boot quirks)."""
        return await self.run_session(self.boot_events())

    async def _session(self) -> SessionResult:
        opts = self.options
        q = self.quirks
        events = self._inform_events()
        result = SessionResult(
            serial=self.serial, events=[c for c, _ in events], started_at=time.time()
        )
        start = time.perf_counter()
        try:
            url = self._acs_url()
        except ValueError as exc:
            result.error = str(exc)
            return self._finish(result, [], start)
        ms = self.tree.root + "ManagementServer."
        auth = ClientAuth(
            self.tree.get_or(ms + "Username"),
            self.tree.get_or(ms + "Password"),
            preemptive_basic="preemptive-basic" in q or "preemptive-basic-digest-only" in q,
            digest_only="preemptive-basic-digest-only" in q,
            nonce_reuse="nonce-reuse" in q,
        )
        jar = self._jar if ("stale-cookie" in q and self._jar is not None) else CookieJar()
        conn = HttpConnection(
            url,
            ssl_context=opts.ssl_context if url.scheme == "https" else None,
            timeout=opts.timeout,
        )
        s = _Session(conn, auth, jar, result, url)
        try:
            await self._exchange(s, events)
            result.ok = True
        except SessionError as exc:
            result.error = str(exc)
            result.retry_after = exc.retry_after
        except (HttpError, SoapError, OSError, TimeoutError) as exc:
            result.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except Exception as exc:  # a simulator bug must not kill the device's driver loop
            log.exception("%s: session crashed", self.serial)
            result.error = f"internal error: {type(exc).__name__}: {exc}"
        finally:
            result.connections = conn.connects
            conn.close()
        if not s.informed:
            self.retry_count += 1  # the next Inform's RetryCount (TR-069 A.3.3.1)
        if "stale-cookie" in q:
            self._jar = jar
        return self._finish(result, s.follow_ups, start)

    async def _exchange(self, s: _Session, events: list[tuple[str, str]]) -> None:
        q = self.quirks
        result = s.result
        body, s.inform_id = self.build_inform(events)
        if "resend-inform" in q:
            # The link drops after the Inform went out; the CPE reconnects and tries again.
            headers, payload = self._headers(s, body, "Inform")
            await s.conn.send_only("POST", s.url.target, headers, payload)
            result.transcript.append(("->", "Inform", "dropped"))
            self.retry_count += 1
            body, s.inform_id = self.build_inform(events)
        response = await self._post(s, body, "Inform", "Inform")
        if response.status != 200:
            retry_after = None
            if response.status == 503:
                raw = response.header("retry-after")
                retry_after = float(raw) if raw and raw.strip().isdigit() else None
            raise SessionError(f"Inform answered with HTTP {response.status}", retry_after)
        message = parse(response.body)
        self._check_literal_prefix(response.body, message)
        if message is None or message.method != "InformResponse":
            what = "nothing" if message is None else message.method
            if message is not None and message.is_fault:
                what = f"fault {message.fault_code} {message.fault_string}"
            result.transcript.append(("<-", what, response.status))
            raise SessionError(f"expected InformResponse, got {what}")
        result.transcript.append(("<-", "InformResponse", response.status))
        s.informed = True
        self._booted = True
        self._events_delivered(events)
        self.retry_count = 0
        if "abandon-after-inform" in q:
            s.conn.abort()
            result.transcript.append(("--", "abandoned", 0))
            return
        for request in list(self._requests or ()):
            data = envelope(
                request.body,
                cwmp_ns=self._own_ns(),
                msg_id=self._next_id(),
                prefix=q.prefix,
                pretty="pretty" in q,
            )
            response = await self._post(s, data, request.method, request.method)
            message = parse(response.body) if response.status == 200 else None
            self._check_literal_prefix(response.body, message)
            expected = request.method + "Response"
            got = message.method if message else f"HTTP {response.status}"
            result.transcript.append(("<-", got, response.status))
            if got != expected:
                raise SessionError(f"expected {expected}, got {got}")
            assert self._requests is not None
            self._requests.remove(request)
        response = await self._post(s, self._empty_body(), "empty")
        while True:
            if response.status == 204:
                result.transcript.append(("<-", "end", 204))
                return
            if response.status != 200:
                raise SessionError(f"ACS answered HTTP {response.status}")
            message = parse(response.body)
            if message is None:
                result.transcript.append(("<-", "end", 200))
                return
            result.transcript.append(("<-", message.method, response.status))
            self._check_literal_prefix(response.body, message)
            if message.is_fault or message.element is None or message.method.endswith("Response"):
                raise SessionError(f"unexpected {message.method} from the ACS")
            result.rpcs.append(message.method)
            if "crash-on-partial-gpv" in q and _asks_partial_path(message):
                # Some CPE stacks die building a response for a whole subtree.
                s.conn.abort()
                result.transcript.append(("--", "crashed", 0))
                raise SessionError("crashed on GetParameterValues of a partial path")
            if self.options.answer_delay:
                await asyncio.sleep(self.options.answer_delay)
            reply, fault, follow_up = rpc.handle(self, message.method, message.element, q)
            what = f"{message.method}Response"
            if fault is not None:
                result.faults_sent.append((message.method, fault))
                what = f"Fault {fault}"
            data = envelope(
                reply,
                cwmp_ns=message.ns or self._own_ns(),
                msg_id=message.msg_id,
                prefix=q.prefix,
                pretty="pretty" in q,
            )
            response = await self._post(s, data, what)
            self.rpcs_answered += 1
            if follow_up is not None:
                s.follow_ups.append(follow_up)
            if "reboot-after-download" in q and message.method == "Download" and fault is None:
                # The box restarts to fetch and flash: whatever the ACS said next goes unanswered.
                s.conn.abort()
                result.transcript.append(("--", "rebooting", 0))
                if follow_up is not None and follow_up[0] == "transfer":
                    follow_up[1].reboot = True
                return

    def _check_literal_prefix(self, data: bytes, message: Any) -> None:
        """Quirk `literal-cwmp-prefix`: refuse what a CPE matching `<cwmp:` as text cannot read."""
        if message is None or "literal-cwmp-prefix" not in self.quirks:
            return
        problem = literal_prefix_problem(data, message)
        if problem is not None:
            raise SessionError(f"cannot read the ACS's {message.method}: {problem}")

    def _finish(
        self, result: SessionResult, follow_ups: list[tuple], start: float
    ) -> SessionResult:
        result.duration = time.perf_counter() - start
        if result.ok:
            self.sessions_ok += 1
        else:
            self.sessions_failed += 1
        self.last_result = result
        if self.options.history:
            if self._history is None:
                self._history = deque(maxlen=self.options.history)
            self._history.append(result)
        if self.options.verbose:
            log.info("%s", result)
            for direction, what, status in result.transcript:
                log.info("  %s %s %s %s", self.serial, direction, what, status)
        for follow_up in follow_ups:
            self._follow_up(follow_up)
        if self._waiters:
            done = self.sessions_completed
            keep = []
            for after, fut in self._waiters:
                if done > after and not fut.done():
                    fut.set_result(self._result_number(after + 1))
                elif not fut.done():
                    keep.append((after, fut))
            self._waiters = keep
        if self.options.on_session is not None:
            self.options.on_session(self, result)
        return result

    def _result_number(self, n: int) -> SessionResult:
        """The n-th completed session's result (1-based) if still in history, else the latest."""
        assert self.last_result is not None
        if self._history:
            first = self.sessions_completed - len(self._history) + 1
            if first <= n <= self.sessions_completed:
                return self._history[n - first]
        return self.last_result

    async def wait_session(
        self, timeout: float = 10.0, *, after: int | None = None
    ) -> SessionResult:
        """Wait for a session to complete and return its result.

        `after` is a `sessions_completed` value read before triggering the
        session (so one that finishes before this call is not missed);
        without it, waits for the next session to complete.
        """
        mark = self.sessions_completed if after is None else after
        if self.sessions_completed > mark:
            return self._result_number(mark + 1)
        fut: asyncio.Future[SessionResult] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append((mark, fut))
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            if self._waiters:
                self._waiters = [w for w in self._waiters if w[1] is not fut]

    # -- after the session ------------------------------------------------------------

    def _follow_up(self, follow_up: tuple) -> None:
        kind = follow_up[0]
        if kind == "reboot":
            self._reboot([("1 BOOT", ""), ("M Reboot", follow_up[1])])
        elif kind == "factory_reset":
            self._factory_reset()
        elif kind == "transfer":
            t = follow_up[1]
            if t in (self._transfers or ()):  # not cancelled during the session
                t.task = self._spawn(self._run_transfer(t))
        elif kind == "schedule_inform":
            _, delay, key = follow_up
            self._later(delay, lambda: self._fire([("3 SCHEDULED", ""), ("M ScheduleInform", key)]))
        elif kind == "du_state":
            _, results, key = follow_up
            self._queue_du_complete(results, key)
        elif kind == "diagnostics":
            for obj in follow_up[1]:
                self._start_diagnostic(obj)

    def _fire(self, events: list[tuple[str, str]]) -> None:
        for code, key in events:
            self.add_event(code, key)
        self._trigger()

    def _reboot(self, events: list[tuple[str, str]]) -> None:
        self._jar = None  # a rebooted CPE has forgotten its cookies
        self._later(self.options.reboot_delay, lambda: self._fire(events))

    def _factory_reset(self) -> None:
        self.tree.reset()
        for t in list(self._transfers or ()):
            self.cancel_transfer(t)
        for obj in list(self._diagnostics or ()):
            self.cancel_diagnostic(obj)
        if self._udp is not None:
            self._udp.username_changed(self)
        self._events = self._requests = None
        self._changed = None
        self._jar = None
        self._booted = False
        self._reboot([("0 BOOTSTRAP", ""), ("1 BOOT", "")])

    # -- diagnostics (TR-143) --------------------------------------------------------------

    def _start_diagnostic(self, obj: str) -> None:
        """Run a requested diagnostic in the background (a new request restarts it)."""
        self.cancel_diagnostic(obj)
        if self._diagnostics is None:
            self._diagnostics = {}
        self._diagnostics[obj] = self._spawn(self._run_diagnostic(obj))

    def cancel_diagnostic(self, obj: str) -> None:
        """Stop a pending or running diagnostic (its inputs changed, FactoryReset)."""
        task = self._diagnostics.pop(obj, None) if self._diagnostics else None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if not self._diagnostics:
            self._diagnostics = None

    async def _run_diagnostic(self, obj: str) -> None:
        if self.tree.get_or(obj + diagnostics.STATE) != "Requested":
            return  # reset meanwhile
        state = await diagnostics.run(self, obj)
        log.debug("%s: %s%s", self.serial, obj, state)
        me = asyncio.current_task()
        if self._diagnostics and self._diagnostics.get(obj) is me:
            del self._diagnostics[obj]
            if not self._diagnostics:
                self._diagnostics = None
        self._fire([("8 DIAGNOSTICS COMPLETE", "")])

    def cancel_transfer(self, t: rpc.Transfer) -> None:
        """Forget a transfer that has not started (CancelTransfer, FactoryReset)."""
        if isinstance(t.task, asyncio.Task):
            t.task.cancel()
        if self._transfers and t in self._transfers:
            self._transfers.remove(t)

    def _queue_request(self, method: str, body: str, events: tuple[tuple[str, str], ...]) -> None:
        if self._requests is None:
            self._requests = []
        self._requests.append(CpeRequest(method, body, events))

    def _queue_du_complete(self, results: list[dict[str, str]], key: str) -> None:
        now = _now()
        q = self.quirks
        items = [
            f"<OpResultStruct><UUID>{esc(r['uuid'])}</UUID><DeploymentUnitRef></DeploymentUnitRef>"
            f"<Version>{esc(r['version'])}</Version><CurrentState>{r['state']}</CurrentState>"
            f"<Resolved>{rpc.fmt_bool(True, q)}</Resolved><ExecutionUnitRefList></ExecutionUnitRefList>"
            f"<StartTime>{now}</StartTime><CompleteTime>{now}</CompleteTime>"
            "<Fault><FaultCode>0</FaultCode><FaultString></FaultString></Fault></OpResultStruct>"
            for r in results
        ]
        body = (
            f"<cwmp:DUStateChangeComplete>{array('Results', 'cwmp:OpResultStruct', items, bad_count='bad-arraytype' in q)}"
            f"<CommandKey>{esc(key)}</CommandKey></cwmp:DUStateChangeComplete>"
        )
        self._queue_request(
            "DUStateChangeComplete",
            body,
            (("11 DU STATE CHANGE COMPLETE", ""), ("M ChangeDUState", key)),
        )
        self._trigger()

    async def _run_transfer(self, t: rpc.Transfer) -> None:
        if t.delay:
            await asyncio.sleep(t.delay)
        t.state = 2
        t.start_time = _now()
        fault_code, fault_string = 0, ""
        opts = self.options
        kwargs: dict[str, Any] = {
            "timeout": opts.timeout,
            "ssl_context": opts.ssl_context,
            "allow_remote": opts.allow_remote_transfers,
        }
        firmware = t.is_download and t.file_type.startswith("1 ")
        try:
            if t.is_download:
                data = await transfer.fetch(t.url, t.username, t.password, **kwargs)
                if t.file_size and len(data) != t.file_size:
                    raise transfer.TransferFailed(
                        f"size mismatch: expected {t.file_size} bytes, got {len(data)}"
                    )
                self._apply_download(t, data)
            else:
                await transfer.put(t.url, self._upload_content(t), t.username, t.password, **kwargs)
        except transfer.TransferFailed as exc:
            fault_code = 9010 if t.is_download else 9011
            fault_string = str(exc)
            firmware = False
        t.state = 3
        t.complete_time = _now()
        if self._transfers and t in self._transfers:
            self._transfers.remove(t)
        body = (
            f"<cwmp:TransferComplete><CommandKey>{esc(t.command_key)}</CommandKey>"
            f"<FaultStruct><FaultCode>{fault_code}</FaultCode><FaultString>{esc(fault_string)}</FaultString></FaultStruct>"
            f"<StartTime>{t.start_time}</StartTime><CompleteTime>{t.complete_time}</CompleteTime></cwmp:TransferComplete>"
        )
        events: tuple[tuple[str, str], ...] = (
            ("7 TRANSFER COMPLETE", ""),
            (t.event, t.command_key),
        )
        if "transfer-complete-no-event" in self.quirks:
            events = ()  # sent in whatever session comes next, without its events
        self._queue_request("TransferComplete", body, events)
        if firmware or t.reboot:
            # A new image means a reboot: the next Inform also carries 1 BOOT.
            self._reboot([("1 BOOT", "")])
        elif events:
            self._trigger()

    def _apply_download(self, t: rpc.Transfer, data: bytes) -> None:
        tree = self.tree
        if t.file_type.startswith("1 "):
            version = self.options.firmware_version or _firmware_version(
                data, t.target_file or t.url
            )
            path = tree.root + "DeviceInfo.SoftwareVersion"
            if tree.exists(path):
                tree.set(path, version)
        elif t.file_type.startswith("3 "):
            # A configuration file in the format Upload produces: `Path=value` lines.
            for line in data.decode("utf-8", "replace").splitlines():
                name, sep, value = line.partition("=")
                node = tree.node(name.strip()) if sep and not line.startswith("#") else None
                if node is None or not node[0] or name.endswith("."):
                    continue
                try:
                    tree.set(name.strip(), validate_value(node[1], value))
                except ValueError:
                    continue

    def _upload_content(self, t: rpc.Transfer) -> bytes:
        tree = self.tree
        if t.file_type.startswith("2 "):
            lines = [
                f"{_now()} cpesim {self.serial}: {r}"
                for r in ([self.last_result] if self.last_result else [])
            ]
            return ("\n".join(lines) + "\n").encode()
        lines = [f"# cpesim configuration of {self.serial} ({self.model.name})"]
        for path in tree.leaves(tree.root):
            node = tree.node(path)
            if node is not None and node[0]:
                lines.append(f"{path}={tree.get(path)}")
        return ("\n".join(lines) + "\n").encode()

    # -- living device: driver loop, timers, connection requests ---------------------------

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _later(self, delay: float, callback: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        if self._timers is None:
            self._timers = set()
        timers = self._timers
        handle: asyncio.TimerHandle

        def fire() -> None:
            timers.discard(handle)
            callback()

        handle = loop.call_later(max(delay, 0), fire)
        timers.add(handle)

    def _trigger(self) -> None:
        """Something needs a session: wake the driver, starting one if allowed."""
        if self._wake is not None:
            self._wake.set()
        if (self._driver is None or self._driver.done()) and self.options.auto_sessions:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return
            self._start_driver(periodic=False)

    def connection_request(self) -> None:
        """A connection request was accepted: `6 CONNECTION REQUEST` (queued if a session runs)."""
        self.add_event("6 CONNECTION REQUEST")
        self._trigger()

    def _has_work(self) -> bool:
        return bool(self._events or self._requests)

    def _start_driver(self, *, periodic: bool) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
        if periodic and not self._periodic:
            self._periodic = True
            self._periodic_dirty = True
            self._wake.set()
        if self._driver is None or self._driver.done():
            self._driver = asyncio.get_running_loop().create_task(self._drive())
        if self._has_work():
            self._wake.set()

    def _periodic_wait(self) -> float | None:
        ms = self.tree.root + "ManagementServer."
        if self.tree.get_or(ms + "PeriodicInformEnable", "true").lower() not in ("1", "true"):
            return None
        try:
            interval = float(self.tree.get_or(ms + "PeriodicInformInterval", "3600"))
        except ValueError:
            interval = 3600.0
        jitter = random.uniform(0, self.options.jitter) if self.options.jitter else 0.0
        return max(interval, 0.0) + jitter

    def retry_wait(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds before retry number `failures` (TR-069 3.2.1.1), or the ACS's Retry-After."""
        opts = self.options
        if retry_after is not None:
            return min(retry_after, opts.retry_max_wait) + random.uniform(0, 1)
        k = min(failures, 10)
        low = opts.retry_min_wait * opts.retry_multiplier ** (k - 1)
        return min(random.uniform(low, low * opts.retry_multiplier), opts.retry_max_wait)

    async def _drive(self) -> None:
        """Run sessions when there is something to report; retry failed ones with back-off."""
        loop = asyncio.get_running_loop()
        wake = self._wake
        assert wake is not None
        failures = 0
        wait = self._periodic_wait() if self._periodic else None
        next_periodic = None if wait is None else loop.time() + wait
        self._periodic_dirty = False
        me = asyncio.current_task()
        # Checking `self._driver is me` (not only relying on cancel()) matters: in
        # Python 3.11 asyncio.timeout() can swallow a cancel() that arrived just
        # before it expired.
        while self._driver is me:
            if not self._has_work():
                timeout = None if next_periodic is None else max(next_periodic - loop.time(), 0)
                expired = timeout == 0
                if not expired:
                    try:
                        async with asyncio.timeout(timeout):
                            await wake.wait()
                    except TimeoutError:
                        expired = True
                if expired:
                    self.add_event("2 PERIODIC")
                    wait = self._periodic_wait()
                    next_periodic = None if wait is None else loop.time() + wait
            if self._driver is not me:
                return
            wake.clear()
            if self._periodic and self._periodic_dirty:
                self._periodic_dirty = False
                wait = self._periodic_wait()
                next_periodic = None if wait is None else loop.time() + wait
            if not self._has_work():
                continue
            result = await self.run_session()
            if result.ok:
                failures = 0
                continue
            failures += 1
            delay = self.retry_wait(failures, result.retry_after)
            await asyncio.sleep(delay)  # back-off; stop() and halt() cancel it

    async def start(self, *, boot: bool = True, periodic: bool = True, cr: bool = False) -> None:
        """Bring the device to life: boot session, periodic informs, follow-up sessions.

        Returns at once; sessions run in the background. `cr=True` also starts
        the connection-request listener first (so the Inform carries its URL).
        """
        if cr:
            await self.start_cr_listener()
            opts = self.options
            if opts.udp_cr or opts.udp_cr_server is not None or opts.stun_server:
                await self.start_udp_cr_listener()
        if boot:
            for code in self.boot_events():
                self.add_event(code)
        self._start_driver(periodic=periodic)

    async def start_cr_listener(self, server: ConnectionRequestServer | None = None) -> str:
        """Listen for connection requests; returns (and stores) the ConnectionRequestURL."""
        if server is None:
            server = self.options.cr_server
        if server is None:
            if self._own_cr is None:
                self._own_cr = ConnectionRequestServer(self.options.cr_host, self.options.cr_port)
            server = self._own_cr
        await server.start()
        url = server.register(self)
        path = self.tree.root + "ManagementServer.ConnectionRequestURL"
        if path in self.model.nodes:
            self.tree.base[path] = url
            if self.tree.values and path in self.tree.values:
                del self.tree.values[path]
        return url

    async def start_udp_cr_listener(self, server: UdpConnectionRequestServer | None = None) -> str:
        """Listen for UDP connection requests (and run STUN if configured); returns `host:port`.

        The device's ConnectionRequestUsername routes datagrams to it, so it
        must be unique on the listener: an empty or already used one becomes
        the serial number. UDPConnectionRequestAddress (when the dump has it)
        is set and reported in every Inform.
        """
        if server is None:
            server = self.options.udp_cr_server
        if server is None:
            server = self._udp
            if server is None:
                server = UdpConnectionRequestServer(self.options.cr_host, self.options.udp_cr_port)
                server.owner = self  # this device's own socket: closed with the device
        await server.start()
        if self._udp is not None and self._udp is not server:
            await self._leave_udp()
        ms = self.tree.root + "ManagementServer."
        username = self.connection_request_credentials()[0]
        owner = server.owner_of(username) if username else None
        if not username or (owner is not None and owner is not self):
            log.info(
                "%s: ConnectionRequestUsername %r not unique, using the serial", self, username
            )
            self._set_base(ms + "ConnectionRequestUsername", self.serial)
        self._udp = server
        address = server.register(self)
        self._set_base(ms + "UDPConnectionRequestAddress", address)
        self._start_stun()
        return address

    def _set_base(self, path: str, value: str) -> None:
        """Provision a value (kept across FactoryReset) if the dump has the parameter."""
        if path in self.model.nodes:
            self.tree.base[path] = value
            if self.tree.values and path in self.tree.values:
                del self.tree.values[path]

    async def _leave_udp(self) -> None:
        server, self._udp = self._udp, None
        if server is None:
            return
        server.unregister(self)
        if server.owner is self:
            await server.stop()

    def _stun_default_username(self) -> str:
        """STUN USERNAME: the `stun_username` template, else `OUI-ProductClass-SerialNumber`."""
        oui, product_class = self.model.oui, self.model.product_class
        device_id = (
            f"{oui}-{product_class}-{self.serial}" if product_class else f"{oui}-{self.serial}"
        )
        template = self.options.stun_username
        if template is None:
            return device_id
        return template.replace("{serial}", self.serial).replace("{id}", device_id)

    def stun_settings(self) -> tuple[str, int, str, str, float] | None:
        """(server host, port, USERNAME, STUNPassword, keep-alive seconds), or None when off.

        Read from ManagementServer.STUN* (so an ACS can change them), falling
        back to the `stun_server` option for dumps without those parameters.
        """
        tree = self.tree
        ms = tree.root + "ManagementServer."
        option = self.options.stun_server
        enabled = tree.get_or(ms + "STUNEnable", "true" if option else "false")
        if enabled.strip().lower() not in ("1", "true"):
            return None
        host = tree.get_or(ms + "STUNServerAddress").strip()
        try:
            port = int(tree.get_or(ms + "STUNServerPort", "0") or "0")
        except ValueError:
            port = 0
        if option:
            option_host, option_port = split_host_port(option)
            host = host or option_host
            port = port or option_port
        if not host:
            return None
        username = tree.get_or(ms + "STUNUsername").strip() or self._stun_default_username()
        period = self.options.stun_interval
        if period is None:
            try:
                period = float(tree.get_or(ms + "STUNMinimumKeepAlivePeriod", "0") or "0")
            except ValueError:
                period = 0.0
            period = period if period > 0 else DEFAULT_KEEPALIVE
        return host, port or DEFAULT_STUN_PORT, username, tree.get_or(ms + "STUNPassword"), period

    def _start_stun(self) -> None:
        server = self._udp
        if server is None or self.stun_settings() is None:
            return
        task = server.stun_tasks.get(self.serial)
        if task is not None and not task.done():
            return  # the running loop reads the settings again before each request
        server.stun_tasks[self.serial] = self._spawn(
            stun_loop(self, server, allow_remote=self.options.allow_remote_transfers)
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

    def halt(self) -> None:
        """Stop starting sessions (driver and timers) without waiting; usable from callbacks."""
        for handle in list(self._timers or ()):
            handle.cancel()
        self._timers = None
        if self._driver is not None and not self._driver.done():
            self._driver.cancel()
        self._driver = None

    async def stop(self) -> None:
        """Stop sessions, timers, transfers and this device's own listener."""
        for handle in list(self._timers or ()):
            handle.cancel()
        self._timers = None
        tasks = [t for t in (self._driver, *(self._tasks or ())) if t is not None and not t.done()]
        self._driver = None
        current = asyncio.current_task()
        for task in tasks:
            task.cancel()
        for task in tasks:
            if task is current:
                continue
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        if self.options.cr_server is not None:
            self.options.cr_server.unregister(self)
        if self._own_cr is not None:
            await self._own_cr.stop()
            self._own_cr = None
        await self._leave_udp()
        self._diagnostics = None


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _firmware_version(data: bytes, name: str) -> str:
    """A firmware image names its version on a `CPESIM-FIRMWARE version=X` first line; else the file name does."""
    first = data[:256].split(b"\n", 1)[0].decode("utf-8", "replace")
    if first.startswith("CPESIM-FIRMWARE"):
        for token in first.split():
            key, sep, value = token.partition("=")
            if sep and key.lower() == "version" and value:
                return value
    stem = PurePosixPath(name.split("?", 1)[0]).name
    for suffix in (".bin", ".img", ".fw", ".tar", ".gz"):
        stem = stem.removesuffix(suffix)
    return stem or "unknown"
