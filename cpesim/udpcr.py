"""UDP connection requests (TR-069 Annex G) and the STUN client of TR-111 Part 2.

One UDP socket serves every device of the process, like the HTTP listener:
10,000 devices cannot each have a port. A datagram names its device by the
`un` (ConnectionRequestUsername) it carries, so **usernames must be unique
per device** on a listener: a device registering with an empty username, or
one another registered device already uses, is given its serial number as
ConnectionRequestUsername (fleets with UDP default to `{serial}` anyway).

A UDP connection request is the datagram

    GET http://host:port?ts=1700000000&id=42&un=user&cn=XYZ&sig=<hex> HTTP/1.1

and is accepted when `un` names a device, `sig` is the hex HMAC-SHA1 of
`ts + id + un + cn` keyed with the device's ConnectionRequestPassword
(Annex G.2.1.1), `ts` is not older than the last accepted one of that device
and within `max_skew` seconds of now, and `id` is not the last accepted id
(the ACS retransmits the same datagram: the first copy counts, the others
are ignored). Nothing is ever answered (Annex G).

The same socket sends the STUN Binding Requests (RFC 5389, with the TR-111
CONNECTION-REQUEST-BINDING and BINDING-CHANGE attributes): their answers
come back to it and are told apart by the STUN magic cookie and matched to
their request by transaction id.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import os
import struct
import time
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from .crserver import WakeableDevice
from .httpclient import is_loopback_host, resolve
from .tree import DeviceTree

log = logging.getLogger("cpesim.udpcr")

MAGIC_COOKIE = 0x2112A442
_COOKIE = struct.pack("!I", MAGIC_COOKIE)
BINDING_REQUEST = 0x0001
BINDING_SUCCESS = 0x0101
BINDING_ERROR = 0x0111
MAPPED_ADDRESS = 0x0001
USERNAME = 0x0006
MESSAGE_INTEGRITY = 0x0008
ERROR_CODE = 0x0009
XOR_MAPPED_ADDRESS = 0x0020
CONNECTION_REQUEST_BINDING = 0xC001
BINDING_CHANGE = 0xC002
TR111_BINDING_VALUE = b"dslforum.org/TR-111 "
DEFAULT_STUN_PORT = 3478
DEFAULT_KEEPALIVE = 30.0
#: RFC 5389 retransmission: wait 0.5 s, then 1 s, then 2 s for an answer.
_RETRANSMIT = (0.5, 1.0, 2.0)
_LOG_LIMIT = 1000


def format_address(host: str, port: int) -> str:
    """`host:port`, IPv6 in brackets, as UDPConnectionRequestAddress spells it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def split_host_port(value: str, default_port: int = DEFAULT_STUN_PORT) -> tuple[str, int]:
    """`host:port`, `[v6]:port`, `host` -> (host, port); ValueError when malformed."""
    value = value.strip()
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"bad address {value!r}")
        port_text = rest[1:] if rest else None
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
    else:
        host, port_text = value, None
    port = int(port_text) if port_text is not None else default_port
    if not host or not 0 < port < 65536:
        raise ValueError(f"bad address {value!r}")
    return host, port


def udp_signature(password: str, ts: str, message_id: str, username: str, cnonce: str) -> str:
    """Annex G.2.1.1: hex HMAC-SHA1 keyed with the password over ts + id + un + cn."""
    text = f"{ts}{message_id}{username}{cnonce}".encode()
    return hmac.new(password.encode(), text, hashlib.sha1).hexdigest()


def default_stun_username(oui: str, product_class: str, serial: str, template: str | None) -> str:
    """STUN USERNAME: the `stun_username` template, else `OUI-ProductClass-SerialNumber`.

    That is what this ACS's STUN server maps to a device; the dumps' own
    STUNUsername values are shared by every device of a type.
    """
    device_id = f"{oui}-{product_class}-{serial}" if product_class else f"{oui}-{serial}"
    if template is None:
        return device_id
    return template.replace("{serial}", serial).replace("{id}", device_id)


def stun_settings(
    tree: DeviceTree, *, server: str | None, interval: float | None, default_username: str
) -> tuple[str, int, str, str, float] | None:
    """(server host, port, USERNAME, STUNPassword, keep-alive seconds), or None when off.

    Read from ManagementServer.STUN* (so an ACS can change them), falling
    back to the `server` option for dumps without those parameters;
    `interval` overrides STUNMinimumKeepAlivePeriod.
    """
    ms = tree.root + "ManagementServer."
    enabled = tree.get_or(ms + "STUNEnable", "true" if server else "false")
    if enabled.strip().lower() not in ("1", "true"):
        return None
    host = tree.get_or(ms + "STUNServerAddress").strip()
    try:
        port = int(tree.get_or(ms + "STUNServerPort", "0") or "0")
    except ValueError:
        port = 0
    if server:
        option_host, option_port = split_host_port(server)
        host = host or option_host
        port = port or option_port
    if not host:
        return None
    username = tree.get_or(ms + "STUNUsername").strip() or default_username
    period = interval
    if period is None:
        try:
            period = float(tree.get_or(ms + "STUNMinimumKeepAlivePeriod", "0") or "0")
        except ValueError:
            period = 0.0
        period = period if period > 0 else DEFAULT_KEEPALIVE
    return host, port or DEFAULT_STUN_PORT, username, tree.get_or(ms + "STUNPassword"), period


# -- STUN messages -------------------------------------------------------------------


def _attribute(attr_type: int, value: bytes) -> bytes:
    return struct.pack("!HH", attr_type, len(value)) + value + b"\x00" * (-len(value) % 4)


def binding_request(
    transaction_id: bytes, username: str, *, binding_change: bool = False, password: str = ""
) -> bytes:
    """A TR-111 Binding Request: USERNAME, CONNECTION-REQUEST-BINDING, maybe BINDING-CHANGE.

    With a password, MESSAGE-INTEGRITY is appended (RFC 5389 15.4: HMAC-SHA1
    over the message, its length field already counting the attribute).
    """
    body = b""
    if username:
        body += _attribute(USERNAME, username.encode())
    body += _attribute(CONNECTION_REQUEST_BINDING, TR111_BINDING_VALUE)
    if binding_change:
        body += _attribute(BINDING_CHANGE, b"")
    if not password:
        return struct.pack("!HH", BINDING_REQUEST, len(body)) + _COOKIE + transaction_id + body
    header = struct.pack("!HH", BINDING_REQUEST, len(body) + 24) + _COOKIE + transaction_id
    mac = hmac.new(password.encode(), header + body, hashlib.sha1).digest()
    return header + body + _attribute(MESSAGE_INTEGRITY, mac)


def parse_attributes(data: bytes) -> list[tuple[int, bytes]]:
    attributes = []
    pos = 20
    while pos + 4 <= len(data):
        attr_type, length = struct.unpack_from("!HH", data, pos)
        value = data[pos + 4 : pos + 4 + length]
        if len(value) < length:
            break
        attributes.append((attr_type, value))
        pos += 4 + length + (-length % 4)
    return attributes


def _decode_address(value: bytes, xor_key: bytes | None) -> tuple[str, int] | None:
    if len(value) < 8:
        return None
    family, port = value[1], struct.unpack_from("!H", value, 2)[0]
    raw = value[4:8] if family == 1 else value[4:20]
    if (family == 1 and len(raw) != 4) or (family == 2 and len(raw) != 16) or family not in (1, 2):
        return None
    if xor_key is not None:
        port ^= MAGIC_COOKIE >> 16
        raw = bytes(a ^ b for a, b in zip(raw, xor_key, strict=False))
    return str(ipaddress.ip_address(raw)), port


def parse_binding_response(data: bytes) -> tuple[str, tuple[str, int] | int | None]:
    """('ok', (host, port)) from XOR-MAPPED-ADDRESS or MAPPED-ADDRESS, ('error', code), or ('bad', None)."""
    if len(data) < 20:
        return "bad", None
    msg_type = struct.unpack_from("!H", data, 0)[0]
    attributes = parse_attributes(data)
    if msg_type == BINDING_ERROR:
        for attr_type, value in attributes:
            if attr_type == ERROR_CODE and len(value) >= 4:
                return "error", (value[2] & 0x07) * 100 + value[3]
        return "error", 0
    if msg_type != BINDING_SUCCESS:
        return "bad", None
    mapped = None
    for attr_type, value in attributes:
        if attr_type == XOR_MAPPED_ADDRESS:
            return "ok", _decode_address(value, data[4:20])
        if attr_type == MAPPED_ADDRESS and mapped is None:
            mapped = _decode_address(value, None)
    return ("ok", mapped) if mapped else ("bad", None)


# -- the listener ----------------------------------------------------------------------


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, server: UdpConnectionRequestServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        try:
            self.server.datagram_received(data, addr)
        except Exception:  # one bad datagram must not stop the listener
            log.exception("udp: datagram from %s dropped", addr[0])

    def error_received(self, exc: Exception) -> None:
        log.debug("udp: socket error %s", exc)


class UdpDevice(WakeableDevice, Protocol):
    """What the UDP listener and the STUN loop need from a device (a `SimulatedCPE` has it)."""

    def stun_settings(self) -> tuple[str, int, str, str, float] | None: ...

    def stun_mapped(self, mapped: tuple[str, int]) -> None: ...


class UdpConnectionRequestServer:
    """The shared UDP connection-request socket; `register()` a device to route its `un` to it."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, max_skew: float = 300.0) -> None:
        self.host = host
        self.port = port
        #: A `ts` further than this from the device's clock is refused (0: not checked).
        self.max_skew = max_skew
        self.devices: dict[str, UdpDevice] = {}  # serial -> device
        self._users: dict[str, UdpDevice] = {}  # ConnectionRequestUsername -> device
        self._last: dict[str, tuple[int, str]] = {}  # serial -> last accepted (ts, id)
        self._pending: dict[bytes, asyncio.Future[bytes]] = {}
        self._transport: asyncio.DatagramTransport | None = None
        #: STUN keep-alive loops, by serial.
        self.stun_tasks: dict[str, asyncio.Task] = {}
        #: The device that made this listener for itself (stopped with it); None when shared.
        self.owner: UdpDevice | None = None
        #: (username, outcome) of every datagram, newest last; bounded, for tests and debugging.
        #: Outcomes: accepted, duplicate, replay, expired, bad-signature, unknown-user, malformed.
        self.log: list[tuple[str, str]] = []

    @property
    def started(self) -> bool:
        return self._transport is not None

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)

    async def start(self) -> None:
        """Bind the socket (idempotent); port 0 picks a free port, reported in `.port`."""
        if self._transport is not None:
            return
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=(self.host, self.port)
        )
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]

    async def stop(self) -> None:
        for task in list(self.stun_tasks.values()):
            task.cancel()
        self.stun_tasks.clear()
        for fut in self._pending.values():
            fut.cancel()
        self._pending.clear()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # -- devices ---------------------------------------------------------------------

    def owner_of(self, username: str) -> UdpDevice | None:
        """The registered device that uses this ConnectionRequestUsername, if any."""
        cpe = self._users.get(username)
        if cpe is None or self.devices.get(cpe.serial) is not cpe:
            return None
        if cpe.connection_request_credentials()[0] != username:
            return None  # changed since (FactoryReset, SetParameterValues)
        return cpe

    def register(self, cpe: UdpDevice) -> str:
        """Route datagrams whose `un` is the device's username to it; returns `host:port`."""
        self.devices[cpe.serial] = cpe
        self.username_changed(cpe)
        return self.address

    def unregister(self, cpe: UdpDevice) -> None:
        if self.devices.get(cpe.serial) is cpe:
            del self.devices[cpe.serial]
            self._last.pop(cpe.serial, None)
            task = self.stun_tasks.pop(cpe.serial, None)
            if task is not None:
                task.cancel()
        for user in [u for u, c in self._users.items() if c is cpe]:
            del self._users[user]

    def username_changed(self, cpe: UdpDevice) -> None:
        """Re-index a device after its ConnectionRequestUsername changed."""
        if self.devices.get(cpe.serial) is not cpe:
            return
        for user in [u for u, c in self._users.items() if c is cpe]:
            del self._users[user]
        username = cpe.connection_request_credentials()[0]
        if username:
            self._users[username] = cpe

    # -- datagrams ---------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if len(data) >= 20 and data[4:8] == _COOKIE and not data[0] & 0xC0:
            fut = self._pending.get(data[8:20])
            if fut is not None and not fut.done():
                fut.set_result(data)
            return
        self.handle_request(data)

    def _record(self, username: str, outcome: str) -> str:
        self.log.append((username, outcome))
        if len(self.log) > _LOG_LIMIT:
            del self.log[: _LOG_LIMIT // 2]
        return outcome

    def handle_request(self, data: bytes, now: float | None = None) -> str:
        """Validate one Annex G datagram; starts the device's session when accepted."""
        try:
            first_line = data.decode("latin-1").split("\n", 1)[0].rstrip("\r")
            method, uri, version = first_line.split(" ")
            fields = dict(parse_qsl(urlsplit(uri).query, keep_blank_values=True))
            ts_text, message_id = fields["ts"], fields["id"]
            username, cnonce, sig = fields["un"], fields["cn"], fields["sig"]
            ts = int(ts_text)
        except (ValueError, KeyError):
            return self._record("", "malformed")
        if method != "GET" or not version.startswith("HTTP/1.1"):
            return self._record(username, "malformed")
        cpe = self.owner_of(username)
        if cpe is None:
            return self._record(username, "unknown-user")
        password = cpe.connection_request_credentials()[1]
        expected = udp_signature(password, ts_text, message_id, username, cnonce)
        if not hmac.compare_digest(expected, sig.strip().lower()):
            return self._record(username, "bad-signature")
        last = self._last.get(cpe.serial)
        if last is not None:
            if message_id == last[1]:
                return self._record(username, "duplicate")  # a retransmitted copy
            if ts < last[0]:
                return self._record(username, "replay")
        clock = time.time() if now is None else now
        if self.max_skew and abs(clock - ts) > self.max_skew:
            return self._record(username, "expired")
        self._last[cpe.serial] = (ts, message_id)
        log.debug("udp connection request accepted for %s", cpe.serial)
        cpe.connection_request()
        return self._record(username, "accepted")

    # -- STUN ----------------------------------------------------------------------------

    async def binding(
        self,
        destination: tuple[str, int],
        username: str,
        *,
        binding_change: bool = False,
        password: str = "",
    ) -> tuple[str, int] | None:
        """One Binding Request from this socket (retransmitted per RFC 5389); the mapped address."""
        if self._transport is None:
            raise RuntimeError("the UDP listener is not started")
        integrity = ""
        for _attempt in range(2):
            transaction_id = os.urandom(12)
            message = binding_request(
                transaction_id, username, binding_change=binding_change, password=integrity
            )
            answer = await self._exchange(transaction_id, message, destination)
            if answer is None:
                return None
            kind, value = parse_binding_response(answer)
            if kind == "ok" and isinstance(value, tuple):
                return value
            if kind == "error" and value == 401 and password and not integrity:
                integrity = password  # the server wants MESSAGE-INTEGRITY (TR-111 2.2.1)
                continue
            log.info("stun: %s answered %s %s", format_address(*destination), kind, value)
            return None
        return None

    async def _exchange(
        self, transaction_id: bytes, message: bytes, destination: tuple[str, int]
    ) -> bytes | None:
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[transaction_id] = fut
        try:
            for wait in _RETRANSMIT:
                if self._transport is None:
                    return None
                self._transport.sendto(message, destination)
                try:
                    async with asyncio.timeout(wait):
                        return await asyncio.shield(fut)
                except TimeoutError:
                    continue
            return None
        finally:
            self._pending.pop(transaction_id, None)


async def stun_loop(
    cpe: UdpDevice, server: UdpConnectionRequestServer, *, allow_remote: bool = False
) -> None:
    """Keep the device's binding known to the STUN server (TR-111 Part 2) while STUN is enabled.

    Every keep-alive period (STUNMinimumKeepAlivePeriod, else 30 s, or the
    `stun_interval` option) a Binding Request goes from the UDP listener's
    socket; the mapped address becomes UDPConnectionRequestAddress. When it
    differs from the previous answer the binding changed: the next request,
    sent at once, carries BINDING-CHANGE. Only loopback STUN servers are
    contacted unless `allow_remote`.
    """
    last: tuple[str, int] | None = None
    change = False
    complained = ""
    while True:
        settings = cpe.stun_settings()
        if settings is None:
            return  # disabled; enabling STUN again restarts the loop
        host, port, username, password, period = settings
        address = await resolve(host)
        if address is None or (not is_loopback_host(address) and not allow_remote):
            if complained != host:  # once per server name, not every keep-alive
                complained = host
                why = "cannot resolve it" if address is None else "not a loopback host"
                log.info("stun: %s: %s: %s, not contacted", cpe.serial, host, why)
        else:
            sent_change = change
            mapped = await server.binding(
                (address, port), username, binding_change=change, password=password
            )
            if mapped is not None:
                change = last is not None and mapped != last
                last = mapped
                cpe.stun_mapped(mapped)
                if change and not sent_change:
                    continue  # tell the server about the new binding at once
        await asyncio.sleep(period)
