"""One CWMP session as the CPE holds it: Inform, its own requests, then the ACS's RPCs over HTTP.

The device (`cpe.SimulatedCPE`) decides what to say: the events, the Inform,
the answer to each RPC. This module decides how it goes on the wire (cookies,
Basic/Digest on a 401, one keep-alive connection or one per request, the
quirks that bend headers and envelopes) and when a session is over or
failed, so the field quirks of the HTTP side are read in one place.
Fleets, benchmarks and tests read the `SessionResult`s it produces.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import ssl
from dataclasses import dataclass, field
from typing import Any, Protocol

from lxml import etree

from .digest import ClientAuth
from .events import CpeRequest
from .httpclient import CookieJar, HttpConnection, HttpError, HttpResponse, Url
from .quirks import Quirks
from .soap import SoapError, envelope, literal_prefix_problem, parse

log = logging.getLogger("cpesim")


@dataclass(slots=True)
class SessionResult:
    """What happened in one CWMP session, for assertions and debugging."""

    serial: str
    events: list[str] = field(default_factory=list)
    ok: bool = False
    #: HTTP status of every request the device sent, in order.
    statuses: list[int] = field(default_factory=list)
    #: Method names of the ACS requests received.
    rpcs: list[str] = field(default_factory=list)
    #: (method, fault code) of every fault the device answered with.
    faults_sent: list[tuple[str, int]] = field(default_factory=list)
    error: str | None = None
    #: Cookies the ACS set during the session.
    cookies: dict[str, str] = field(default_factory=dict)
    duration: float = 0.0
    #: (direction, what, HTTP status): "->" requests sent with the status they got, "<-" what came back.
    transcript: list[tuple[str, str, int | str]] = field(default_factory=list)
    #: Seconds from a 503's Retry-After, if any.
    retry_after: float | None = None
    #: Number of TCP connections the session opened.
    connections: int = 0
    started_at: float = 0.0
    #: The `CPEOptions.record_header` value of every response, in request order (None when off).
    recorded_headers: list[str | None] | None = None

    def __str__(self) -> str:
        state = "ok" if self.ok else f"FAILED ({self.error})"
        return f"{self.serial} [{', '.join(self.events)}] {state} rpcs={','.join(self.rpcs) or '-'} {self.duration * 1000:.0f}ms"


class SessionError(Exception):
    """The session could not go on (bad status, fault, unexpected message)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SessionOptions(Protocol):
    """The settings a session reads (a `CPEOptions` has them)."""

    timeout: float
    ssl_context: ssl.SSLContext | None
    answer_delay: float
    record_header: str | None


class SessionDevice(Protocol):
    """What a session needs from its device (a `SimulatedCPE` has it)."""

    serial: str
    quirks: Quirks
    #: The next Inform's RetryCount (TR-069 A.3.3.1).
    retry_count: int
    rpcs_answered: int

    @property
    def options(self) -> SessionOptions: ...

    @property
    def user_agent(self) -> str: ...

    def own_ns(self) -> str: ...

    def next_id(self) -> str: ...

    def build_inform(
        self, events: list[tuple[str, str]], retry_count: int | None = None
    ) -> tuple[bytes, str | None]: ...

    def inform_acknowledged(self, events: list[tuple[str, str]]) -> None:
        """The InformResponse came: these events are delivered."""

    def outgoing_requests(self) -> list[CpeRequest]: ...

    def request_delivered(self, request: CpeRequest) -> None: ...

    def answer(
        self, method: str, element: etree._Element
    ) -> tuple[str, int | None, tuple[Any, ...] | None]:
        """(response body, fault code or None, follow-up or None) for one ACS request."""
        ...


def _asks_partial_path(message: Any) -> bool:
    if message.method != "GetParameterValues" or message.element is None:
        return False
    names = [
        el.text or "" for el in message.element.iter() if el.tag.rpartition("}")[2] == "string"
    ]
    return any(not n or n.endswith(".") for n in names)


class Session:
    """One session's connection, credentials, cookies and result; dropped when it ends."""

    __slots__ = ("auth", "conn", "device", "follow_ups", "informed", "jar", "result", "url")

    def __init__(
        self,
        device: SessionDevice,
        url: Url,
        auth: ClientAuth,
        jar: CookieJar,
        result: SessionResult,
    ) -> None:
        opts = device.options
        self.device = device
        self.conn = HttpConnection(
            url,
            ssl_context=opts.ssl_context if url.scheme == "https" else None,
            timeout=opts.timeout,
        )
        self.auth = auth
        self.jar = jar
        self.result = result
        self.url = url
        #: What the ACS asked for that the device does after the session (Reboot, Download…).
        self.follow_ups: list[tuple[Any, ...]] = []
        #: An InformResponse came: the events are delivered even if the session fails later.
        self.informed = False

    async def run(self, events: list[tuple[str, str]]) -> None:
        """Hold the session; whatever goes wrong ends in `result.error`, never in an exception."""
        result = self.result
        try:
            await self._exchange(events)
            result.ok = True
        except SessionError as exc:
            result.error = str(exc)
            result.retry_after = exc.retry_after
        except (HttpError, SoapError, OSError, TimeoutError) as exc:
            result.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except Exception as exc:  # a simulator bug must not kill the device's driver loop
            log.exception("%s: session crashed", self.device.serial)
            result.error = f"internal error: {type(exc).__name__}: {exc}"
        finally:
            result.connections = self.conn.connects
            self.conn.close()

    async def _exchange(self, events: list[tuple[str, str]]) -> None:
        device = self.device
        q = device.quirks
        result = self.result
        body, _ = device.build_inform(events)
        if "resend-inform" in q:
            # The link drops after the Inform went out; the CPE reconnects and tries again.
            headers, payload = self._headers(body, "Inform")
            await self.conn.send_only("POST", self.url.target, headers, payload)
            result.transcript.append(("->", "Inform", "dropped"))
            device.retry_count += 1
            body, _ = device.build_inform(events)
        response = await self._post(body, "Inform", "Inform")
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
        self.informed = True
        device.inform_acknowledged(events)
        if "abandon-after-inform" in q:
            self.conn.abort()
            result.transcript.append(("--", "abandoned", 0))
            return
        for request in device.outgoing_requests():
            data = envelope(
                request.body,
                cwmp_ns=device.own_ns(),
                msg_id=device.next_id(),
                prefix=q.prefix,
                pretty="pretty" in q,
            )
            response = await self._post(data, request.method, request.method)
            message = parse(response.body) if response.status == 200 else None
            self._check_literal_prefix(response.body, message)
            expected = request.method + "Response"
            got = message.method if message else f"HTTP {response.status}"
            result.transcript.append(("<-", got, response.status))
            if got != expected:
                raise SessionError(f"expected {expected}, got {got}")
            device.request_delivered(request)
        response = await self._post(self._empty_body(), "empty")
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
                self.conn.abort()
                result.transcript.append(("--", "crashed", 0))
                raise SessionError("crashed on GetParameterValues of a partial path")
            if device.options.answer_delay:
                await asyncio.sleep(device.options.answer_delay)
            reply, fault, follow_up = device.answer(message.method, message.element)
            what = f"{message.method}Response"
            if fault is not None:
                result.faults_sent.append((message.method, fault))
                what = f"Fault {fault}"
            data = envelope(
                reply,
                cwmp_ns=message.ns or device.own_ns(),
                msg_id=message.msg_id,
                prefix=q.prefix,
                pretty="pretty" in q,
            )
            response = await self._post(data, what)
            device.rpcs_answered += 1
            if follow_up is not None:
                self.follow_ups.append(follow_up)
            if "reboot-after-download" in q and message.method == "Download" and fault is None:
                # The box restarts to fetch and flash: whatever the ACS said next goes unanswered.
                self.conn.abort()
                result.transcript.append(("--", "rebooting", 0))
                if follow_up is not None and follow_up[0] == "transfer":
                    follow_up[1].reboot = True
                return

    def _check_literal_prefix(self, data: bytes, message: Any) -> None:
        """Quirk `literal-cwmp-prefix`: refuse what a CPE matching `<cwmp:` as text cannot read."""
        if message is None or "literal-cwmp-prefix" not in self.device.quirks:
            return
        problem = literal_prefix_problem(data, message)
        if problem is not None:
            raise SessionError(f"cannot read the ACS's {message.method}: {problem}")

    def _headers(self, body: bytes, soap_method: str | None) -> tuple[list[tuple[str, str]], bytes]:
        device = self.device
        q = device.quirks
        headers: list[tuple[str, str]] = [("User-Agent", device.user_agent)]
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
                headers.append(("SOAPAction", f'"{device.own_ns()}#{soap_method}"'))
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
        authorization = self.auth.header("POST", self.url.target)
        if authorization:
            headers.append(("Authorization", authorization))
        if "no-cookies" not in q:
            cookie = self.jar.header(with_attrs="cookie-attrs" in q, comma="cookie-comma" in q)
            if cookie and "cookie-comma" in q:
                # A cookie of the device's own first: the ACS's is never alone nor first.
                cookie = "cpesim=1, " + cookie
            if cookie:
                headers.append(("Cookie", cookie))
        if "connection-per-request" in q:
            headers.append(("Connection", "close"))
        return headers, body

    async def _post(self, body: bytes, what: str, soap_method: str | None = None) -> HttpResponse:
        """POST with cookies and credentials; a 401 is answered by re-sending with credentials."""
        result = self.result
        record = self.device.options.record_header
        response: HttpResponse | None = None
        for _attempt in range(3):
            headers, payload = self._headers(body, soap_method)
            response = await self.conn.request("POST", self.url.target, headers, payload)
            if "connection-per-request" in self.device.quirks:
                self.conn.close()  # the next request opens a new connection
            result.statuses.append(response.status)
            result.transcript.append(("->", what, response.status))
            if record:
                if result.recorded_headers is None:
                    result.recorded_headers = []
                result.recorded_headers.append(response.header(record.lower()))
            set_cookies = response.header_all("set-cookie")
            if set_cookies:
                self.jar.update(set_cookies)
                result.cookies.update(self.jar.as_dict())
            if response.status == 401 and self.auth.challenge(
                response.header_all("www-authenticate")
            ):
                continue
            if response.status != 401:
                self.auth.succeeded()
                self.auth.authentication_info(response.header("authentication-info"))
            return response
        assert response is not None
        return response

    def _empty_body(self) -> bytes:
        device = self.device
        q = device.quirks
        if "empty-envelope" in q:
            return envelope(
                "", cwmp_ns=device.own_ns(), msg_id=None, prefix=q.prefix, pretty="pretty" in q
            )
        if "empty-whitespace" in q:
            return b"\r\n  \r\n"
        return b""
