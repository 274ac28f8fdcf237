"""Connection requests (TR-069 3.2.2 HTTP, Annex G UDP) and their jobs, on real loopback sockets.

The CPE side is a small threaded HTTP server on 127.0.0.1 that demands
Digest (MD5, qop=auth) or Basic and counts hits, and plain UDP sockets; no
HTTP client or socket is mocked.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import secrets
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.core.cache import cache
from django_tasks_db.models import DBTaskResult

from cwmp.protocol.udpcr import build_udp_connection_request
from cwmp.wakeup import connreq
from cwmp.wakeup import jobs as tasks
from cwmp.wakeup.connreq import (
    DestinationRefused,
    check_address,
    send_http_connection_request,
)
from cwmp.wakeup.jobs import connection_request, request_connection, take_tenant_slot
from cwmp.wakeup.udp import parse_udp_address, send_udp_connection_request
from tests.cpesim.pki import make_pki
from tests.factories import DeviceFactory

USERNAME = "cr-user"
PASSWORD = "cr-secret-9f2"
REALM = "cpe-realm"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class CpeServer(ThreadingHTTPServer):
    """A CPE's connection-request listener: one behaviour per ``mode``, every hit recorded."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, mode: str, *, location: str = "", tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _CpeHandler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.mode = mode
        self.location = location
        self.hits: list[dict[str, str | None]] = []
        self.nonces: set[str] = set()
        self.release = threading.Event()

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/cr/dev1"

    def handle_error(self, request, client_address) -> None:  # a client that gave up
        pass


class _CpeHandler(BaseHTTPRequestHandler):
    server: CpeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def _reply(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        srv = self.server
        auth = self.headers.get("Authorization")
        srv.hits.append({"path": self.path, "host": self.headers.get("Host"), "auth": auth})
        if srv.mode == "open":
            self._reply(204)
        elif srv.mode == "slow":
            srv.release.wait(5)
            self._reply(204)
        elif srv.mode == "redirect":
            self._reply(302, {"Location": srv.location})
        elif srv.mode == "big":
            self._reply(200, body=b"x" * (200 * 1024))
        elif srv.mode == "basic":
            expected = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
            if auth == expected:
                self._reply(200)
            else:
                self._reply(401, {"WWW-Authenticate": f'Basic realm="{REALM}"'})
        elif self._digest_ok(auth):
            self._reply(200)
        else:
            nonce = secrets.token_hex(16)
            srv.nonces.add(nonce)
            challenge = f'Digest realm="{REALM}", qop="auth", nonce="{nonce}", algorithm=MD5'
            self._reply(401, {"WWW-Authenticate": challenge})

    def _digest_ok(self, header: str | None) -> bool:
        """RFC 7616 MD5 with qop=auth, checked independently of httpx."""
        if not header or not header.startswith("Digest "):
            return False
        fields = {k: a or b for k, a, b in re.findall(r'(\w+)=(?:"([^"]*)"|([^\s,]+))', header[7:])}
        if (
            fields.get("username") != USERNAME
            or fields.get("realm") != REALM
            or fields.get("nonce") not in self.server.nonces
            or fields.get("uri") != self.path
            or fields.get("qop") != "auth"
        ):
            return False
        ha1 = _md5(f"{USERNAME}:{REALM}:{PASSWORD}")
        ha2 = _md5(f"GET:{self.path}")
        expected = _md5(f"{ha1}:{fields['nonce']}:{fields['nc']}:{fields['cnonce']}:auth:{ha2}")
        return hmac.compare_digest(expected, fields.get("response", ""))


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def cpe_server():
    servers: list[CpeServer] = []

    def start(mode: str = "digest", **kwargs) -> CpeServer:
        server = CpeServer(mode, **kwargs)
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def udp_listener():
    sockets: list[socket.socket] = []

    def start() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(1.0)
        sockets.append(sock)
        return sock

    yield start
    for sock in sockets:
        sock.close()


def make_device(
    *, networks: str = "127.0.0.0/8", url: str = "", udp: str = "", password: str = PASSWORD
):
    device = DeviceFactory.create(
        connection_request_url=url,
        connection_request_username=USERNAME,
        connection_request_password=password,
        udp_connection_request_address=udp,
    )
    device.tenant.connection_request_networks = networks
    device.tenant.save(update_fields=["connection_request_networks"])
    return device


# --- HTTP ---------------------------------------------------------------------


@pytest.mark.django_db
def test_digest_connection_request_succeeds(cpe_server):
    server = cpe_server("digest")
    result = send_http_connection_request(make_device(url=server.url), timeout=2)
    assert result.ok and result.status_code == 200 and result.error == ""
    assert result.transport == "http" and result.address == "127.0.0.1"
    # No credentials before the challenge, then Digest; the Host is the URL's.
    assert [h["auth"] is None for h in server.hits] == [True, False]
    assert server.hits[1]["auth"].startswith("Digest ")
    assert {h["host"] for h in server.hits} == {f"127.0.0.1:{server.port}"}


@pytest.mark.django_db
def test_wrong_password_fails_after_one_challenge(cpe_server):
    server = cpe_server("digest")
    result = send_http_connection_request(make_device(url=server.url, password="wrong"), timeout=2)
    assert not result.ok and result.status_code == 401
    assert "401" in result.error
    assert len(server.hits) == 2


@pytest.mark.django_db
def test_basic_over_tls_when_the_cpe_asks_for_basic(cpe_server, tmp_path, settings):
    pki = make_pki(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(pki.server_cert, pki.server_key)
    settings.CWMP_CONNREQ_TLS_VERIFY = False  # a lab certificate
    server = cpe_server("basic", tls=tls)
    result = send_http_connection_request(make_device(url=server.url), timeout=2)
    assert result.ok and result.status_code == 200, result.error
    assert server.hits[0]["auth"] is None
    assert server.hits[1]["auth"].startswith("Basic ")


@pytest.mark.django_db
def test_basic_is_never_sent_over_plain_http(cpe_server):
    """Issue 10: a connection request answered a Basic challenge in clear."""
    server = cpe_server("basic")
    result = send_http_connection_request(make_device(url=server.url), timeout=2)
    assert not result.ok and result.status_code == 401
    assert "never sent over plain HTTP" in result.error
    assert [h["auth"] for h in server.hits] == [None]


@pytest.mark.django_db
def test_open_cpe_gets_no_credentials(cpe_server):
    server = cpe_server("open")
    result = send_http_connection_request(make_device(url=server.url), timeout=2)
    assert result.ok and result.status_code == 204
    assert [h["auth"] for h in server.hits] == [None]


@pytest.mark.django_db
def test_redirect_is_not_followed(cpe_server):
    target = cpe_server("open")
    server = cpe_server("redirect", location=target.url)
    result = send_http_connection_request(make_device(url=server.url), timeout=2)
    assert not result.ok and result.status_code == 302
    assert len(server.hits) == 1
    assert target.hits == []


@pytest.mark.django_db
def test_slow_cpe_times_out_within_the_bound(cpe_server):
    server = cpe_server("slow")
    started = time.monotonic()
    result = send_http_connection_request(make_device(url=server.url), timeout=0.5)
    assert time.monotonic() - started < 1.5
    assert not result.ok and result.status_code is None
    assert "no answer within 0.5 s" in result.error
    assert result.elapsed < 1.5


@pytest.mark.django_db
def test_response_body_is_capped(cpe_server):
    server = cpe_server("big")
    result = send_http_connection_request(make_device(url=server.url), timeout=2)
    assert not result.ok
    assert "larger than" in result.error


@pytest.mark.django_db
def test_hostname_is_resolved_checked_and_pinned(cpe_server):
    server = cpe_server("digest")
    url = f"http://localhost:{server.port}/cr/dev1"
    device = make_device(url=url, networks="127.0.0.0/8\n::1/128")
    result = send_http_connection_request(device, timeout=2)
    assert result.ok
    # Connected to the checked address, but the CPE sees its own URL's Host.
    assert result.address == "127.0.0.1"
    assert server.hits[-1]["host"] == f"localhost:{server.port}"


def test_a_name_is_refused_when_any_of_its_addresses_is():
    import ipaddress as ip

    allow = [ip.ip_network("127.0.0.0/8")]
    mixed = [ip.ip_address("127.0.0.1"), ip.ip_address("10.1.2.3")]
    with pytest.raises(DestinationRefused, match=r"10\.1\.2\.3"):
        connreq.checked_addresses(mixed, allow)
    with pytest.raises(DestinationRefused, match="no address"):
        connreq.checked_addresses([], allow)


@pytest.mark.django_db
def test_next_checked_address_is_tried_when_one_refuses(cpe_server, monkeypatch):
    import ipaddress as ip

    server = cpe_server("digest")

    async def two_addresses(host, port, socktype):
        # Nothing listens on 127.0.0.2 (the server is bound to 127.0.0.1 only).
        return [ip.ip_address("127.0.0.2"), ip.ip_address("127.0.0.1")]

    monkeypatch.setattr(connreq, "aresolve", two_addresses)
    device = make_device(url=f"http://cpe.invalid:{server.port}/cr/dev1")
    result = send_http_connection_request(device, timeout=2)
    assert result.ok and result.address == "127.0.0.1"
    assert server.hits[-1]["host"] == f"cpe.invalid:{server.port}"


@pytest.mark.django_db
def test_outside_the_allowlist_is_refused_without_a_packet():
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    try:
        device = make_device(url=f"http://127.0.0.1:{port}/", networks="10.0.0.0/8")
        result = send_http_connection_request(device, timeout=1)
        assert not result.ok and result.refused and result.status_code is None
        assert "outside" in result.error
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()


@pytest.mark.django_db
def test_empty_allowlist_refuses_everything(cpe_server):
    server = cpe_server("open")
    result = send_http_connection_request(make_device(url=server.url, networks=""), timeout=1)
    assert not result.ok and result.refused
    assert "empty" in result.error
    assert server.hits == []


@pytest.mark.parametrize(
    ("url", "networks"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.0.0/16"),
        ("http://169.254.169.254/", "0.0.0.0/0"),
        ("http://[fd00:ec2::254]/", "fd00::/8"),
        ("http://100.100.100.200/", "100.64.0.0/10"),
        ("http://169.254.10.1:7547/", "0.0.0.0/0"),
        ("http://[fe80::1]:7547/", "::/0"),
        ("http://127.0.0.1:7547/", "0.0.0.0/0"),
        ("http://[::1]:7547/", "::/0"),
        ("http://[::ffff:127.0.0.1]:7547/", "0.0.0.0/0"),
        ("http://[::ffff:169.254.169.254]/", "169.254.0.0/16"),
        ("http://[64:ff9b::a9fe:a9fe]/", "0.0.0.0/0"),  # the metadata address through NAT64
        ("http://[64:ff9b::a9fe:a9fe]/", "64:ff9b::/96"),
        ("http://[64:ff9b::7f00:1]:7547/", "0.0.0.0/0"),
        ("http://0.0.0.0:7547/", "0.0.0.0/0"),
        ("http://224.0.0.1:7547/", "0.0.0.0/0"),
        ("http://255.255.255.255:7547/", "0.0.0.0/0"),
    ],
)
@pytest.mark.django_db
def test_guarded_addresses_need_an_explicit_entry(url, networks):
    result = send_http_connection_request(make_device(url=url, networks=networks), timeout=1)
    assert not result.ok and result.refused, result.error
    assert "not explicitly allowed" in result.error


def test_explicit_entries_open_guarded_blocks():
    import ipaddress as ip

    def nets(*values):
        return [ip.ip_network(v) for v in values]

    assert check_address(ip.ip_address("127.0.0.1"), nets("127.0.0.0/8")) is None
    assert check_address(ip.ip_address("::1"), nets("::1/128")) is None
    assert check_address(ip.ip_address("169.254.169.254"), nets("169.254.169.254/32")) is None
    assert check_address(ip.ip_address("169.254.169.254"), nets("169.254.0.0/16")) is not None
    assert check_address(ip.ip_address("169.254.3.3"), nets("169.254.0.0/16")) is None
    assert check_address(ip.ip_address("203.0.113.5"), nets("0.0.0.0/0")) is None
    assert check_address(ip.ip_address("203.0.113.5"), nets("10.0.0.0/8")) is not None
    # NAT64 and IPv4-mapped spellings are judged as the IPv4 they embed.
    assert check_address(ip.ip_address("64:ff9b::cb00:7105"), nets("203.0.113.0/24")) is None
    assert check_address(ip.ip_address("64:ff9b::cb00:7105"), nets("64:ff9b::/96")) is None
    assert check_address(ip.ip_address("64:ff9b::7f00:1"), nets("127.0.0.0/8")) is None
    assert check_address(ip.ip_address("::ffff:10.0.0.1"), nets("10.0.0.0/8")) is None


@pytest.mark.parametrize(
    "url",
    [
        "",
        "ftp://127.0.0.1/",
        "file:///etc/passwd",
        "http://user:pw@127.0.0.1:7547/",
        "http://@127.0.0.1:7547/",
        "http:///no-host",
        "http://127.0.0.1:99999/",
        "http://127.0.0.1:7547/a b",
        "http://127.0.0.1:7547/\r\nX-Injected: 1",
    ],
)
@pytest.mark.django_db
def test_malformed_urls_are_refused(url):
    result = send_http_connection_request(make_device(url=url), timeout=1)
    assert not result.ok and result.refused


@pytest.mark.django_db
def test_passwords_never_reach_the_log(cpe_server, caplog):
    caplog.set_level("DEBUG")
    server = cpe_server("digest")
    send_http_connection_request(make_device(url=server.url), timeout=2)
    send_http_connection_request(make_device(url=server.url, password="other-pw-77"), timeout=2)
    send_http_connection_request(make_device(url="http://u:url-pw-5@127.0.0.1:1/"), timeout=1)
    for secret in (PASSWORD, "other-pw-77", "url-pw-5"):
        assert secret not in caplog.text
    assert "HTTP" in caplog.text


# --- UDP (Annex G) -----------------------------------------------------------


def _parse_udp(datagram: bytes, authority: str) -> dict[str, str]:
    text = datagram.decode()
    assert text.endswith("\r\n\r\n")
    request_line, host_line = text.split("\r\n")[:2]
    assert host_line == f"Host: {authority}"
    match = re.fullmatch(r"GET (\S+) HTTP/1\.1", request_line)
    assert match
    uri = urlsplit(match.group(1))
    assert f"{uri.scheme}://{uri.netloc}" == f"http://{authority}" and uri.path == ""
    pairs = parse_qsl(uri.query, keep_blank_values=True, strict_parsing=True)
    assert [k for k, _ in pairs] == ["ts", "id", "un", "cn", "sig"]
    return dict(pairs)


def _expected_sig(password: str, f: dict[str, str]) -> str:
    text = (f["ts"] + f["id"] + f["un"] + f["cn"]).encode()
    return hmac.new(password.encode(), text, hashlib.sha1).hexdigest()


@pytest.mark.django_db
def test_udp_request_is_signed_and_repeated(udp_listener):
    sock = udp_listener()
    authority = f"127.0.0.1:{sock.getsockname()[1]}"
    device = make_device(udp=authority)
    result = send_udp_connection_request(device, copies=3, spacing=0.01)
    assert result.ok and result.transport == "udp" and result.address == authority
    copies = [sock.recvfrom(2048)[0] for _ in range(3)]
    sock.settimeout(0.2)
    with pytest.raises(TimeoutError):
        sock.recvfrom(2048)
    assert copies[0] == copies[1] == copies[2]  # identical: the CPE acts once
    fields = _parse_udp(copies[0], authority)
    assert fields["un"] == USERNAME
    assert abs(int(fields["ts"]) - time.time()) < 5
    assert fields["id"].isdigit() and len(fields["cn"]) >= 8
    assert fields["sig"] == _expected_sig(PASSWORD, fields).upper()


def test_udp_username_is_encoded_but_signed_raw():
    datagram = build_udp_connection_request(
        "192.0.2.1:5000", username="a b&c", password="pw", ts=1120673700, message_id="1234"
    )
    text = datagram.decode()
    assert "un=a%20b%26c&" in text
    fields = _parse_udp(datagram, "192.0.2.1:5000")
    assert fields["un"] == "a b&c" and fields["ts"] == "1120673700" and fields["id"] == "1234"
    assert fields["sig"] == _expected_sig("pw", fields).upper()


@pytest.mark.django_db
def test_udp_outside_the_allowlist_sends_nothing(udp_listener):
    sock = udp_listener()
    device = make_device(udp=f"127.0.0.1:{sock.getsockname()[1]}", networks="10.0.0.0/8")
    result = send_udp_connection_request(device, copies=2, spacing=0.01)
    assert not result.ok and result.refused
    sock.settimeout(0.2)
    with pytest.raises(TimeoutError):
        sock.recvfrom(2048)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("203.0.113.7:30005", ("203.0.113.7", 30005)),
        ("[2001:db8::1]:7547", ("2001:db8::1", 7547)),
        ("cpe.example.net:9000", ("cpe.example.net", 9000)),
        ("203.0.113.7", ("203.0.113.7", 80)),
    ],
)
def test_udp_address_forms(value, expected):
    assert parse_udp_address(value) == expected


@pytest.mark.parametrize("value", ["", "host:0", "host:70000", "host:x", "[::1", "a b:1"])
def test_udp_address_garbage(value):
    with pytest.raises(DestinationRefused):
        parse_udp_address(value)


# --- Jobs and rate limits -----------------------------------------------------


@pytest.mark.django_db
def test_job_wakes_the_device_over_http(cpe_server):
    server = cpe_server("digest")
    device = make_device(url=server.url)
    report = connection_request.call(device.pk)
    assert report["outcome"] == "ok" and report["transport"] == "http"
    assert report["device_id"] == device.device_id
    assert len(report["attempts"]) == 1
    json.dumps(report)  # a job's return value is stored as JSON
    assert len(server.hits) == 2


@pytest.mark.django_db
def test_job_falls_back_to_udp_when_http_cannot_reach(udp_listener, settings):
    settings.CWMP_CONNREQ_UDP_SPACING = 0.01
    sock = udp_listener()
    # A private address behind NAT: not in the allow-list, so refused at once.
    device = make_device(
        url="http://192.168.1.20:7547/cr", udp=f"127.0.0.1:{sock.getsockname()[1]}"
    )
    report = connection_request.call(device.pk)
    assert report["outcome"] == "ok" and report["transport"] == "udp"
    assert [a["transport"] for a in report["attempts"]] == ["http", "udp"]
    assert report["attempts"][0]["refused"]
    assert sock.recvfrom(2048)[0].startswith(b"GET http://127.0.0.1:")


@pytest.mark.django_db
def test_job_does_not_use_udp_when_the_cpe_answered(cpe_server, udp_listener):
    server = cpe_server("digest")
    sock = udp_listener()
    device = make_device(url=server.url, udp=f"127.0.0.1:{sock.getsockname()[1]}", password="wrong")
    report = connection_request.call(device.pk)
    assert report["outcome"] == "failed" and report["transport"] == "http"
    assert len(report["attempts"]) == 1 and report["attempts"][0]["status_code"] == 401
    sock.settimeout(0.2)
    with pytest.raises(TimeoutError):
        sock.recvfrom(2048)


@pytest.mark.django_db
def test_job_never_raises_for_a_missing_or_unreachable_device():
    assert connection_request.call(999_999)["outcome"] == "no_device"
    assert connection_request.call(make_device().pk)["outcome"] == "no_address"
    report = connection_request.call(make_device(url="http://127.0.0.1:1/").pk)
    assert report["outcome"] == "failed" and "connect" in report["error"]


@pytest.mark.django_db
def test_request_connection_enqueues_once_per_device_window():
    device, other = make_device(url="http://127.0.0.1:1/"), make_device()
    first = request_connection(device)
    assert first.status == "enqueued" and first.task_id
    row = DBTaskResult.objects.get(id=first.task_id)
    assert row.task_path == "cwmp.wakeup.jobs.connection_request"
    assert row.args_kwargs == {"args": [device.pk], "kwargs": {}}

    second = request_connection(device)
    assert second.status == "coalesced" and second.task_id == first.task_id
    assert request_connection(other).status == "enqueued"
    assert DBTaskResult.objects.count() == 2


@pytest.mark.django_db
def test_device_window_can_be_disabled(settings):
    settings.CWMP_CONNREQ_DEVICE_INTERVAL = 0
    device = make_device()
    assert request_connection(device).status == "enqueued"
    assert request_connection(device).status == "enqueued"
    assert DBTaskResult.objects.count() == 2


@pytest.mark.django_db
def test_request_connection_wait_runs_inline(cpe_server):
    server = cpe_server("digest")
    device = make_device(url=server.url)
    ticket = request_connection(device, wait=True)
    assert ticket.status == "done" and ticket.result["outcome"] == "ok"
    assert DBTaskResult.objects.count() == 0
    assert request_connection(device, wait=True).status == "coalesced"
    assert len(server.hits) == 2


def test_tenant_window_counts_per_second():
    assert [take_tenant_slot(1, rate=2, now=1000.1) for _ in range(3)] == [True, True, False]
    assert take_tenant_slot(2, rate=2, now=1000.5)  # another tenant
    assert take_tenant_slot(1, rate=2, now=1001.0)  # the next window
    assert all(take_tenant_slot(1, rate=0, now=1000.2) for _ in range(10))  # unlimited


@pytest.mark.django_db
def test_job_requeues_itself_when_the_tenant_window_is_full(cpe_server, monkeypatch):
    server = cpe_server("digest")
    device = make_device(url=server.url)
    monkeypatch.setattr(tasks, "_acquire_tenant_slot", lambda tenant_id: False)
    assert connection_request.call(device.pk)["outcome"] == "deferred"
    row = DBTaskResult.objects.get()
    assert row.args_kwargs == {"args": [device.pk], "kwargs": {"deferrals": 1}}
    assert row.run_after is not None
    last = connection_request.call(device.pk, deferrals=tasks.MAX_DEFERRALS)
    assert last["outcome"] == "rate_limited"
    assert request_connection(device, wait=True).result["outcome"] == "rate_limited"
    assert server.hits == []


@pytest.mark.django_db
def test_tenant_rate_applies_across_jobs(cpe_server, settings, monkeypatch):
    settings.CWMP_CONNREQ_TENANT_RATE = 1
    server = cpe_server("open")
    device = make_device(url=server.url)
    now = [5000.2]
    monkeypatch.setattr(tasks, "_now", lambda: now[0])
    monkeypatch.setattr(tasks, "_sleep", lambda seconds: None)  # the clock stands still
    assert connection_request.call(device.pk)["outcome"] == "ok"
    assert connection_request.call(device.pk)["outcome"] == "deferred"
    now[0] = 5001.3
    assert connection_request.call(device.pk)["outcome"] == "ok"
    assert len(server.hits) == 2


# --- many devices at once ---------------------------------------------------------


@pytest.mark.django_db
def test_request_connections_queues_a_few_batch_jobs(settings):
    devices = [make_device(url=f"http://127.0.0.1:1/{n}") for n in range(5)]
    bulk = tasks.request_connections(devices, batch_size=2)
    assert (bulk.devices, bulk.coalesced, len(bulk.jobs)) == (5, 0, 3)
    rows = DBTaskResult.objects.order_by("enqueued_at")
    assert {r.task_path for r in rows} == {"cwmp.wakeup.jobs.connection_requests"}
    assert sorted(pk for r in rows for pk in r.args_kwargs["args"][0]) == sorted(
        d.pk for d in devices
    )
    # Inside the device window a second ask is coalesced, alone or in bulk.
    again = tasks.request_connections(devices[:2])
    assert (again.devices, again.coalesced, again.jobs) == (0, 2, [])
    assert request_connection(devices[0]).status == "coalesced"


@pytest.mark.django_db
def test_a_batch_wakes_every_device_and_reports_each_outcome(cpe_server, settings):
    settings.CWMP_CONNREQ_CONCURRENCY = 3
    server = cpe_server("digest")
    good = [make_device(url=server.url) for _ in range(6)]
    wrong = make_device(url=server.url, password="not-the-password")
    nowhere = make_device()
    report = tasks.connection_requests.call([d.pk for d in good] + [wrong.pk, nowhere.pk, -5])
    assert report["devices"] == 9
    assert report["outcomes"] == {"ok": 6, "failed": 1, "no_address": 1, "no_device": 1}
    assert {f["device"] for f in report["failures"]} == {wrong.pk, nowhere.pk, -5}
    # Every good device was reached with its own Digest answer (and the wrong one tried).
    assert sum(1 for h in server.hits if h["auth"]) >= 7


@pytest.mark.django_db
def test_a_batch_keeps_to_the_tenant_rate(cpe_server, settings, monkeypatch):
    settings.CWMP_CONNREQ_TENANT_RATE = 2
    server = cpe_server("digest")
    devices = [make_device(url=server.url) for _ in range(5)]
    for device in devices[1:]:  # one tenant, so one budget
        device.tenant = devices[0].tenant
        device.save(update_fields=["tenant"])
    clock = {"now": 5000.2}
    monkeypatch.setattr(tasks, "_now", lambda: clock["now"])
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds: float) -> None:
        clock["now"] += seconds  # time passes only when the batch waits for a window
        await real_sleep(0)

    monkeypatch.setattr(tasks.asyncio, "sleep", fake_sleep)
    report = tasks.run_connection_requests([d.pk for d in devices], concurrency=5)
    assert report["outcomes"] == {"ok": 5}
    # Five requests at two per second: the batch waited into the third window.
    assert 5002.0 <= clock["now"] < 5003.0
