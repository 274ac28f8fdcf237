"""Connection requests: asking a CPE to open a CWMP session now.

Two transports:

* **HTTP** (TR-069 3.2.2), here: a GET to the ConnectionRequestURL the CPE
  reported, authenticated with the ConnectionRequestUsername/Password,
  Digest (TR-069 3.2.2 requires the CPE to support it) or, on an
  ``https://`` URL only, Basic when the CPE's challenge asks for Basic. 200 or 204 means the CPE accepted and will
  Inform with ``6 CONNECTION REQUEST``.
* **UDP** (TR-069 Annex G, TR-111 Part 2), in ``cwmp.wakeup.udp``: for a CPE
  behind a NAT, a signed HTTP-like datagram sent to the
  UDPConnectionRequestAddress (the NAT binding the CPE learned, and our STUN
  server saw, with STUN).

This module also holds what both share: the result type and the
destination policy.

Both addresses come from the CPE, so they are untrusted: the destination
must resolve only to addresses inside the tenant's allow-list
(``Tenant.connection_request_networks``); loopback, link-local, unspecified,
multicast, reserved and cloud-metadata addresses, in their IPv4-mapped and
NAT64 spellings too, additionally need an allow-list entry *inside* their
own block (``127.0.0.0/8`` permits loopback, ``0.0.0.0/0`` does not), which
only the platform superuser can add (``tenants.networks``); an empty
allow-list refuses everything. The HTTP
client connects to the very address it checked (sending the original Host
header and TLS SNI), so a DNS answer that changes between check and connect
(DNS rebinding) cannot redirect it; redirects are never followed, proxies
from the environment are ignored, time is bounded end to end and the
response body is capped.

This module and ``cwmp.wakeup.udp`` only send; rate limits, fallbacks and
queueing live in ``cwmp.wakeup.jobs``. Nothing here may run inside a web
request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator, Coroutine, Generator, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from tenants.networks import guarded_block, policy_address, policy_network

if TYPE_CHECKING:
    from devices.models import Device
    from tenants.models import Tenant

log = logging.getLogger("acsportal.cwmp.connreq")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_T = TypeVar("_T")

# A CPE answers a connection request with an empty body; anything bigger
# than this is not a CPE and is not read further.
MAX_RESPONSE_BYTES = 64 * 1024
# TR-069 3.2.2: "successful" is 200 or 204; 401 is the challenge.
_SUCCESS = frozenset({200, 204})


@dataclass(slots=True)
class ConnectionRequestResult:
    """What one connection-request attempt did, for logs and the job's return value.

    ``ok`` means the CPE accepted (HTTP 200/204) or, for UDP, that the
    datagrams left this host: Annex G has no acknowledgement, the proof is the
    CPE's Inform with ``6 CONNECTION REQUEST``. ``refused`` means the request
    was refused here, before any packet was sent (bad URL, allow-list).
    """

    ok: bool
    status_code: int | None = None
    error: str = ""
    elapsed: float = 0.0
    transport: str = "http"
    address: str = ""
    refused: bool = False

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["elapsed"] = round(self.elapsed, 3)
        return data


class DestinationRefused(ValueError):
    """The CPE-reported destination may not be contacted (never a network error)."""


# --- Destination policy -------------------------------------------------------


def tenant_allowlist(tenant: Tenant) -> list[Network]:
    """The tenant's allow-list; an unparsable one refuses everything (and says so)."""
    try:
        return tenant.connection_request_allowlist()
    except ValueError:
        log.error("tenant %s: connection_request_networks is invalid; refusing all", tenant.slug)
        return []


def check_address(address: Address, allowlist: Sequence[Network]) -> str | None:
    """Why ``address`` may not receive a connection request, or None when it may.

    The address must lie in an allow-list network. A guarded address
    (loopback, link-local, metadata, …: ``tenants.networks``) also needs an
    entry that lies inside its guarded block, so ``0.0.0.0/0`` never opens
    ``127.0.0.1`` or ``169.254.169.254`` but ``127.0.0.0/8`` opens loopback
    for tests and labs. IPv4-mapped and NAT64 addresses, and entries, are
    judged as the IPv4 address they embed: ``64:ff9b::a9fe:a9fe`` is the
    metadata address, whatever IPv6 entry the list has.
    """
    shown = address
    address = policy_address(address)
    if not allowlist:
        return "the tenant's connection-request allow-list is empty"
    networks = [policy_network(n) for n in allowlist]
    containing = [n for n in networks if n.version == address.version and address in n]
    if not containing:
        return f"{shown} is outside the tenant's connection-request allow-list"
    guarded = guarded_block(address)
    if guarded is not None:
        label, block = guarded
        if any(n.subnet_of(block) for n in containing):  # type: ignore[arg-type]
            return None
        return f"{shown} is a {label} address and not explicitly allowed"
    return None


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve(host: str, port: int, socktype: int) -> list[Address]:
    """Every address ``host`` resolves to, in resolver order, without duplicates."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    infos = socket.getaddrinfo(host, port, type=socktype)
    return _addresses(infos)


async def aresolve(host: str, port: int, socktype: int) -> list[Address]:
    literal = _literal(host)
    if literal is not None:
        return [literal]
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socktype)
    return _addresses(infos)


def _addresses(infos: Sequence[tuple[Any, ...]]) -> list[Address]:
    seen: list[Address] = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address not in seen:
            seen.append(address)
    return seen


def checked_addresses(addresses: Sequence[Address], allowlist: Sequence[Network]) -> list[Address]:
    """``addresses`` when every one is allowed; raises DestinationRefused otherwise.

    All of them, not just the first: a name that resolves to one allowed and
    one forbidden address is refused, whichever the resolver lists first.
    """
    if not addresses:
        raise DestinationRefused("the host resolves to no address")
    for address in addresses:
        reason = check_address(address, allowlist)
        if reason:
            raise DestinationRefused(reason)
    return list(addresses)


# --- HTTP (TR-069 3.2.2) ------------------------------------------------------


@dataclass(slots=True, frozen=True)
class HttpTarget:
    scheme: str
    host: str
    port: int
    path: str
    authority: str


def parse_connection_request_url(url: str) -> HttpTarget:
    """Split a ConnectionRequestURL; raises DestinationRefused for anything but plain http(s).

    Credentials in the URL (``http://user:pw@host/``) are refused: the CPE
    has its own ConnectionRequestUsername/Password, and userinfo is a
    classic way of disguising the real host.
    """
    url = url.strip()
    if not url:
        raise DestinationRefused("no ConnectionRequestURL")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise DestinationRefused("the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise DestinationRefused(f"unparsable URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise DestinationRefused(f"scheme {parts.scheme or '(none)'!r} is not http or https")
    if "@" in parts.netloc:
        raise DestinationRefused("credentials in the URL are not accepted")
    host = parts.hostname or ""
    if not host:
        raise DestinationRefused("the URL has no host")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return HttpTarget(
        scheme=scheme,
        host=host,
        port=port or (443 if scheme == "https" else 80),
        path=path,
        authority=parts.netloc,
    )


class _ChallengeAuth(httpx.Auth):
    """Answer the CPE's 401 with the scheme it asks for: Digest first, else Basic over TLS.

    Nothing is sent before the challenge, so a CPE that does not ask gets no
    credentials, and a Digest CPE never sees the password in clear. Basic
    is answered only on an ``https://`` ConnectionRequestURL: over plain
    HTTP it would hand the password to anyone on the path, or to whoever
    answers at the address the CPE reported, so the 401 stands
    (``basic_refused`` says why).
    """

    def __init__(self, username: str, password: str) -> None:
        self._username = username
        self._password = password
        self.basic_refused = False

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        response = yield request
        if response.status_code != 401:
            return
        schemes = {
            value.strip().split(None, 1)[0].lower()
            for value in response.headers.get_list("www-authenticate")
            if value.strip()
        }
        if "digest" in schemes:
            flow = httpx.DigestAuth(self._username, self._password).auth_flow(request)
            next(flow)  # the unauthenticated request, already sent above
            try:
                retry = flow.send(response)
            except StopIteration:
                return
            yield retry
        elif "basic" in schemes:
            if request.url.scheme != "https":
                self.basic_refused = True
                return
            yield next(httpx.BasicAuth(self._username, self._password).auth_flow(request))


class _CappedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self._inner:
            seen += len(chunk)
            if seen > self._limit:
                raise httpx.ReadError(f"response body larger than {self._limit} bytes")
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class _CappedTransport(httpx.AsyncBaseTransport):
    """Reads at most ``limit`` body bytes: the 401 bodies httpx reads itself included."""

    def __init__(self, inner: httpx.AsyncBaseTransport, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_CappedStream(response.stream, self._limit),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def _url_host(address: Address) -> str:
    if address.version == 6:
        text = str(address).replace("%", "%25")  # RFC 6874 zone id
        return f"[{text}]"
    return str(address)


@functools.cache
def _ssl_context(verify: bool) -> ssl.SSLContext:
    """One TLS context per process and mode, shared by every request.

    httpx builds a new one, loading the CA bundle, for each transport made
    with ``verify=True``: 47 ms of CPU, more than everything else a
    connection request costs, and spent on the job's event loop, where 50 of
    them at once made other requests miss their time-out. A context is safe
    to share between threads and connections.
    """
    return httpx.create_ssl_context(verify=verify)


async def _get(
    target: HttpTarget,
    address: Address,
    *,
    auth: _ChallengeAuth,
    timeout: float,
    verify: bool,
) -> httpx.Response:
    """GET the target from ``address`` itself (pinned), with the original Host and SNI."""
    extensions: dict[str, Any] = {}
    if target.scheme == "https" and _literal(target.host) is None:
        extensions["sni_hostname"] = target.host  # and the certificate is checked for it
    transport = _CappedTransport(
        httpx.AsyncHTTPTransport(verify=_ssl_context(verify), retries=0), MAX_RESPONSE_BYTES
    )
    async with httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,  # an HTTP(S)_PROXY would bypass the pinned address
    ) as client:
        request = client.build_request(
            "GET",
            f"{target.scheme}://{_url_host(address)}:{target.port}{target.path}",
            headers={"Host": target.authority, "User-Agent": "acsportal"},
            extensions=extensions,
        )
        return await client.send(request, auth=auth)


async def http_connection_request(
    url: str,
    *,
    username: str,
    password: str,
    allowlist: Sequence[Network],
    timeout: float,
    verify: bool = True,
) -> ConnectionRequestResult:
    """Send one HTTP connection request (TR-069 3.2.2); never raises for CPE or network failures.

    ``timeout`` bounds the whole attempt: resolution, every address tried,
    the 401 round trip and the body. A 3xx is a failure (a CPE never
    redirects; following one would let the CPE pick our destination).
    """
    started = time.monotonic()

    def result(**fields: Any) -> ConnectionRequestResult:
        fields.setdefault("ok", False)
        return ConnectionRequestResult(elapsed=time.monotonic() - started, **fields)

    try:
        target = parse_connection_request_url(url)
        async with asyncio.timeout(timeout):
            try:
                resolved = await aresolve(target.host, target.port, socket.SOCK_STREAM)
            except OSError as exc:
                return result(error=f"cannot resolve {target.host}: {exc}")
            addresses = checked_addresses(resolved, allowlist)
            error = ""
            for address in addresses:
                auth = _ChallengeAuth(username, password)
                try:
                    response = await _get(
                        target, address, auth=auth, timeout=timeout, verify=verify
                    )
                except httpx.ConnectError as exc:
                    error = f"cannot connect to {address}: {exc or type(exc).__name__}"
                    continue  # the next address of the name, all of them checked
                ok = response.status_code in _SUCCESS
                error = "" if ok else f"HTTP {response.status_code} {response.reason_phrase}"
                if auth.basic_refused:
                    error += " (the CPE asks for Basic, which is never sent over plain HTTP)"
                return result(
                    ok=ok, status_code=response.status_code, address=str(address), error=error
                )
            return result(error=error)
    except DestinationRefused as exc:
        return result(error=str(exc), refused=True)
    except (TimeoutError, httpx.TimeoutException):
        return result(error=f"no answer within {timeout:g} s")
    except httpx.HTTPError as exc:
        return result(error=f"{type(exc).__name__}: {exc}")
    except httpx.InvalidURL as exc:
        return result(error=f"invalid URL: {exc}", refused=True)
    except (NotImplementedError, KeyError, ValueError) as exc:
        # httpx's Digest refuses qop=auth-int only and unknown algorithms.
        return result(error=f"unsupported authentication challenge: {exc}")


def _redacted(url: str) -> str:
    """The URL for logs: userinfo (refused anyway) may hold a password."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    if sep and "@" in netloc:
        return f"{scheme}://***@{netloc.rpartition('@')[2]}{slash}{path}"
    return url


def run_sync(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine from sync code, even from a thread that already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def device_http_connection_request(
    device: Device, *, timeout: float | None = None, log_level: int = logging.INFO
) -> ConnectionRequestResult:
    """HTTP connection request to ``device`` (TR-069 3.2.2), within the tenant's allow-list.

    The coroutine a batch of connection requests runs many of at once on
    one event loop; ``send_http_connection_request`` runs one. The password
    is never logged.
    """
    tenant = device.tenant
    bound = float(timeout if timeout is not None else settings.CWMP_CONNREQ_TIMEOUT)
    username, password = device.connection_request_credentials()
    outcome = await http_connection_request(
        device.connection_request_url,
        username=username,
        password=password,
        allowlist=tenant_allowlist(tenant),
        timeout=bound,
        verify=bool(settings.CWMP_CONNREQ_TLS_VERIFY),
    )
    log.log(
        log_level,
        "connreq %s: %s HTTP %s -> %s in %.2fs%s",
        tenant.slug,
        device.device_id,
        _redacted(device.connection_request_url),
        outcome.status_code or "-",
        outcome.elapsed,
        f" ({outcome.error})" if outcome.error else "",
    )
    return outcome


def send_http_connection_request(
    device: Device, *, timeout: float | None = None
) -> ConnectionRequestResult:
    """HTTP connection request to ``device`` (TR-069 3.2.2), within the tenant's allow-list.

    Blocking, for job workers: never call it from a web request.
    """
    return run_sync(device_http_connection_request(device, timeout=timeout))
