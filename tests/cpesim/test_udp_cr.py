"""UDP connection requests (TR-069 Annex G) and the STUN client (TR-111 Part 2), on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
import struct
import time
from urllib.parse import quote

import pytest

from cpesim import BackgroundLoop, Fleet, SimulatedCPE, UdpConnectionRequestServer
from cpesim.cli import main

from .fakeacs import FakeACS
from .helpers import async_test

IGD_MS = "InternetGatewayDevice.ManagementServer."
DEV_MS = "Device.ManagementServer."


def datagram(
    username: str,
    password: str,
    *,
    ts: int | None = None,
    msg_id: str = "1",
    cn: str = "CN0",
    sig: str | None = None,
    upper: bool = False,
) -> bytes:
    """An Annex G request built independently of cpesim (as the ACS builds it)."""
    ts_text = str(int(time.time()) if ts is None else ts)
    mac = hmac.new(
        password.encode(), f"{ts_text}{msg_id}{username}{cn}".encode(), hashlib.sha1
    ).hexdigest()
    if upper:
        mac = mac.upper()
    query = f"ts={ts_text}&id={msg_id}&un={quote(username, safe='')}&cn={cn}&sig={sig or mac}"
    return f"GET http://127.0.0.1:7547?{query} HTTP/1.1\r\nHost: 127.0.0.1:7547\r\n\r\n".encode()


def send(address: str, data: bytes) -> None:
    host, _, port = address.rpartition(":")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(data, (host, int(port)))


async def until(predicate, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


@async_test
async def test_a_signed_datagram_starts_a_connection_request_session_once():
    async with FakeACS() as acs:
        cpe = SimulatedCPE(
            "huawei-eg8145v5", acs_url=acs.url, cr_username="acs-1", cr_password="crpw", history=5
        )
        address = await cpe.start_udp_cr_listener()
        assert address.startswith("127.0.0.1:") and cpe.udp_connection_request_address == address
        assert (await cpe.run_session()).ok
        assert (
            acs.sessions[0].params[IGD_MS + "UDPConnectionRequestAddress"] == address
        )  # the ACS learns it
        server = cpe._udp
        assert server is not None

        now = int(time.time())
        good = datagram(
            "acs-1", "crpw", ts=now, msg_id="100", upper=True
        )  # the ACS writes upper-case hex
        for _ in range(3):  # the ACS retransmits identical copies
            send(address, good)
        result = await cpe.wait_session(5, after=1)
        assert result.events == ["6 CONNECTION REQUEST"]
        await until(lambda: len(server.log) == 3)
        assert [o for _, o in server.log] == ["accepted", "duplicate", "duplicate"]

        send(address, datagram("acs-1", "wrong", ts=now + 1, msg_id="101"))
        send(address, datagram("nobody", "crpw", ts=now + 1, msg_id="102"))
        send(
            address, datagram("acs-1", "crpw", ts=now - 1, msg_id="103")
        )  # older than the last one
        send(address, datagram("acs-1", "crpw", ts=now - 3600, msg_id="104"))
        send(address, b"GET / HTTP/1.1\r\n\r\n")
        await until(lambda: len(server.log) == 8)
        assert [o for _, o in server.log[3:]] == [
            "bad-signature",
            "unknown-user",
            "replay",
            "replay",
            "malformed",
        ]
        await asyncio.sleep(0.1)
        assert cpe.sessions_completed == 2

        send(address, datagram("acs-1", "crpw", ts=now, msg_id="105"))  # same ts, new id: fine
        assert (await cpe.wait_session(5, after=2)).events == ["6 CONNECTION REQUEST"]
        await cpe.stop()
        assert not server.started  # the device's own socket closes with it


def test_timestamps_outside_the_window_are_refused():
    server = UdpConnectionRequestServer(max_skew=60)
    cpe = SimulatedCPE(
        "tplink-ex220", acs_url="http://127.0.0.1:9/", cr_username="u", cr_password="p"
    )
    server.register(cpe)
    cpe._udp = server
    now = 1_700_000_000
    assert server.handle_request(datagram("u", "p", ts=now + 61, msg_id="1"), now=now) == "expired"
    assert server.handle_request(datagram("u", "p", ts=now - 61, msg_id="2"), now=now) == "expired"
    assert cpe.pending_events == []
    assert server.handle_request(datagram("u", "p", ts=now + 5, msg_id="3"), now=now) == "accepted"
    assert cpe.pending_events == [("6 CONNECTION REQUEST", "")]


@async_test
async def test_one_socket_routes_by_username_and_shared_usernames_become_serials():
    server = UdpConnectionRequestServer()
    async with FakeACS() as acs:
        devices = [
            SimulatedCPE(
                "tplink-ec220-v3",
                serial=f"EC{i}",
                acs_url=acs.url,
                cr_password="p",
                udp_cr_server=server,
            )
            for i in range(3)
        ]
        addresses = {await d.start_udp_cr_listener() for d in devices}
        assert len(addresses) == 1  # one socket for all
        # The dump's username is shared: the first device keeps it, the others use their serial.
        assert [d.connection_request_credentials()[0] for d in devices] == ["anlix", "EC1", "EC2"]
        send(server.address, datagram("EC2", "p"))
        await devices[2].wait_session(5)
        assert [s.serial for s in acs.sessions] == ["EC2"]
        assert acs.sessions[0].events == ["1 BOOT", "6 CONNECTION REQUEST"]

        # The ACS renames a device's username: datagrams follow the new name at once.
        acs.queue(
            "<cwmp:SetParameterValues><ParameterList><ParameterValueStruct>"
            f"<Name>{DEV_MS}ConnectionRequestUsername</Name>"
            '<Value xsi:type="xsd:string">renamed</Value></ParameterValueStruct></ParameterList>'
            "<ParameterKey>k</ParameterKey></cwmp:SetParameterValues>"
        )
        assert (await devices[1].run_session()).ok
        send(server.address, datagram("EC1", "p", msg_id="7"))
        send(server.address, datagram("renamed", "p", msg_id="8"))
        await devices[1].wait_session(5, after=1)
        assert [o for _, o in server.log[-2:]] == ["unknown-user", "accepted"]
        for d in devices:
            await d.stop()
        assert server.devices == {}
        await server.stop()


@async_test
async def test_fleet_and_cli_with_udp_connection_requests():
    async with FakeACS() as acs:
        fleet = Fleet(acs_url=acs.url, dumps=["zte-h199a", "tplink-ex220"], count=4, udp_cr=True)
        await fleet.run_once()
        assert fleet.udp_server is not None
        udp = {
            s.params.get(IGD_MS + "UDPConnectionRequestAddress")
            or s.params.get(DEV_MS + "UDPConnectionRequestAddress")
            for s in acs.sessions
        }
        assert udp == {fleet.udp_server.address}  # the dump's stale ZTE address is replaced
        assert sorted(d.connection_request_credentials()[0] for d in fleet.devices) == sorted(
            d.serial for d in fleet.devices
        )
        await fleet.close()
        assert not fleet.udp_server.started


def test_cli_with_udp_connection_requests():
    with BackgroundLoop() as bg:
        acs = FakeACS()
        bg.run(acs.__aenter__())
        args = [
            "--acs-url",
            acs.url,
            "--once",
            "--quiet",
            "--udp-cr-port",
            "0",
            "--dump",
            "zte-h199a",
        ]
        assert main(args) == 0
        assert (
            acs.sessions[-1].params[IGD_MS + "UDPConnectionRequestAddress"].startswith("127.0.0.1:")
        )
        bg.run(acs.__aexit__(None, None, None))


# -- STUN ------------------------------------------------------------------------------------

COOKIE = 0x2112A442


class StunResponder(asyncio.DatagramProtocol):
    """A tiny RFC 5389 server: records Binding Requests, answers with (XOR-)MAPPED-ADDRESS.

    `mapped` overrides the address it reports (to play a NAT whose binding changes);
    `xor=False` answers with MAPPED-ADDRESS only; `want_integrity` answers 401
    to requests without MESSAGE-INTEGRITY.
    """

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.mapped: tuple[str, int] | None = None
        self.xor = True
        self.want_integrity = ""
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        msg_type, length, cookie = struct.unpack_from("!HHI", data)
        tid = data[8:20]
        attrs, pos = {}, 20
        while pos < 20 + length:
            t, n = struct.unpack_from("!HH", data, pos)
            attrs[t] = (data[pos + 4 : pos + 4 + n], pos)
            pos += 4 + n + (-n % 4)
        self.requests.append(
            {"type": msg_type, "cookie": cookie, "attrs": attrs, "source": addr, "raw": data}
        )
        if self.want_integrity:
            if 0x0008 not in attrs:
                value = struct.pack("!HBB", 0, 4, 1) + b"Unauthorized"
                error = struct.pack("!HH", 0x0009, len(value)) + value
                self.transport.sendto(
                    struct.pack("!HHI", 0x0111, len(error), COOKIE) + tid + error, addr
                )
                return
            mac, offset = attrs[0x0008]
            signed = data[:2] + struct.pack("!H", offset + 24 - 20) + data[4:offset]
            assert hmac.compare_digest(
                mac, hmac.new(self.want_integrity.encode(), signed, hashlib.sha1).digest()
            )
        host, port = self.mapped or addr
        raw = socket.inet_aton(host)
        if self.xor:
            value = struct.pack("!BBH", 0, 1, port ^ (COOKIE >> 16)) + bytes(
                a ^ b for a, b in zip(raw, struct.pack("!I", COOKIE), strict=True)
            )
            attr = struct.pack("!HH", 0x0020, 8) + value
        else:
            attr = struct.pack("!HH", 0x0001, 8) + struct.pack("!BBH", 0, 1, port) + raw
        self.transport.sendto(struct.pack("!HHI", 0x0101, len(attr), COOKIE) + tid + attr, addr)


async def stun_responder() -> tuple[StunResponder, asyncio.DatagramTransport, str]:
    loop = asyncio.get_running_loop()
    transport, responder = await loop.create_datagram_endpoint(
        StunResponder, local_addr=("127.0.0.1", 0)
    )
    return responder, transport, f"127.0.0.1:{transport.get_extra_info('sockname')[1]}"


@async_test
async def test_stun_binding_requests_keep_alive_and_report_a_changed_binding():
    responder, transport, stun = await stun_responder()
    try:
        async with FakeACS() as acs:
            cpe = SimulatedCPE(
                "tplink-ex220", acs_url=acs.url, stun_server=stun, stun_interval=0.1, history=5
            )
            assert cpe.get(DEV_MS + "STUNEnable") == "true"
            address = await cpe.start_udp_cr_listener()
            assert (await cpe.run_session()).ok
            await until(lambda: len(responder.requests) >= 3)  # periodic keep-alives
            first = responder.requests[0]
            assert first["type"] == 0x0001 and first["cookie"] == COOKIE
            assert first["attrs"][0xC001][0] == b"dslforum.org/TR-111 "
            m = cpe.model
            assert first["attrs"][0x0006][0] == f"{m.oui}-{m.product_class}-{cpe.serial}".encode()
            assert 0xC002 not in first["attrs"]
            # Sent from the UDP connection-request socket: that is the binding to keep open.
            assert f"127.0.0.1:{first['source'][1]}" == address
            assert cpe.get(DEV_MS + "UDPConnectionRequestAddress") == address  # no NAT here
            assert cpe.get(DEV_MS + "NATDetected") == "false"

            mark = cpe.sessions_completed
            responder.mapped = ("127.0.0.1", 40001)  # the NAT moved the binding
            result = await cpe.wait_session(5, after=mark)
            assert result.events == ["4 VALUE CHANGE"]
            assert (
                acs.sessions[-1].params[DEV_MS + "UDPConnectionRequestAddress"] == "127.0.0.1:40001"
            )
            assert cpe.get(DEV_MS + "NATDetected") == "true"
            await until(lambda: any(0xC002 in r["attrs"] for r in responder.requests))
            changed = [i for i, r in enumerate(responder.requests) if 0xC002 in r["attrs"]]
            assert len(changed) == 1  # only the request right after the change carries it
            await cpe.stop()
            count = len(responder.requests)
            await asyncio.sleep(0.3)
            assert len(responder.requests) == count  # stopped with the device
    finally:
        transport.close()


@async_test
async def test_stun_follows_the_acs_settings_and_answers_401_with_integrity():
    responder, transport, stun = await stun_responder()
    responder.xor = False  # an RFC 3489-style server: MAPPED-ADDRESS only
    responder.want_integrity = "stunpw"
    host, port = stun.split(":")
    try:
        async with FakeACS() as acs:
            # huawei has no STUN parameters: the option alone drives it.
            cpe = SimulatedCPE(
                "huawei-eg8145v5",
                acs_url=acs.url,
                stun_server=stun,
                stun_username="{serial}-x",
                stun_interval=0.1,
            )
            await cpe.start_udp_cr_listener()
            await until(lambda: len(responder.requests) >= 1)
            assert responder.requests[0]["attrs"][0x0006][0] == b"48575443A94196A5-x"
            await asyncio.sleep(0.2)
            assert all(
                0x0008 not in r["attrs"] for r in responder.requests
            )  # no STUNPassword to sign with
            await cpe.stop()

            # ZTE has STUN* parameters, off in the dump: the ACS turns STUN on with SetParameterValues.
            cpe = SimulatedCPE("zte-h199a", acs_url=acs.url, stun_interval=0.1)
            await cpe.start_udp_cr_listener()
            before = len(responder.requests)
            acs.queue(
                "<cwmp:SetParameterValues><ParameterList>"
                + "".join(
                    f'<ParameterValueStruct><Name>{IGD_MS}{n}</Name><Value xsi:type="xsd:string">{v}</Value></ParameterValueStruct>'
                    for n, v in (
                        ("STUNServerAddress", host),
                        ("STUNServerPort", port),
                        ("STUNUsername", "zte-1"),
                        ("STUNPassword", "stunpw"),
                        ("STUNEnable", "true"),
                    )
                )
                + "</ParameterList><ParameterKey>k</ParameterKey></cwmp:SetParameterValues>"
            )
            assert (await cpe.run_session()).ok
            await until(lambda: any(0x0008 in r["attrs"] for r in responder.requests[before:]))
            signed = [r for r in responder.requests[before:] if 0x0008 in r["attrs"]]
            assert signed[0]["attrs"][0x0006][0] == b"zte-1"
            assert cpe.get(IGD_MS + "UDPConnectionRequestAddress") == cpe._udp.address
            await cpe.stop()
    finally:
        transport.close()


def test_stun_is_never_sent_to_remote_servers():
    cpe = SimulatedCPE(
        "tplink-ex220",
        acs_url="http://127.0.0.1:9/",
        stun_server="192.0.2.1:3478",
        stun_interval=0.05,
    )

    async def go():
        server = UdpConnectionRequestServer()
        await cpe.start_udp_cr_listener(server)
        sent = []
        original = server.binding

        async def spy(*args, **kwargs):
            sent.append(args)
            return await original(*args, **kwargs)

        server.binding = spy
        await asyncio.sleep(0.2)
        await cpe.stop()
        assert server.started and server.devices == {}  # a listener passed in stays up
        await server.stop()
        return sent

    assert asyncio.run(go()) == []
    assert cpe.stun_settings()[:2] == ("192.0.2.1", 3478)


@pytest.mark.parametrize("value", ["", "host:", "[::1", "h:99999"])
def test_bad_stun_addresses_are_usage_errors(value, capsys):
    assert main(["--acs-url", "http://127.0.0.1:9/", "--once", "--stun", value]) == 2
    assert "cpesim:" in capsys.readouterr().err
