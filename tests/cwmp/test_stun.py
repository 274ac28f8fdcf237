"""The TR-111 STUN server: RFC 5389 and RFC 3489 Binding Requests on real loopback sockets.

STUN messages are built and decoded here independently of ``cwmp.protocol.stun``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import socket
import struct
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from django.utils import timezone

from cwmp.protocol.stun import BindingEvent, handle_datagram
from cwmp.wakeup import stun
from cwmp.wakeup.udp import send_udp_connection_request
from devices.models import Device, SessionLog
from tests.factories import DeviceFactory, ParameterFactory, TenantFactory

COOKIE = 0x2112A442
TR111 = b"dslforum.org/TR-111 "


def attr(attr_type: int, value: bytes) -> bytes:
    return struct.pack("!HH", attr_type, len(value)) + value + b"\x00" * (-len(value) % 4)


def binding_request(
    *attrs: bytes, classic: bool = False, tid: bytes | None = None
) -> tuple[bytes, bytes]:
    if tid is None:
        tid = os.urandom(16 if classic else 12)
        if classic and tid[:4] == struct.pack("!I", COOKIE):
            tid = b"\x00" + tid[1:]
    body = b"".join(attrs)
    magic = b"" if classic else struct.pack("!I", COOKIE)
    return struct.pack("!HH", 0x0001, len(body)) + magic + tid + body, tid


def with_integrity(message: bytes, key: bytes, *, classic_form: bool = False) -> bytes:
    """Append MESSAGE-INTEGRITY (RFC 5389 15.4, or the padded RFC 3489 11.2.8 form)."""
    header = message[:2] + struct.pack("!H", len(message) - 20 + 24) + message[4:]
    text = header + (b"\x00" * (-len(header) % 64) if classic_form else b"")
    mac = hmac.new(key, text, hashlib.sha1).digest()
    return header + attr(0x0008, mac)


def decode(reply: bytes) -> tuple[int, bytes, dict[int, bytes]]:
    msg_type, length = struct.unpack_from("!HH", reply)
    assert length == len(reply) - 20
    attrs: dict[int, bytes] = {}
    pos = 20
    while pos < len(reply):
        t, n = struct.unpack_from("!HH", reply, pos)
        attrs[t] = reply[pos + 4 : pos + 4 + n]
        pos += 4 + n + (-n % 4)
    return msg_type, reply[4:20], attrs


def address(value: bytes, xor_with: bytes | None = None) -> tuple[str, int]:
    _, family, port = struct.unpack_from("!BBH", value)
    raw = value[4:]
    if xor_with is not None:
        port ^= COOKIE >> 16
        raw = bytes(a ^ b for a, b in zip(raw, xor_with, strict=False))
    assert family == (1 if len(raw) == 4 else 2)
    return socket.inet_ntop(socket.AF_INET if family == 1 else socket.AF_INET6, raw), port


# --- A server on a loop in a thread -----------------------------------------------


@pytest.fixture
def stun_server():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    started: list[asyncio.DatagramTransport] = []
    executors: list[ThreadPoolExecutor] = []

    def start(*, django: bool = False, **kwargs) -> int:
        if django:
            executor = ThreadPoolExecutor(max_workers=1)
            executors.append(executor)
            coro = stun.start_django_server("127.0.0.1", 0, executor=executor)
        else:
            coro = stun.start_server("127.0.0.1", 0, **kwargs)
        transport, _ = asyncio.run_coroutine_threadsafe(coro, loop).result(2)
        started.append(transport)
        return transport.get_extra_info("sockname")[1]

    yield start
    for transport in started:
        loop.call_soon_threadsafe(transport.close)
    for executor in executors:
        executor.submit(connections.close_all).result(2)
        executor.shutdown()
    loop.call_soon_threadsafe(loop.stop)
    thread.join(2)
    loop.close()


@pytest.fixture
def client():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(1.0)
    yield sock
    sock.close()


def test_rfc5389_binding_request_gets_xor_mapped_and_mapped_address(stun_server, client):
    port = stun_server()
    request, tid = binding_request()
    client.sendto(request, ("127.0.0.1", port))
    reply, sender = client.recvfrom(2048)
    assert sender == ("127.0.0.1", port)
    msg_type, header_tid, attrs = decode(reply)
    assert msg_type == 0x0101
    assert header_tid == struct.pack("!I", COOKIE) + tid
    assert address(attrs[0x0020], struct.pack("!I", COOKIE) + tid) == client.getsockname()
    assert address(attrs[0x0001]) == client.getsockname()


def test_rfc3489_binding_request_gets_mapped_address_only(stun_server, client):
    port = stun_server()
    request, tid = binding_request(classic=True)
    client.sendto(request, ("127.0.0.1", port))
    msg_type, header_tid, attrs = decode(client.recv(2048))
    assert msg_type == 0x0101 and header_tid == tid
    assert address(attrs[0x0001]) == client.getsockname()
    assert 0x0020 not in attrs


@pytest.mark.parametrize(
    "datagram",
    [
        b"",
        b"\x00\x01\x00\x00" + b"\x00" * 15,  # short header
        b"\xc0\x01\x00\x00" + b"\x00" * 16,  # first bits set: not STUN
        struct.pack("!HHI", 1, 8, COOKIE) + b"\x00" * 12,  # length beyond the datagram
        struct.pack("!HHI", 1, 8, COOKIE) + b"\x00" * 12 + struct.pack("!HH", 6, 40) + b"ab",
        struct.pack("!HHI", 1, 3, COOKIE) + b"\x00" * 12 + b"abc",  # cookie, unaligned
        struct.pack("!HHI", 1, 4, COOKIE) + b"\x07" * 12 + b"\x00\x06\x00\x09",  # truncated
        struct.pack("!HHI", 0x0101, 0, COOKIE) + b"\x00" * 12,  # a response, not a request
        struct.pack("!HHI", 0x0011, 0, COOKIE) + b"\x00" * 12,  # an indication
        b"\x00\x01\x0b\xa4" + bytes(range(256)) * 12,  # larger than any STUN message
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
def test_malformed_datagrams_get_no_answer(datagram):
    assert handle_datagram(datagram, ("127.0.0.1", 5000)) == (None, None)


def test_server_survives_garbage(stun_server, client):
    port = stun_server()
    for junk in (b"", b"\x00", os.urandom(64), b"\x00\x01\xff\xff" + os.urandom(40)):
        client.sendto(junk, ("127.0.0.1", port))
    request, tid = binding_request()
    client.sendto(request, ("127.0.0.1", port))
    _, header_tid, _ = decode(client.recv(2048))
    assert header_tid[4:] == tid  # the first and only answer is to the valid request
    client.settimeout(0.2)
    with pytest.raises(TimeoutError):
        client.recv(2048)


def test_change_request_with_flags_is_not_answered():
    request, _ = binding_request(attr(0x0003, struct.pack("!I", 0x06)), classic=True)
    assert handle_datagram(request, ("127.0.0.1", 5000)) == (None, None)
    request, _ = binding_request(attr(0x0003, struct.pack("!I", 0)), classic=True)
    assert handle_datagram(request, ("127.0.0.1", 5000))[0] is not None


def test_tr111_binding_is_reported():
    request, _ = binding_request(
        attr(0x0006, b"00259E-EG8145V5-SN1"), attr(0xC001, TR111), attr(0xC002, b"")
    )
    reply, event = handle_datagram(request, ("203.0.113.9", 40123))
    assert reply is not None
    assert event == BindingEvent(
        username="00259E-EG8145V5-SN1", host="203.0.113.9", port=40123, binding_change=True
    )
    assert event.address == "203.0.113.9:40123"
    v6 = handle_datagram(request, ("2001:db8::7", 7547))[1]
    assert v6 is not None and v6.address == "[2001:db8::7]:7547"
    mapped = handle_datagram(request, ("::ffff:198.51.100.4", 1000))[1]
    assert mapped is not None and mapped.address == "198.51.100.4:1000"


def test_classic_tr111_request_with_padded_username_is_reported():
    request, _ = binding_request(
        attr(0x0006, b"00259E-X-SN1\x00\x00\x00\x00"), attr(0xC001, TR111), classic=True
    )
    _, event = handle_datagram(request, ("203.0.113.9", 1))
    assert event is not None and event.username == "00259E-X-SN1" and event.classic


def test_binding_without_tr111_attribute_or_username_is_not_reported():
    plain, _ = binding_request(attr(0x0006, b"00259E-X-SN1"))
    anonymous, _ = binding_request(attr(0xC001, TR111))
    for request in (plain, anonymous):
        reply, event = handle_datagram(request, ("203.0.113.9", 1))
        assert reply is not None and event is None


def _lookup(password: str | None):
    return lambda username: password if username == "00259E-X-SN1" else None


@pytest.mark.parametrize("classic", [False, True])
def test_message_integrity_is_checked_when_the_password_is_known(classic):
    bare, tid = binding_request(attr(0x0006, b"00259E-X-SN1"), attr(0xC001, TR111), classic=classic)
    signed = with_integrity(bare, b"stun-pw", classic_form=classic)
    reply, event = handle_datagram(signed, ("203.0.113.9", 4), password_for=_lookup("stun-pw"))
    assert event is not None and event.authenticated
    msg_type, _, attrs = decode(reply)
    assert msg_type == 0x0101 and 0x0008 in attrs
    # The answer is signed back (same form), so the CPE can check it too.
    text = reply[:-24] + (b"\x00" * (-(len(reply) - 24) % 64) if classic else b"")
    assert hmac.new(b"stun-pw", text, hashlib.sha1).digest() == attrs[0x0008]

    reply, event = handle_datagram(signed, ("203.0.113.9", 4), password_for=_lookup("other"))
    assert event is None
    msg_type, _, attrs = decode(reply)
    assert msg_type == 0x0111 and attrs[0x0009][2:4] == bytes([4, 1])


def test_message_integrity_without_a_known_password_is_accepted():
    bare, _ = binding_request(attr(0x0006, b"00259E-X-SN1"), attr(0xC001, TR111))
    signed = with_integrity(bare, b"whatever")
    reply, event = handle_datagram(signed, ("203.0.113.9", 4), password_for=_lookup(None))
    assert decode(reply)[0] == 0x0101
    assert event is not None and not event.authenticated


# --- Usernames → devices ----------------------------------------------------------


def _event(username: str, port: int = 40000, **kwargs) -> BindingEvent:
    kwargs.setdefault("host", "198.51.100.7")
    return BindingEvent(username=username, port=port, **kwargs)


def informed_from(device: Device, address: str) -> Device:
    """What an authenticated Inform leaves behind: a session log with the peer's address."""
    SessionLog.objects.create(
        tenant=device.tenant,
        device=device,
        session_id=uuid.uuid4().hex,
        started=timezone.now(),
        remote_address=address,
    )
    return device


@pytest.mark.django_db
def test_record_binding_by_device_identity():
    device = informed_from(
        DeviceFactory(product_class="G-1425G-A", serial_number="SN-77"), "198.51.100.7"
    )
    raw = f"{device.oui}-{device.product_class}-{device.serial_number}"
    for username, port in ((device.device_id, 1001), (raw, 1002), (f"{device.oui}-SN-77", 1003)):
        assert stun.record_binding(_event(username, port))
        device.refresh_from_db()
        assert device.udp_connection_request_address == f"198.51.100.7:{port}"


@pytest.mark.django_db
def test_unknown_or_ambiguous_usernames_are_not_recorded():
    a = informed_from(DeviceFactory(serial_number="DUP1", product_class="A"), "198.51.100.7")
    informed_from(DeviceFactory(serial_number="DUP1", product_class="B"), "198.51.100.7")
    assert not stun.record_binding(_event("00259E-NOSUCH-SN"))
    assert not stun.record_binding(_event(f"{a.oui}-DUP1"))  # names two devices
    assert not stun.record_binding(_event("nodash"))
    assert stun.record_binding(_event(a.device_id))
    assert Device.objects.exclude(udp_connection_request_address="").count() == 1


@pytest.mark.django_db
def test_stun_password_comes_from_the_parameter():
    device = DeviceFactory()
    assert stun.stun_password_for(device.device_id) is None
    ParameterFactory(
        device=device, path="InternetGatewayDevice.ManagementServer.STUNPassword", value="pw1"
    )
    assert stun.stun_password_for(device.device_id) == "pw1"


@pytest.mark.django_db
def test_unsigned_binding_is_recorded_only_from_the_last_informs_address():
    device = DeviceFactory()
    assert not stun.record_binding(_event(device.device_id))  # no Inform yet
    informed_from(device, "203.0.113.50")
    informed_from(device, "::ffff:198.51.100.7")  # the latest one counts (IPv4-mapped)
    assert not stun.record_binding(_event(device.device_id, host="203.0.113.50"))
    assert stun.record_binding(_event(device.device_id))
    device.refresh_from_db()
    assert device.udp_connection_request_address == "198.51.100.7:40000"


@pytest.mark.django_db
def test_a_device_with_a_stun_password_needs_message_integrity():
    device = informed_from(DeviceFactory(), "198.51.100.7")
    ParameterFactory(device=device, path="Device.ManagementServer.STUNPassword", value="pw")
    assert not stun.record_binding(_event(device.device_id))  # even from its Inform's address
    assert stun.record_binding(_event(device.device_id, host="192.0.2.1", authenticated=True))
    device.refresh_from_db()
    assert device.udp_connection_request_address == "192.0.2.1:40000"


def _wait_for_address(device: Device, expected: str, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        device.refresh_from_db()
        if device.udp_connection_request_address == expected:
            return
        time.sleep(0.02)
    assert device.udp_connection_request_address == expected


@pytest.mark.django_db(transaction=True)
def test_unsigned_binding_for_another_tenants_device_changes_nothing(stun_server, client):
    """Issue 10: a Binding Request without MESSAGE-INTEGRITY moved another tenant's device.

    The victim informed from 203.0.113.20; the attacker sends the victim's
    username from 127.0.0.1 (any address but that one). It is answered,
    and nothing is recorded. Then the attacker's own device, which informed
    from 127.0.0.1, gets its binding: the one database thread has handled
    the first request by then.
    """
    victim = informed_from(
        DeviceFactory(tenant=TenantFactory(), udp_connection_request_address="203.0.113.20:7547"),
        "203.0.113.20",
    )
    own = informed_from(DeviceFactory(tenant=TenantFactory()), "127.0.0.1")
    port = stun_server(django=True)
    for username in (victim.device_id, own.device_id):
        request, _ = binding_request(attr(0x0006, username.encode()), attr(0xC001, TR111))
        client.sendto(request, ("127.0.0.1", port))
        assert decode(client.recv(2048))[0] == 0x0101
    _wait_for_address(own, f"127.0.0.1:{client.getsockname()[1]}")
    victim.refresh_from_db()
    assert victim.udp_connection_request_address == "203.0.113.20:7547"


@pytest.mark.django_db(transaction=True)
def test_signed_binding_moves_a_device_with_a_stun_password(stun_server, client):
    device = informed_from(
        DeviceFactory(udp_connection_request_address="203.0.113.20:7547"), "127.0.0.1"
    )
    ParameterFactory(
        device=device, path="InternetGatewayDevice.ManagementServer.STUNPassword", value="pw9"
    )
    marker = informed_from(DeviceFactory(serial_number="MARK1"), "127.0.0.1")
    port = stun_server(django=True)
    bare, _ = binding_request(attr(0x0006, device.device_id.encode()), attr(0xC001, TR111))
    for request in (bare, binding_request(attr(0x0006, b"00259E-MARK1"), attr(0xC001, TR111))[0]):
        client.sendto(request, ("127.0.0.1", port))
        assert decode(client.recv(2048))[0] == 0x0101
    expected = f"127.0.0.1:{client.getsockname()[1]}"
    _wait_for_address(marker, expected)
    device.refresh_from_db()
    assert device.udp_connection_request_address == "203.0.113.20:7547"  # unsigned: refused

    client.sendto(with_integrity(bare, b"pw9"), ("127.0.0.1", port))
    assert decode(client.recv(2048))[0] == 0x0101
    _wait_for_address(device, expected)


@pytest.mark.django_db(transaction=True)
def test_binding_request_updates_the_device_over_the_wire(stun_server, client):
    device = informed_from(DeviceFactory(), "127.0.0.1")
    port = stun_server(django=True)
    request, _ = binding_request(attr(0x0006, device.device_id.encode()), attr(0xC001, TR111))
    client.sendto(request, ("127.0.0.1", port))
    _, _, attrs = decode(client.recv(2048))
    assert address(attrs[0x0001]) == client.getsockname()
    expected = f"127.0.0.1:{client.getsockname()[1]}"
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        device.refresh_from_db()
        if device.udp_connection_request_address == expected:
            break
        time.sleep(0.02)
    assert device.udp_connection_request_address == expected


# --- Relay: UDP connection requests from the STUN socket ------------------------


@pytest.mark.django_db
def test_udp_connection_request_leaves_from_the_stun_port(stun_server, client, settings):
    port = stun_server(relay_key=stun.relay_key())
    settings.CWMP_STUN_RELAY = f"127.0.0.1:{port}"
    device = DeviceFactory(
        connection_request_username="u",
        connection_request_password="p",
        udp_connection_request_address=f"127.0.0.1:{client.getsockname()[1]}",
    )
    device.tenant.connection_request_networks = "127.0.0.0/8"
    device.tenant.save()
    result = send_udp_connection_request(device, copies=2, spacing=0.01)
    assert result.ok, result.error
    received = [client.recvfrom(2048) for _ in range(2)]
    assert all(sender == ("127.0.0.1", port) for _, sender in received)
    assert received[0][0] == received[1][0] and received[0][0].startswith(b"GET http://")


@pytest.mark.django_db
def test_relay_without_a_server_is_an_error(settings, client):
    settings.CWMP_STUN_RELAY = f"127.0.0.1:{client.getsockname()[1]}"  # nobody answers
    device = DeviceFactory(udp_connection_request_address="127.0.0.1:9")
    device.tenant.connection_request_networks = "127.0.0.0/8"
    device.tenant.save()
    result = send_udp_connection_request(device, copies=1, spacing=0)
    assert not result.ok and "did not acknowledge" in result.error


def test_relay_requests_must_be_signed_and_fresh():
    key = b"k" * 32
    message = stun.encode_relay(key, b"hello", ("127.0.0.1", 9), copies=2, spacing=0.1)
    assert stun.decode_relay(message, key) is not None
    assert stun.decode_relay(message, b"x" * 32) is None
    assert stun.decode_relay(message.replace(b'"copies": 2', b'"copies": 5'), key) is None
    stale = stun.encode_relay(
        key, b"x", ("127.0.0.1", 9), copies=1, spacing=0, now=time.time() - 600
    )
    assert stun.decode_relay(stale, key) is None
    flood = stun.encode_relay(key, b"x", ("127.0.0.1", 9), copies=500, spacing=0)
    assert stun.decode_relay(flood, key) is None


def test_forged_relay_is_ignored(stun_server, client):
    port = stun_server(relay_key=b"k" * 32)
    forged = stun.encode_relay(b"z" * 32, b"boom", client.getsockname(), copies=1, spacing=0)
    client.sendto(forged, ("127.0.0.1", port))
    client.settimeout(0.3)
    with pytest.raises(TimeoutError):
        client.recv(2048)
