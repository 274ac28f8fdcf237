"""STUN for TR-111 Part 2 (RFC 5389 with RFC 3489 compatibility): what a datagram gets.

A CPE behind a NAT cannot receive an HTTP connection request. With STUN
enabled (``ManagementServer.STUNEnable``) it sends Binding Requests to the
ACS's STUN server from its UDP connection-request port, keeping a NAT
binding open; the source address we see is the public side of that binding,
where a UDP connection request (TR-069 Annex G) reaches the CPE.

* RFC 5389 requests (magic cookie 0x2112A442) get XOR-MAPPED-ADDRESS and
  MAPPED-ADDRESS; classic RFC 3489 requests (a 16-byte transaction id, no
  cookie) get MAPPED-ADDRESS only (RFC 5389 section 12.2), so old CPE STUN
  clients understand the answer.
* TR-111 attributes: CONNECTION-REQUEST-BINDING (0xC001, value
  ``"dslforum.org/TR-111 "``) marks requests from the binding the CPE listens
  on; BINDING-CHANGE (0xC002) says the binding changed; USERNAME carries the
  CPE's ``STUNUsername``. Such a request yields a ``BindingEvent`` for the
  server to record.
* MESSAGE-INTEGRITY (HMAC-SHA1 keyed with the STUNPassword, RFC 5389 15.4 or
  the RFC 3489 11.2.8 padded form) is verified when the caller knows the
  device's STUNPassword; a wrong one gets a 401 error response and no
  event. Without a known password, or without MESSAGE-INTEGRITY, the event
  says ``authenticated=False``: whether such a binding is recorded is the
  server's decision (``cwmp.wakeup.stun``: only from the address of the
  device's last authenticated Inform, never for a device with a password).
* Not supported, on purpose: CHANGE-REQUEST with flags set (one address and
  port only; such requests get no answer) and RESPONSE-ADDRESS (answers go
  to the request's source, never to a third party: no reflection).
* Malformed datagrams are dropped without an answer and never raise.

``handle_datagram`` is the whole of it, with no socket and no database, so
that it can be tested and reasoned about apart from them; the server that
runs it and records its events is ``cwmp.wakeup.stun``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass

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

#: The largest datagram read as STUN (and, by the server, as a relay request).
MAX_DATAGRAM = 2048
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
    if not 20 <= len(data) <= MAX_DATAGRAM:
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
