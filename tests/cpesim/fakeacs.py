"""A small fake ACS (and file server) for the simulator's tests.

It speaks just enough CWMP to drive a device through a session, records every
raw HTTP request (headers, body, connection) so tests can assert on what the
simulator put on the wire, and implements Basic and Digest itself (hashlib),
independently of cpesim's client code.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import itertools
import os
import re
import ssl
from dataclasses import dataclass, field

from lxml import etree

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_PARAM_RE = re.compile(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


def localname(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def find(el, *names):
    """Descend by local names (namespace-agnostic)."""
    for name in names:
        if el is None:
            return None
        el = next((c for c in el if localname(c.tag) == name), None)
    return el


def findall(el, name):
    return [c for c in el if localname(c.tag) == name] if el is not None else []


def text_of(el, *names) -> str:
    node = find(el, *names)
    return (node.text or "") if node is not None else ""


@dataclass
class RawRequest:
    method: str
    target: str
    headers: list[tuple[str, str]]
    raw_body: bytes
    body: bytes
    connection: int
    rpc: str = ""  # local name of the Body's first element, "" for an empty POST

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def has_header(self, name: str) -> bool:
        return any(key.lower() == name.lower() for key, _ in self.headers)

    @property
    def root(self):
        return etree.fromstring(self.body) if self.body.strip() else None


@dataclass
class Session:
    inform: etree._Element
    envelope: etree._Element
    requests: list[RawRequest] = field(default_factory=list)
    #: What the CPE answered to each RPC: (method local name, element).
    responses: list[tuple[str, etree._Element]] = field(default_factory=list)
    cpe_requests: list[tuple[str, etree._Element]] = field(default_factory=list)
    ended: bool = False

    @property
    def events(self) -> list[str]:
        return [text_of(e, "EventCode") for e in findall(find(self.inform, "Event"), "EventStruct")]

    @property
    def event_keys(self) -> list[tuple[str, str]]:
        return [
            (text_of(e, "EventCode"), text_of(e, "CommandKey"))
            for e in findall(find(self.inform, "Event"), "EventStruct")
        ]

    @property
    def params(self) -> dict[str, str]:
        return {
            text_of(p, "Name"): text_of(p, "Value")
            for p in findall(find(self.inform, "ParameterList"), "ParameterValueStruct")
        }

    @property
    def serial(self) -> str:
        return text_of(self.inform, "DeviceId", "SerialNumber")

    def response(self, index: int = -1) -> etree._Element:
        return self.responses[index][1]


class FakeACS:
    """An asyncio CWMP server on 127.0.0.1, port 0.

    `queue(body)` adds an RPC (inner XML using the `cwmp:` prefix) that the
    ACS sends after the next empty POST or RPC response, in any session.
    """

    def __init__(
        self,
        *,
        auth: str | None = None,
        algorithm: str = "MD5",
        username: str = "cpe",
        password: str = "secret",
        set_cookies: tuple[str, ...] = ("acs_session={n}; Path=/; HttpOnly",),
        ns: str = "urn:dslforum-org:cwmp-1-0",
        close_after_inform: bool = False,
        chunked: bool = False,
        gzip_responses: bool = False,
        inform_status: int | None = None,
        retry_after: str | None = None,
        file_auth: tuple[str, str] | None = None,
        end_with_200: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.auth = auth
        self.algorithm = algorithm
        self.username = username
        self.password = password
        self.set_cookies = set_cookies
        self.ns = ns
        self.close_after_inform = close_after_inform
        self.chunked = chunked
        self.gzip_responses = gzip_responses
        self.inform_status = inform_status
        self.retry_after = retry_after
        self.file_auth = file_auth
        self.end_with_200 = end_with_200
        #: Serve HTTPS with this server context (client certificates per its verify_mode).
        self.ssl_context = ssl_context
        #: Subject CN of each TLS client certificate received, per connection (None: no certificate).
        self.client_cns: list[str | None] = []
        self.requests: list[RawRequest] = []
        self.sessions: list[Session] = []
        self.pending: list[str] = []
        self.files: dict[str, bytes] = {}
        self.uploads: dict[str, bytes] = {}
        self.nonces: dict[str, list[str]] = {}  # nonce -> nc values seen
        self.auth_failures = 0
        self.session_event = asyncio.Event()
        self._server: asyncio.AbstractServer | None = None
        self._ids = itertools.count(1)
        self._conns = itertools.count(1)
        self.port = 0

    # -- control -------------------------------------------------------------

    async def __aenter__(self) -> FakeACS:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/acs"

    def file_url(self, name: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/files/{name}"

    def upload_url(self, name: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/upload/{name}"

    def queue(self, *bodies: str) -> None:
        self.pending.extend(bodies)

    async def wait_sessions(self, count: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while sum(1 for s in self.sessions if s.ended) < count:
                self.session_event.clear()
                await self.session_event.wait()

    # -- HTTP ----------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn_id = next(self._conns)
        if self.ssl_context is not None:
            cert = writer.get_extra_info("peercert")
            subject = dict(x[0] for x in cert["subject"]) if cert else {}
            self.client_cns.append(subject.get("commonName"))
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = []
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers.append((name.strip(), value.strip()))
                req = RawRequest(method, target, headers, b"", b"", conn_id)
                length = int(req.header("Content-Length") or 0)
                try:
                    raw = await reader.readexactly(length) if length else b""
                except asyncio.IncompleteReadError:
                    return
                req.raw_body = raw
                req.body = (
                    gzip.decompress(raw)
                    if (req.header("Content-Encoding") or "").lower() == "gzip"
                    else raw
                )
                self.requests.append(req)
                status, out_headers, body, close = self._handle(req)
                self._write(writer, req, status, out_headers, body, close)
                await writer.drain()
                if close:
                    return
        except (asyncio.CancelledError, ConnectionError):
            return  # test over, or the CPE dropped the link on purpose
        finally:
            writer.close()

    def _write(self, writer, req, status, headers, body: bytes, close: bool) -> None:
        reasons = {
            200: "OK",
            204: "No Content",
            401: "Unauthorized",
            404: "Not Found",
            503: "Service Unavailable",
        }
        headers = list(headers)
        if body and self.gzip_responses and "gzip" in (req.header("Accept-Encoding") or ""):
            body = gzip.compress(body)
            headers.append(("Content-Encoding", "gzip"))
        if close:
            headers.append(("Connection", "close"))
        if self.chunked and body:
            headers.append(("Transfer-Encoding", "chunked"))
            mid = len(body) // 2
            payload = b"".join(
                f"{len(part):x}\r\n".encode() + part + b"\r\n"
                for part in (body[:mid], body[mid:])
                if part
            )
            payload += b"0\r\n\r\n"
        else:
            if status != 204:
                headers.append(("Content-Length", str(len(body))))
            payload = body
        head = f"HTTP/1.1 {status} {reasons.get(status, 'X')}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers
        )
        writer.write(head.encode("latin-1") + b"\r\n" + payload)

    # -- auth --------------------------------------------------------------------------

    def _challenge(self, scheme: str | None = None) -> list[tuple[str, str]]:
        if (scheme or self.auth) == "basic":
            return [("WWW-Authenticate", 'Basic realm="acs"')]
        nonce = base64.b64encode(os.urandom(12)).decode()
        self.nonces[nonce] = []
        return [
            (
                "WWW-Authenticate",
                f'Digest realm="acs", qop="auth", nonce="{nonce}", algorithm={self.algorithm}, opaque="op42"',
            )
        ]

    def _authorized(self, req: RawRequest, users: tuple[str, str] | None = None) -> bool:
        username, password = users or (self.username, self.password)
        value = req.header("Authorization") or ""
        scheme = self.auth if users is None else "digest"
        if scheme == "basic":
            expected = base64.b64encode(f"{username}:{password}".encode()).decode()
            return value == f"Basic {expected}"
        if not value.startswith("Digest "):
            return False
        params = {
            m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
            for m in _PARAM_RE.finditer(value[7:])
        }
        nonce = params.get("nonce", "")
        if nonce not in self.nonces or params.get("username") != username:
            return False
        algo = params.get("algorithm", "MD5").upper()
        h = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}[algo]

        def hx(s: str) -> str:
            return h(s.encode()).hexdigest()

        ha1 = hx(f"{username}:acs:{password}")
        ha2 = hx(f"{req.method}:{params.get('uri', '')}")
        expected = hx(
            f"{ha1}:{nonce}:{params.get('nc')}:{params.get('cnonce')}:{params.get('qop')}:{ha2}"
        )
        self.nonces[nonce].append(params.get("nc", ""))
        return expected == params.get("response") and params.get("opaque") == "op42"

    # -- CWMP ------------------------------------------------------------------------------

    def _envelope(self, body: str, msg_id: str | None) -> bytes:
        header = (
            f'<soap:Header><cwmp:ID soap:mustUnderstand="1">{msg_id}</cwmp:ID></soap:Header>'
            if msg_id
            else ""
        )
        return (
            f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" '
            f'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xmlns:cwmp="{self.ns}">{header}<soap:Body>{body}</soap:Body></soap:Envelope>'
        ).encode()

    def _next_rpc(self):
        if self.pending:
            body = self.pending.pop(0)
            return (
                200,
                [("Content-Type", "text/xml")],
                self._envelope(body, f"acs-{next(self._ids)}"),
                False,
            )
        if self.sessions:
            self.sessions[-1].ended = True
            self.session_event.set()
        if self.end_with_200:
            return 200, [], b"", False
        return 204, [], b"", False

    def _handle(self, req: RawRequest):
        if req.target.startswith("/files/"):
            if self.file_auth and not self._authorized(req, self.file_auth):
                return 401, self._challenge("digest"), b"", False
            data = self.files.get(req.target[len("/files/") :])
            return (200, [], data, False) if data is not None else (404, [], b"", False)
        if req.target.startswith("/upload/"):
            self.uploads[req.target[len("/upload/") :]] = req.body
            return 200, [], b"", False
        if self.auth and not self._authorized(req):
            self.auth_failures += 1
            return 401, self._challenge(), b"", False
        body = req.body
        envelope = etree.fromstring(body) if body.strip() else None
        rpc = find(envelope, "Body")
        element = rpc[0] if rpc is not None and len(rpc) else None
        req.rpc = localname(element.tag) if element is not None else ""
        if self.sessions and not self.sessions[-1].ended:
            self.sessions[-1].requests.append(req)
        if req.rpc == "Inform":
            session = Session(element, envelope)
            session.requests.append(req)
            self.sessions.append(session)
            if self.inform_status:
                session.ended = True
                self.session_event.set()
                extra = [("Retry-After", self.retry_after)] if self.retry_after else []
                return self.inform_status, extra, b"", False
            msg_id = text_of(envelope, "Header", "ID") or None
            n = len(self.sessions)
            cookies = [("Set-Cookie", c.format(n=n)) for c in self.set_cookies]
            body = self._envelope(
                "<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>", msg_id
            )
            return 200, [("Content-Type", "text/xml"), *cookies], body, self.close_after_inform
        if req.rpc in (
            "TransferComplete",
            "DUStateChangeComplete",
            "AutonomousTransferComplete",
            "GetRPCMethods",
        ):
            self.sessions[-1].cpe_requests.append((req.rpc, element))
            msg_id = text_of(envelope, "Header", "ID") or None
            return 200, [], self._envelope(f"<cwmp:{req.rpc}Response/>", msg_id), False
        if element is not None:
            self.sessions[-1].responses.append((req.rpc, element))
        return self._next_rpc()
