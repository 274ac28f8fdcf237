"""The ACS's STUN server (TR-111 Part 2): the socket, the relay and the database side.

What a datagram is answered is ``cwmp.protocol.stun.handle_datagram``; this
module runs it. ``StunServerProtocol`` is the asyncio shell (database work
runs in a thread pool, never in the event loop); the Django part maps a
STUN USERNAME to a device. The ACS expects the CPE's ``STUNUsername`` to be
the CPE identity ``OUI-ProductClass-SerialNumber`` (our device id, raw or
escaped) or ``OUI-SerialNumber``.

Who may move a device's UDP connection-request address: the STUN port
serves every tenant and a USERNAME is no secret (it is the serial), so a
Binding Request alone proves nothing. A request with CONNECTION-REQUEST-
BINDING and a USERNAME that names exactly one device is recorded as that
device's ``udp_connection_request_address`` only

* with a valid MESSAGE-INTEGRITY keyed with the device's STUNPassword (when
  the ACS knows one, from the device's parameters), or
* for a device without a known STUNPassword, when it comes from the address
  the device's last authenticated Inform came from (its latest session log's
  ``remote_address``, the peer the CWMP endpoint saw: not ``ip_address``,
  which is the WAN address the CPE reports and, behind a NAT, is not where
  its datagrams come from).

Anything else is answered (a STUN answer tells the sender only its own
address) but not recorded. A device with a STUNPassword never has its
binding moved by an unsigned request, whatever its source.

The same socket relays UDP connection requests for ``cwmp.wakeup.udp``
(``relay_send``): TR-111 requires them to come from the STUN server's own
address and port, which is what a port-restricted NAT lets back in. The
relay is between two ACS processes (a job worker and this server), not part
of any CPE-facing protocol, so it stays here.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import ipaddress
import json
import logging
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from cwmp.protocol.stun import (
    MAX_DATAGRAM,
    MESSAGE_INTEGRITY,
    BindingEvent,
    handle_datagram,
    parse_message,
)

log = logging.getLogger("acsportal.cwmp.stun")

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
    if not data.startswith(RELAY_MAGIC) or len(data) > MAX_DATAGRAM:
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


def _devices_named(username: str) -> Any:
    """The devices a STUN USERNAME can name (at most two are ever read), or None."""
    from devices.models import Device

    query = _username_query(username)
    if query is None:
        return None
    return Device.objects.filter(query)


def device_pk_for_username(username: str) -> int | None:
    """The one device a STUN USERNAME names; None when it names none or several.

    The STUN server serves every tenant on one port, so the lookup is
    global; one identity registered in two tenants is refused elsewhere
    (``device_registered_elsewhere``), and an ambiguous name records nothing.
    """
    devices = _devices_named(username)
    if devices is None:
        return None
    pks = list(devices.values_list("pk", flat=True)[:2])
    return pks[0] if len(pks) == 1 else None


def _stun_password_query(device_ref: Any) -> Any:
    from devices.models import Parameter

    return Parameter.objects.filter(device_id=device_ref, path__in=_PASSWORD_PATHS).exclude(
        value=""
    )


def stun_password_for(username: str) -> str | None:
    """The device's STUNPassword when the ACS knows it (set through SetParameterValues)."""
    pk = device_pk_for_username(username)
    if pk is None:
        return None
    value = _stun_password_query(pk).values_list("value", flat=True).first()
    return value or None


@dataclass(slots=True, frozen=True)
class BindingTarget:
    """What deciding a binding needs to know of the device a USERNAME names."""

    pk: int
    has_stun_password: bool
    last_inform_address: str | None


def binding_target(username: str) -> BindingTarget | None:
    """The one device ``username`` names, whether it has a STUNPassword, its last Inform's address.

    One query: the device, whether a STUNPassword is known for it, and the
    remote address of its latest session log (written only after the
    Inform authenticated).
    """
    from django.db.models import Exists, OuterRef, Subquery

    from devices.models import SessionLog

    devices = _devices_named(username)
    if devices is None:
        return None
    rows = list(
        devices.annotate(
            has_password=Exists(_stun_password_query(OuterRef("pk"))),
            last_address=Subquery(
                SessionLog.objects.filter(device_id=OuterRef("pk"))
                .order_by("-started")
                .values("remote_address")[:1]
            ),
        ).values_list("pk", "has_password", "last_address")[:2]
    )
    if len(rows) != 1:
        return None
    pk, has_password, last_address = rows[0]
    return BindingTarget(pk, bool(has_password), last_address)


def _same_host(a: str | None, b: str) -> bool:
    """Whether two textual addresses are one host (IPv4-mapped IPv6 is its IPv4)."""
    if not a:
        return False

    def norm(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            return None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return address.ipv4_mapped
        return address

    left = norm(a)
    return left is not None and left == norm(b)


def binding_refusal(event: BindingEvent, target: BindingTarget) -> str | None:
    """Why ``event`` may not move ``target``'s binding, or None when it may (see the module)."""
    if event.authenticated:
        return None
    if target.has_stun_password:
        return "the device has a STUNPassword and the request carries no valid MESSAGE-INTEGRITY"
    if not _same_host(target.last_inform_address, event.host):
        return (
            f"unsigned, and not from the address of the device's last authenticated Inform"
            f" ({target.last_inform_address or 'none yet'})"
        )
    return None


def record_binding(event: BindingEvent) -> bool:
    """Store the binding as the device's UDPConnectionRequestAddress; False if not recorded.

    Not recorded: an unknown or ambiguous username, or a request the
    module's rule refuses (``binding_refusal``). One query to decide and
    one UPDATE, which writes nothing when the address did not change (a
    keep-alive Binding Request every few seconds is the normal case).
    """
    from devices.models import Device

    target = binding_target(event.username)
    if target is None:
        log.info(
            "stun: binding %s from unknown username %r not recorded", event.address, event.username
        )
        return False
    refusal = binding_refusal(event, target)
    if refusal is not None:
        log.warning(
            "stun: binding %s for device %s (username %r) not recorded: %s",
            event.address,
            target.pk,
            event.username,
            refusal,
        )
        return False
    changed = (
        Device.objects.filter(pk=target.pk)
        .exclude(udp_connection_request_address=event.address)
        .update(udp_connection_request_address=event.address)
    )
    if changed:
        log.info(
            "stun: device %s listens on %s%s",
            target.pk,
            event.address,
            " (authenticated)" if event.authenticated else " (from its Inform's address)",
        )
    return True


class BindingRecorder:
    """``record_binding`` for the server: skips keep-alives already recorded.

    A CPE repeats its Binding Request every few tens of seconds; the same
    (username, address, signed or not) is decided at most once per
    ``interval`` seconds,
    and BINDING-CHANGE always goes through. A refusal is remembered as
    long as a recording: a keep-alive that arrived before the Inform from
    its new address is looked at again one interval later. Runs in worker
    threads, so each call checks its database connection like a request
    would.
    """

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._seen: dict[tuple[str, str, bool], float] = {}
        self._lock = threading.Lock()

    def __call__(self, event: BindingEvent) -> None:
        from django.db import close_old_connections

        # Signed and unsigned requests are decided apart: a refused unsigned
        # one must not hold back the signed one that follows.
        key = (event.username, event.address, event.authenticated)
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
