"""The ACS's STUN server (TR-111 Part 2, RFC 5389 with RFC 3489 compatibility).

A CPE behind a NAT cannot receive an HTTP connection request. With STUN
enabled (``ManagementServer.STUNEnable``) it sends Binding Requests to this
server from its UDP connection-request port, keeping a NAT binding open; the
source address we see is the public side of that binding, where a UDP
connection request (TR-069 Annex G) reaches the CPE.

* RFC 5389 requests (magic cookie 0x2112A442) get XOR-MAPPED-ADDRESS and
  MAPPED-ADDRESS; classic RFC 3489 requests (a 16-byte transaction id, no
  cookie) get MAPPED-ADDRESS only (RFC 5389 section 12.2), so old CPE STUN
  clients understand the answer.
* TR-111 attributes: CONNECTION-REQUEST-BINDING (0xC001, value
  ``"dslforum.org/TR-111 "``) marks requests from the binding the CPE listens
  on; BINDING-CHANGE (0xC002) says the binding changed; USERNAME carries the
  CPE's ``STUNUsername``, which this ACS expects to be the CPE identity
  ``OUI-ProductClass-SerialNumber`` (our device id, raw or escaped) or
  ``OUI-SerialNumber``. A request with CONNECTION-REQUEST-BINDING and a
  USERNAME that names exactly one device records its source as that
  device's ``udp_connection_request_address``; unknown usernames are
  answered but not recorded.
* MESSAGE-INTEGRITY (HMAC-SHA1 keyed with the STUNPassword, RFC 5389 15.4 or
  the RFC 3489 11.2.8 padded form) is verified when the ACS knows the
  device's STUNPassword; a wrong one gets a 401 error response and records
  nothing. Without a known password the request is accepted (and logged).
* Not supported, on purpose: CHANGE-REQUEST with flags set (one address and
  port only; such requests get no answer) and RESPONSE-ADDRESS (answers go
  to the request's source, never to a third party: no reflection).
* Malformed datagrams are dropped without an answer and never stop the server.

``handle_datagram`` is the pure core; ``StunServerProtocol`` the asyncio
shell (database work runs in a thread pool, never in the event loop); the
Django part maps usernames to devices. The same socket relays UDP
connection requests for ``cwmp.wakeup.connreq`` (``relay_send``): TR-111 requires
them to come from the STUN server's own address and port, which is what a
port-restricted NAT lets back in.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

log = logging.getLogger("acsportal.cwmp.stun")

MAGIC_COOKIE = 0x2112A442
_COOKIE = struct.pack("!I", MAGIC_COOKIE)

BINDING_REQUEST = 0x0001
BINDING_SUCCESS = 0x0101
BINDING_ERROR = 0x0111

MAPPED_ADDRESS = 0x0001
CHANGE_REQUEST = 0x0003
USERNAME = 0x0006
MESSAGE_INTEGRITY = 0x0008
ERROR_CODE = 0x0009
XOR_MAPPED_ADDRESS = 0x0020
SOFTWARE = 0x8022
CONNECTION_REQUEST_BINDING = 0xC001  # TR-111 Part 2
BINDING_CHANGE = 0xC002  # TR-111 Part 2
TR111_BINDING_VALUE = b"dslforum.org/TR-111 "

_MAX_DATAGRAM = 2048
_MAX_ATTRIBUTES = 64


@dataclass(slots=True, frozen=True)
class StunMessage:
    type: int
    transaction_id: bytes  # 12 bytes (RFC 5389) or 16 (RFC 3489)
    classic: bool
    # (type, value, offset of the attribute header in the datagram)
    attributes: tuple[tuple[int, bytes, int], ...]

    def first(self, attr_type: int) -> tuple[bytes, int] | None:
        for t, value, offset in self.attributes:
            if t == attr_type:
                return value, offset
        return None


@dataclass(slots=True, frozen=True)
class BindingEvent:
    """A CPE told us where it listens for UDP connection requests (TR-111 2.2.1)."""

    username: str
    host: str
    port: int
    binding_change: bool = False
    authenticated: bool = False
    classic: bool = False

    @property
    def address(self) -> str:
        """``host:port`` as UDPConnectionRequestAddress spells it (IPv6 in brackets)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _parse_attributes(data: bytes, padded: bool) -> tuple[tuple[int, bytes, int], ...] | None:
    attributes: list[tuple[int, bytes, int]] = []
    pos, end = 20, len(data)
    while pos < end:
        if pos + 4 > end or len(attributes) >= _MAX_ATTRIBUTES:
            return None
        attr_type, length = struct.unpack_from("!HH", data, pos)
        if pos + 4 + length > end:
            return None
        attributes.append((attr_type, data[pos + 4 : pos + 4 + length], pos))
        pos += 4 + length
        if padded:
            pos = min(pos + (-length % 4), end)  # the last attribute may lack its padding
    return tuple(attributes)


def parse_message(data: bytes) -> StunMessage | None:
    """Parse a STUN message (RFC 5389 section 6 / RFC 3489 section 11.1); None if malformed.

    Attributes are read on 32-bit boundaries; a message that only parses
    without padding (some RFC 3489-era clients) is accepted too.
    """
    if not 20 <= len(data) <= _MAX_DATAGRAM:
        return None
    msg_type, length = struct.unpack_from("!HH", data, 0)
    if msg_type & 0xC000 or length != len(data) - 20:
        return None
    classic = data[4:8] != _COOKIE
    if not classic and length % 4:
        return None
    attributes = _parse_attributes(data, padded=True)
    if attributes is None:
        attributes = _parse_attributes(data, padded=False)
        if attributes is None:
            return None
    transaction_id = data[4:20] if classic else data[8:20]
    return StunMessage(msg_type, transaction_id, classic, attributes)


def _attribute(attr_type: int, value: bytes) -> bytes:
    return struct.pack("!HH", attr_type, len(value)) + value + b"\x00" * (-len(value) % 4)


def _address_value(host: str, port: int, xor_key: bytes | None = None) -> bytes:
    """MAPPED-ADDRESS (RFC 5389 15.1) or, with ``xor_key``, XOR-MAPPED-ADDRESS (15.2)."""
    address = ipaddress.ip_address(host)
    raw = address.packed
    if xor_key is not None:
        port ^= MAGIC_COOKIE >> 16
        raw = bytes(a ^ b for a, b in zip(raw, xor_key, strict=False))
    return struct.pack("!BBH", 0, 1 if address.version == 4 else 2, port) + raw


def _header(msg_type: int, body_length: int, message: StunMessage) -> bytes:
    tid = message.transaction_id if message.classic else _COOKIE + message.transaction_id
    return struct.pack("!HH", msg_type, body_length) + tid


def _integrity(key: bytes, header: bytes, body: bytes, classic: bool) -> bytes:
    """MESSAGE-INTEGRITY over header+body, the header's length already covering it."""
    text = header + body
    if classic:
        text += b"\x00" * (-len(text) % 64)  # RFC 3489 11.2.8
    return hmac.new(key, text, hashlib.sha1).digest()


def _integrity_ok(data: bytes, value: bytes, offset: int, key: bytes) -> bool:
    """Check a request's MESSAGE-INTEGRITY in the RFC 5389 and RFC 3489 forms."""
    if len(value) != 20:
        return False
    adjusted = data[:2] + struct.pack("!H", offset + 24 - 20) + data[4:offset]
    candidates = (
        hmac.new(key, adjusted, hashlib.sha1).digest(),  # RFC 5389 15.4
        hmac.new(key, data[:offset] + b"\x00" * (-offset % 64), hashlib.sha1).digest(),
        hmac.new(key, data[:offset], hashlib.sha1).digest(),  # unpadded 3489 clients
    )
    return any(hmac.compare_digest(value, c) for c in candidates)


def _build(
    msg_type: int, message: StunMessage, attributes: list[bytes], key: bytes | None
) -> bytes:
    body = b"".join(attributes)
    if key is None:
        return _header(msg_type, len(body), message) + body
    header = _header(msg_type, len(body) + 24, message)
    mac = _integrity(key, header, body, message.classic)
    return header + body + _attribute(MESSAGE_INTEGRITY, mac)


def _error(message: StunMessage, code: int, reason: str) -> bytes:
    value = struct.pack("!HBB", 0, code // 100, code % 100) + reason.encode()
    return _build(BINDING_ERROR, message, [_attribute(ERROR_CODE, value)], None)


def _source_host(host: str) -> str:
    address = ipaddress.ip_address(host.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def handle_datagram(
    data: bytes,
    source: tuple[str, int],
    *,
    password_for: Callable[[str], str | None] | None = None,
) -> tuple[bytes | None, BindingEvent | None]:
    """Answer one datagram: (reply or None, binding event or None). Pure, never raises.

    The event is returned only for a Binding Request carrying
    CONNECTION-REQUEST-BINDING and a USERNAME (TR-111 Part 2): the source is
    then the NAT binding the CPE listens on. ``password_for(username)``
    returns the CPE's STUNPassword when known, to check MESSAGE-INTEGRITY.
    """
    try:
        return _handle(data, source, password_for)
    except Exception:  # a bug must not become a dead STUN server
        log.exception("stun: cannot handle a datagram from %s", source[0])
        return None, None


def _handle(
    data: bytes, source: tuple[str, int], password_for: Callable[[str], str | None] | None
) -> tuple[bytes | None, BindingEvent | None]:
    message = parse_message(data)
    if message is None or message.type != BINDING_REQUEST:
        return None, None
    change = message.first(CHANGE_REQUEST)
    if change is not None and len(change[0]) == 4 and struct.unpack("!I", change[0])[0] & 0x06:
        # RFC 3489 NAT-type tests need a second address; no answer is the
        # honest one (the client concludes the most restrictive case).
        return None, None
    host, port = _source_host(source[0]), int(source[1])
    raw_username = message.first(USERNAME)
    username = raw_username[0].rstrip(b"\x00 ").decode("utf-8", "replace") if raw_username else ""
    crb = message.first(CONNECTION_REQUEST_BINDING)
    wants_binding = crb is not None and crb[0].rstrip(b"\x00 ") == TR111_BINDING_VALUE.rstrip()

    key: bytes | None = None
    integrity = message.first(MESSAGE_INTEGRITY)
    if integrity is not None and username and password_for is not None:
        password = password_for(username)
        if password:
            key = password.encode()
            if not _integrity_ok(data, integrity[0], integrity[1], key):
                log.warning("stun: bad MESSAGE-INTEGRITY for %r from %s", username, host)
                return _error(message, 401, "Unauthorized"), None
    elif integrity is not None:
        log.debug("stun: MESSAGE-INTEGRITY from %r not checked (no known password)", username)

    attributes = [_attribute(MAPPED_ADDRESS, _address_value(host, port))]
    if not message.classic:
        xor_key = _COOKIE + message.transaction_id
        attributes.insert(0, _attribute(XOR_MAPPED_ADDRESS, _address_value(host, port, xor_key)))
    reply = _build(BINDING_SUCCESS, message, attributes, key)
    event = None
    if wants_binding and username:
        event = BindingEvent(
            username=username,
            host=host,
            port=port,
            binding_change=message.first(BINDING_CHANGE) is not None,
            authenticated=key is not None,
            classic=message.classic,
        )
    return reply, event


# --- Relay: UDP connection requests sent from the STUN socket (TR-111) --------

RELAY_MAGIC = b"ACSR1"  # 0x41: the first two bits of a STUN message are always 0
RELAY_ACK = b"ACSK1"
_RELAY_MAX_AGE = 30
_RELAY_MAX_COPIES = 5
_RELAY_MAX_SPACING = 5.0


@dataclass(slots=True, frozen=True)
class RelayRequest:
    nonce: str
    destination: tuple[str, int]
    payload: bytes
    copies: int
    spacing: float


def relay_key() -> bytes:
    """The key job workers and the STUN server share, derived from SECRET_KEY."""
    from django.conf import settings

    return hmac.new(settings.SECRET_KEY.encode(), b"acsportal.cwmp.stun-relay", "sha256").digest()


def encode_relay(
    key: bytes,
    payload: bytes,
    destination: tuple[str, int],
    *,
    copies: int,
    spacing: float,
    nonce: str | None = None,
    now: float | None = None,
) -> bytes:
    body = json.dumps(
        {
            "ts": int(time.time() if now is None else now),
            "nonce": nonce or secrets.token_hex(8),
            "to": [destination[0], destination[1]],
            "copies": copies,
            "spacing": spacing,
            "data": base64.b64encode(payload).decode(),
        }
    ).encode()
    return RELAY_MAGIC + hmac.new(key, body, "sha256").digest() + body


def decode_relay(data: bytes, key: bytes, *, now: float | None = None) -> RelayRequest | None:
    """A signed, fresh, bounded relay request, or None (dropped without an answer)."""
    if not data.startswith(RELAY_MAGIC) or len(data) > _MAX_DATAGRAM:
        return None
    tag, body = data[len(RELAY_MAGIC) : len(RELAY_MAGIC) + 32], data[len(RELAY_MAGIC) + 32 :]
    if not hmac.compare_digest(tag, hmac.new(key, body, "sha256").digest()):
        return None
    try:
        fields = json.loads(body)
        age = abs((time.time() if now is None else now) - int(fields["ts"]))
        host, port = str(fields["to"][0]), int(fields["to"][1])
        ipaddress.ip_address(host)
        request = RelayRequest(
            nonce=str(fields["nonce"])[:32],
            destination=(host, port),
            payload=base64.b64decode(fields["data"], validate=True),
            copies=int(fields["copies"]),
            spacing=float(fields["spacing"]),
        )
    except (ValueError, KeyError, TypeError, IndexError, binascii.Error):
        return None
    if (
        age > _RELAY_MAX_AGE
        or not 0 < port < 65536
        or not 1 <= request.copies <= _RELAY_MAX_COPIES
        or not 0 <= request.spacing <= _RELAY_MAX_SPACING
    ):
        return None
    return request


def relay_send(
    relay: str,
    payload: bytes,
    destination: tuple[str, int],
    *,
    copies: int,
    spacing: float,
    timeout: float = 1.0,
) -> None:
    """Ask the STUN server at ``relay`` (``host:port``) to send ``payload`` from its socket.

    Waits for the server's acknowledgement; raises OSError when it does not
    come (the STUN server is down or does not share our SECRET_KEY).
    """
    host, _, port_text = relay.strip().rpartition(":")
    host = host.strip("[]")
    key = relay_key()
    nonce = secrets.token_hex(8)
    message = encode_relay(
        key,
        payload,
        destination,
        copies=min(copies, _RELAY_MAX_COPIES),
        spacing=min(spacing, _RELAY_MAX_SPACING),
        nonce=nonce,
    )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect((host, int(port_text)))
        sock.send(message)
        deadline = time.monotonic() + timeout
        while True:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                answer = sock.recv(64)
            except TimeoutError:
                raise OSError(f"the STUN relay at {relay} did not acknowledge") from None
            if answer == RELAY_ACK + nonce.encode():
                return


# --- asyncio shell -------------------------------------------------------------


class StunServerProtocol(asyncio.DatagramProtocol):
    """Answers in the event loop; database work (callbacks) runs in ``executor``.

    ``on_binding`` and ``password_for`` may block (they query the database);
    they never run in the loop. At most ``max_pending`` of them wait at once:
    beyond that, work is dropped as a full socket buffer would drop it, and
    the CPE's next keep-alive Binding Request brings it back.
    """

    def __init__(
        self,
        *,
        on_binding: Callable[[BindingEvent], Any] | None = None,
        password_for: Callable[[str], str | None] | None = None,
        relay_key: bytes | None = None,
        executor: Executor | None = None,
        max_pending: int = 256,
    ) -> None:
        self.on_binding = on_binding
        self.password_for = password_for
        self.relay_key = relay_key
        self.executor = executor
        self.max_pending = max_pending
        self.transport: asyncio.DatagramTransport | None = None
        self._pending = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (In Python 3.11 the selector transport does not subclass DatagramTransport.)
        self.transport = transport  # type: ignore[assignment]
        self._loop = asyncio.get_running_loop()

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        try:
            self._received(data, (str(addr[0]), int(addr[1])))
        except Exception:
            log.exception("stun: datagram from %s dropped", addr[0])

    def error_received(self, exc: Exception) -> None:
        # ICMP errors for earlier answers (a CPE gone away): nothing to do.
        log.debug("stun: socket error %s", exc)

    def _received(self, data: bytes, source: tuple[str, int]) -> None:
        if data.startswith(RELAY_MAGIC):
            if self.relay_key is not None:
                self._relay(data, source)
            return
        if self.password_for is not None:
            message = parse_message(data)
            if message is not None and message.first(MESSAGE_INTEGRITY) is not None:
                self._submit(self._answer_with_lookup, data, source)
                return
        reply, event = handle_datagram(data, source)
        self._send(reply, source)
        if event is not None and self.on_binding is not None:
            self._submit(self.on_binding, event)

    def _answer_with_lookup(self, data: bytes, source: tuple[str, int]) -> None:
        reply, event = handle_datagram(data, source, password_for=self.password_for)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._send, reply, source)
        if event is not None and self.on_binding is not None:
            self.on_binding(event)

    def _send(self, reply: bytes | None, destination: tuple[str, int]) -> None:
        if reply is not None and self.transport is not None and not self.transport.is_closing():
            try:
                self.transport.sendto(reply, destination)
            except OSError as exc:
                log.debug("stun: cannot answer %s: %s", destination[0], exc)

    def _submit(self, fn: Callable[..., Any], *args: Any) -> None:
        if self._pending >= self.max_pending:
            log.warning("stun: %d jobs pending, dropping one", self._pending)
            return
        assert self._loop is not None
        self._pending += 1
        future = self._loop.run_in_executor(self.executor, fn, *args)
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[Any]) -> None:
        self._pending -= 1
        if not future.cancelled() and future.exception() is not None:
            exc = future.exception()
            log.error("stun: callback failed: %s", exc, exc_info=exc)

    def _relay(self, data: bytes, source: tuple[str, int]) -> None:
        assert self.relay_key is not None and self._loop is not None
        request = decode_relay(data, self.relay_key)
        if request is None:
            log.warning("stun: invalid relay request from %s dropped", source[0])
            return
        self._send(RELAY_ACK + request.nonce.encode(), source)
        for n in range(request.copies):
            self._loop.call_later(
                n * request.spacing, self._send, request.payload, request.destination
            )


async def start_server(
    host: str,
    port: int,
    *,
    on_binding: Callable[[BindingEvent], Any] | None = None,
    password_for: Callable[[str], str | None] | None = None,
    relay_key: bytes | None = None,
    executor: Executor | None = None,
) -> tuple[asyncio.DatagramTransport, StunServerProtocol]:
    """Bind the STUN socket; port 0 picks a free one (``transport.get_extra_info("sockname")``)."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: StunServerProtocol(
            on_binding=on_binding,
            password_for=password_for,
            relay_key=relay_key,
            executor=executor,
        ),
        local_addr=(host, port),
    )
    return transport, protocol


# --- Django side: usernames → devices -------------------------------------------

_PASSWORD_PATHS = (
    "InternetGatewayDevice.ManagementServer.STUNPassword",
    "Device.ManagementServer.STUNPassword",
)


def _username_query(username: str) -> Any:
    """Q for the devices a STUN USERNAME can name (or None when it names none).

    ``OUI-ProductClass-SerialNumber``, raw (a ProductClass may contain
    ``-``) or escaped like our device ids, and ``OUI-SerialNumber``. Every
    split is tried in one query on the (oui, product_class, serial_number)
    index.
    """
    from django.db.models import Q

    parts = username.split("-")
    if not 2 <= len(parts) <= 8 or len(username) > 200:
        return None
    oui = unquote(parts[0])
    query = Q(oui=oui, serial_number=unquote("-".join(parts[1:])))
    for cut in range(2, len(parts)):
        query |= Q(
            oui=oui,
            product_class=unquote("-".join(parts[1:cut])),
            serial_number=unquote("-".join(parts[cut:])),
        )
    return query


def device_pk_for_username(username: str) -> int | None:
    """The one device a STUN USERNAME names; None when it names none or several.

    The STUN server serves every tenant on one port, so the lookup is
    global; one identity registered in two tenants is refused elsewhere
    (``device_registered_elsewhere``), and an ambiguous name records nothing.
    """
    from devices.models import Device

    query = _username_query(username)
    if query is None:
        return None
    pks = list(Device.objects.filter(query).values_list("pk", flat=True)[:2])
    return pks[0] if len(pks) == 1 else None


def stun_password_for(username: str) -> str | None:
    """The device's STUNPassword when the ACS knows it (set through SetParameterValues)."""
    from devices.models import Parameter

    pk = device_pk_for_username(username)
    if pk is None:
        return None
    value = (
        Parameter.objects.filter(device_id=pk, path__in=_PASSWORD_PATHS)
        .exclude(value="")
        .values_list("value", flat=True)
        .first()
    )
    return value or None


def record_binding(event: BindingEvent) -> bool:
    """Store the binding as the device's UDPConnectionRequestAddress; False if unknown.

    One UPDATE, which writes nothing when the address did not change (a
    keep-alive Binding Request every few seconds is the normal case).
    """
    from devices.models import Device

    pk = device_pk_for_username(event.username)
    if pk is None:
        log.info(
            "stun: binding %s from unknown username %r not recorded", event.address, event.username
        )
        return False
    changed = (
        Device.objects.filter(pk=pk)
        .exclude(udp_connection_request_address=event.address)
        .update(udp_connection_request_address=event.address)
    )
    if changed:
        log.info(
            "stun: device %s listens on %s%s",
            pk,
            event.address,
            " (authenticated)" if event.authenticated else "",
        )
    return True


class BindingRecorder:
    """``record_binding`` for the server: skips keep-alives already recorded.

    A CPE repeats its Binding Request every few tens of seconds; the same
    (username, address) is written at most once per ``interval`` seconds,
    and BINDING-CHANGE always goes through. Runs in worker threads, so each
    call checks its database connection like a request would.
    """

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def __call__(self, event: BindingEvent) -> None:
        from django.db import close_old_connections

        key = (event.username, event.address)
        now = time.monotonic()
        with self._lock:
            if not event.binding_change and self._seen.get(key, 0.0) > now:
                return
            if len(self._seen) > 100_000:
                self._seen = {k: v for k, v in self._seen.items() if v > now}
            self._seen[key] = now + self.interval
        close_old_connections()
        try:
            record_binding(event)
        except Exception:
            with self._lock:
                self._seen.pop(key, None)
            raise
        finally:
            close_old_connections()


def _password_lookup(username: str) -> str | None:
    from django.db import close_old_connections

    close_old_connections()
    try:
        return stun_password_for(username)
    finally:
        close_old_connections()


async def start_django_server(
    host: str, port: int, *, executor: Executor | None = None
) -> tuple[asyncio.DatagramTransport, StunServerProtocol]:
    """The STUN server wired to the database and able to relay UDP connection requests."""
    from django.conf import settings

    return await start_server(
        host,
        port,
        on_binding=BindingRecorder(float(settings.CWMP_STUN_RECORD_INTERVAL)),
        password_for=_password_lookup,
        relay_key=relay_key(),
        executor=executor
        or ThreadPoolExecutor(
            max_workers=int(settings.CWMP_STUN_WORKERS),
            thread_name_prefix="stun-db",
        ),
    )


async def serve(
    host: str,
    port: int,
    *,
    ready: Callable[[tuple[Any, ...]], None] | None = None,
    handle_signals: bool = False,
) -> None:
    """Run the STUN server until cancelled (or SIGINT/SIGTERM with ``handle_signals``)."""
    from django.conf import settings

    executor = ThreadPoolExecutor(
        max_workers=int(settings.CWMP_STUN_WORKERS), thread_name_prefix="stun-db"
    )
    transport, _ = await start_django_server(host, port, executor=executor)
    stop = asyncio.Event()
    if handle_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
    try:
        if ready is not None:
            ready(transport.get_extra_info("sockname"))
        await stop.wait()
    finally:
        transport.close()
        executor.shutdown(wait=True)  # let the last bindings reach the database
