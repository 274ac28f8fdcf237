"""A small HTTP/1.1 client on asyncio streams, shaped like a CPE's.

CPEs keep one TCP connection for a whole CWMP session, send Content-Length
bodies, and must cope with chunked or gzip responses and servers that close
idle connections. An HTTP library would hide exactly the wire details the
quirks need to control, and costs more per session than 10,000 devices can
afford, so this module is written on asyncio streams directly.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import ipaddress
import socket
import ssl as ssl_module
import zlib
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_BODY = 64 * 1024 * 1024


class HttpError(Exception):
    """The peer broke HTTP (bad status line, truncated body, closed connection)."""


@dataclass(frozen=True, slots=True)
class Url:
    """A parsed http(s) URL; parsed once per device, not per request."""

    scheme: str
    host: str
    port: int
    target: str

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    @classmethod
    def parse(cls, url: str) -> Url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        return cls(parts.scheme, parts.hostname, port, target)


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: the only hosts the simulator fetches files from."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def resolve(host: str, family: int = socket.AF_UNSPEC, timeout: float = 5.0) -> str | None:
    """The address to test: numeric addresses as they are, names through getaddrinfo.

    Offline, only `localhost` (and whatever /etc/hosts lists) resolves.
    Returns None when the name does not resolve.
    """
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        return None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(host, None, family=family, type=socket.SOCK_DGRAM)
    except (OSError, TimeoutError, UnicodeError):
        return None
    addresses = [str(info[4][0]) for info in infos]
    if family == socket.AF_UNSPEC:
        addresses.sort(key=lambda a: ":" in a)  # IPv4 first, like most CPE firmware
    return addresses[0] if addresses else None


class HttpResponse:
    """Status, headers (lower-case names, in order) and the decoded body."""

    __slots__ = ("body", "headers", "reason", "status")

    def __init__(
        self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]

    def __repr__(self) -> str:
        return f"<HttpResponse {self.status} {len(self.body)} bytes>"


@functools.cache
def default_ssl_context() -> ssl_module.SSLContext:
    """Created once: building an SSL context per session would cost more than the session."""
    return ssl_module.create_default_context()


async def open_connection(
    host: str, port: int, ssl_context: ssl_module.SSLContext | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """The one place where the simulator opens TCP connections.

    HTTPS and mutual TLS come in here: pass a (shared, created once) SSL
    context; nothing else changes.
    """
    return await asyncio.open_connection(
        host, port, ssl=ssl_context, server_hostname=host if ssl_context else None
    )


class HttpConnection:
    """One keep-alive connection to one server; reconnects when the server closed it."""

    __slots__ = ("connects", "reader", "reused", "ssl_context", "timeout", "url", "writer")

    def __init__(
        self, url: Url, *, ssl_context: ssl_module.SSLContext | None = None, timeout: float = 30.0
    ) -> None:
        self.url = url
        if url.scheme == "https" and ssl_context is None:
            ssl_context = default_ssl_context()
        self.ssl_context = ssl_context if url.scheme == "https" else None
        self.timeout = timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.reused = False
        self.connects = 0

    async def _connect(self) -> None:
        self.reader, self.writer = await open_connection(
            self.url.host, self.url.port, self.ssl_context
        )
        self.reused = False
        self.connects += 1

    def _build(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> bytes:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.url.host_header}"]
        lines.extend(f"{k}: {v}" if v else f"{k}:" for k, v in headers)
        lines.append(f"Content-Length: {len(body)}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("latin-1") + body

    async def send_only(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        """Write a request and drop the connection without reading the answer (a CPE losing its link)."""
        async with asyncio.timeout(self.timeout):
            if self.writer is None:
                await self._connect()
            assert self.writer is not None
            self.writer.write(self._build(method, target, headers, body))
            await self.writer.drain()
        self.abort()

    async def request(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes = b""
    ) -> HttpResponse:
        """Send one request and read its response, reconnecting once if a reused connection was closed."""
        data = self._build(method, target, headers, body)
        async with asyncio.timeout(self.timeout):
            for attempt in (1, 2):
                if self.writer is None or self.writer.is_closing():
                    await self._connect()
                assert self.reader is not None and self.writer is not None
                retryable = self.reused and attempt == 1
                try:
                    self.writer.write(data)
                    await self.writer.drain()
                    response = await self._read_response(method)
                except (ConnectionError, asyncio.IncompleteReadError, HttpError) as exc:
                    self.abort()
                    if retryable and _is_closed_early(exc):
                        continue  # the server closed the idle keep-alive connection: reconnect
                    if self.ssl_context is not None and not retryable and _is_closed_early(exc):
                        # TLS 1.3 servers reject a client certificate after the handshake:
                        # the client only sees the connection close.
                        raise HttpError(
                            f"{type(exc).__name__}: the server closed the new TLS connection "
                            "without answering (client certificate missing or refused?)"
                        ) from exc
                    raise HttpError(f"{type(exc).__name__}: {exc}") from exc
                self.reused = True
                return response
        raise HttpError("unreachable")  # pragma: no cover

    async def _read_response(self, method: str) -> HttpResponse:
        reader = self.reader
        assert reader is not None
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
                raise HttpError(f"bad status line {lines[0]!r}")
            status = int(parts[1])
            reason = parts[2] if len(parts) > 2 else ""
            headers: list[tuple[str, str]] = []
            for line in lines[1:]:
                if not line:
                    continue
                name, _, value = line.partition(":")
                headers.append((name.strip().lower(), value.strip()))
            if 100 <= status < 200:
                continue  # 100 Continue and friends precede the real answer
            break
        response = HttpResponse(status, reason, headers, b"")
        connection = (response.header("connection") or "").lower()
        must_close = "close" in connection or (
            parts[0] == "HTTP/1.0" and "keep-alive" not in connection
        )
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif "chunked" in (response.header("transfer-encoding") or "").lower():
            body = await self._read_chunked(reader)
        elif response.header("content-length") is not None:
            try:
                length = int(response.header("content-length") or "0")
            except ValueError as exc:
                raise HttpError("bad Content-Length") from exc
            if length > MAX_BODY:
                raise HttpError(f"body of {length} bytes is too large")
            body = await reader.readexactly(length)
        else:
            body = await reader.read(MAX_BODY)
            must_close = True
        encoding = (response.header("content-encoding") or "").lower()
        if body and encoding == "gzip":
            body = gzip.decompress(body)
        elif body and encoding == "deflate":
            body = zlib.decompress(body)
        response.body = body
        if must_close:
            self.abort()
        return response

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > MAX_BODY:
                raise HttpError("chunked body too large")
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)

    def abort(self) -> None:
        """Drop the connection now (no graceful close): what a CPE losing its link does."""
        if self.writer is not None:
            transport = self.writer.transport
            transport.abort()
        self.reader = self.writer = None
        self.reused = False

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None
        self.reused = False


def _is_closed_early(exc: BaseException) -> bool:
    if isinstance(exc, asyncio.IncompleteReadError):
        return not exc.partial
    return isinstance(exc, ConnectionError)


class CookieJar:
    """The cookies of a CWMP session: what the ACS set, sent back as a real CPE would (or not)."""

    __slots__ = ("cookies",)

    def __init__(self) -> None:
        #: name -> (value, the whole Set-Cookie text)
        self.cookies: dict[str, tuple[str, str]] = {}

    def update(self, set_cookie_headers: list[str]) -> None:
        for raw in set_cookie_headers:
            pair, _, attrs = raw.partition(";")
            name, sep, value = pair.partition("=")
            name = name.strip()
            if not sep or not name:
                continue
            expired = False
            for attr in attrs.split(";"):
                key, _, val = attr.strip().partition("=")
                if key.lower() == "max-age":
                    try:
                        expired = int(val) <= 0
                    except ValueError:
                        pass
            if expired:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = (value.strip(), raw.strip())

    def header(self, *, with_attrs: bool = False, comma: bool = False) -> str | None:
        """The Cookie header value, or None without cookies."""
        if not self.cookies:
            return None
        if with_attrs:
            items = [raw for _value, raw in self.cookies.values()]
        else:
            items = [f"{name}={value}" for name, (value, _raw) in self.cookies.items()]
        return (", " if comma else "; ").join(items)

    def as_dict(self) -> dict[str, str]:
        return {name: value for name, (value, _raw) in self.cookies.items()}
