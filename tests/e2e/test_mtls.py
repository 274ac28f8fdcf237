"""CWMP over HTTPS with client certificates, as operators deploy it (TR-069 3.4.4/3.4.5).

A real nginx (installed by ``scripts/install-nginx.sh``, configured by
``scripts/run-tls.sh``) terminates TLS in front of a dedicated app server,
verifies CPE certificates against a lab CA made by ``scripts/lab-ca.sh`` and
forwards the verdict in the ``X-SSL-Client-*`` headers, which the app trusts
from that proxy only. The simulator is the CPE.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cpesim import SimulatedCPE
from devices.identity import make_device_id
from devices.models import Device, SessionLog
from tests.e2e.conftest import ROOT, Server, free_port, start_server, stop_server
from tests.e2e.test_sessions import assert_completed

pytestmark = pytest.mark.e2e

DUMP = "huawei-eg8145v5"
SERIAL = "TLS0000001"
OTHER_SERIAL = "TLS0000002"


def _device_id(serial: str) -> str:
    cpe = SimulatedCPE(DUMP, acs_url="https://127.0.0.1/", serial=serial)
    info = cpe.tree.root + "DeviceInfo."
    return make_device_id(cpe.get(info + "ManufacturerOUI"), cpe.get(info + "ProductClass"), serial)


DEVICE_ID = _device_id(SERIAL)
OTHER_DEVICE_ID = _device_id(OTHER_SERIAL)


def _cert_name(cn: str) -> str:
    """The file name scripts/lab-ca.sh gives a CN."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in cn)


@dataclass
class TLSLab:
    app: Server
    nginx: subprocess.Popen
    port: int
    prefix: Path
    pki: Path
    rogue: Path
    ca_dn: str

    def url(self, slug: str) -> str:
        return f"https://127.0.0.1:{self.port}/cwmp/{slug}/"

    def context(self, cert: str | None = None, *, pki: Path | None = None) -> ssl.SSLContext:
        """A CPE's TLS context: trusts the lab CA, presents ``cert`` (a CN) if given."""
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        if cert is not None:
            base = (pki or self.pki) / "clients" / _cert_name(cert)
            ctx.load_cert_chain(f"{base}.crt", f"{base}.key")
        return ctx

    def logs(self) -> str:
        nginx_logs = "".join(
            f"--- {p.name} ---\n{p.read_text(errors='replace')[-2000:]}\n"
            for p in sorted((self.prefix / "logs").glob("*.log"))
        )
        return f"{nginx_logs}--- app ---\n{self.app.log()[-3000:]}"


def _run(cmd: list[str], timeout: float, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env},
    )


def _wait_for_port(port: int, process: subprocess.Popen, what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout}s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # nginx: fast shutdown of master and workers
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its own group: workers too
        process.wait(5)


def _required() -> bool:
    """CI (or ``ACS_REQUIRE_NGINX``) must run these tests, never skip them."""
    return any(
        os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")
        for name in ("CI", "ACS_REQUIRE_NGINX")
    )


def _nginx_unavailable(reason: str) -> None:
    """Without nginx: a failure where the tests are required, a skip on a developer's machine."""
    if _required():
        pytest.fail(f"{reason}\n(CI or ACS_REQUIRE_NGINX is set: nginx is required)", False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def tls_lab(django_db_setup, tmp_path_factory) -> Iterator[TLSLab]:
    # The project's own script: the Debian package, installed once (apt-get, as root).
    try:
        installed = _run([str(ROOT / "scripts/install-nginx.sh")], timeout=600)
    except subprocess.TimeoutExpired:
        _nginx_unavailable("scripts/install-nginx.sh did not finish in 600 s")
        raise  # not reached
    if installed.returncode != 0:
        _nginx_unavailable(
            "nginx is not installed and scripts/install-nginx.sh could not install it:\n"
            + (installed.stdout + installed.stderr)[-1500:]
        )

    tmp = tmp_path_factory.mktemp("mtls")
    pki, rogue = tmp / "pki", tmp / "rogue"
    made = _run([str(ROOT / "scripts/lab-ca.sh"), str(pki), DEVICE_ID, OTHER_DEVICE_ID], timeout=60)
    assert made.returncode == 0, made.stderr
    ca_dn = made.stdout.strip()
    assert ca_dn.startswith("CN=") and "\n" not in ca_dn, made.stdout
    # Another CA with the very same name: only nginx's signature check can
    # tell its certificates apart (the app compares issuer names).
    ca_cn = ca_dn.split(",")[0].removeprefix("CN=")
    made = _run([str(ROOT / "scripts/lab-ca.sh"), str(rogue), DEVICE_ID], 60, LAB_CA_NAME=ca_cn)
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == ca_dn

    app = start_server(tmp, CWMP_TRUSTED_PROXIES="127.0.0.1/32")
    port = free_port()
    prefix = tmp / "nginx"
    nginx_log = tmp / "run-tls.log"
    nginx = subprocess.Popen(
        [
            str(ROOT / "scripts/run-tls.sh"),
            "--listen",
            f"127.0.0.1:{port}",
            "--app",
            app.base.removeprefix("http://"),
            "--tls-dir",
            str(pki),
            "--prefix",
            str(prefix),
            "--workers",
            "1",
        ],
        cwd=ROOT,
        stdout=nginx_log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    lab = TLSLab(app, nginx, port, prefix, pki, rogue, ca_dn)
    try:
        _wait_for_port(port, nginx, "nginx")
    except RuntimeError as exc:
        _stop(nginx)
        stop_server(app)
        raise RuntimeError(f"{exc}\n{nginx_log.read_text(errors='replace')}\n{lab.logs()}") from exc
    yield lab
    _stop(nginx)
    stop_server(app)


@pytest.fixture
def cert_tenant(transactional_db, tls_lab):
    from tests.factories import TenantFactory

    return TenantFactory(slug="tls", cpe_auth_methods="certificate", cpe_cert_issuer=tls_lab.ca_dn)


def _boot(lab: TLSLab, ctx: ssl.SSLContext, serial: str = SERIAL, slug: str = "tls", **kw):
    cpe = SimulatedCPE(
        DUMP, serial=serial, acs_url=lab.url(slug), ssl_context=ctx, timeout=10, **kw
    )
    return asyncio.run(cpe.boot())


def _nothing_stored(tenant) -> None:
    assert not Device.objects.filter(tenant=tenant).exists()
    assert not SessionLog.objects.filter(tenant=tenant).exists()


def test_boot_session_over_mutual_tls(cert_tenant, tls_lab):
    result = _boot(tls_lab, tls_lab.context(DEVICE_ID))
    assert_completed(result, tls_lab.app)
    device = Device.objects.get(tenant=cert_tenant, serial_number=SERIAL)
    assert device.device_id == DEVICE_ID
    log = SessionLog.objects.get(device=device)
    assert log.outcome == "ok"
    assert "1 BOOT" in log.events
    access = (tls_lab.prefix / "logs/access.log").read_text()
    assert "verify=SUCCESS" in access and f"CN={DEVICE_ID}" in access


def test_no_client_certificate_is_refused_by_the_app(cert_tenant, tls_lab):
    result = _boot(tls_lab, tls_lab.context())
    assert not result.ok
    assert result.statuses == [403], f"{result}\n{result.transcript}\n{tls_lab.logs()}"
    _nothing_stored(cert_tenant)


def test_certificate_of_another_ca_is_refused_by_nginx(cert_tenant, tls_lab):
    # Same CN, same issuer name, but not signed by the tenant's CA.
    result = _boot(tls_lab, tls_lab.context(DEVICE_ID, pki=tls_lab.rogue))
    assert not result.ok
    # nginx ends it: in the handshake or with its 400 (TLS 1.3 checks the
    # certificate after the handshake); the app never answers.
    assert 403 not in result.statuses and 200 not in result.statuses, result.transcript
    assert result.statuses in ([], [400]), f"{result}\n{result.transcript}"
    _nothing_stored(cert_tenant)


def test_certificate_of_another_device_is_refused(cert_tenant, tls_lab):
    result = _boot(tls_lab, tls_lab.context(OTHER_DEVICE_ID))
    assert not result.ok
    assert result.statuses == [403], f"{result}\n{result.transcript}\n{tls_lab.logs()}"
    _nothing_stored(cert_tenant)


def _spoofed_inform(lab: TLSLab) -> tuple[bytes, dict[str, str]]:
    cpe = SimulatedCPE(DUMP, serial=SERIAL, acs_url=lab.url("tls"))
    body, _ = cpe.build_inform([("1 BOOT", "")])
    headers = {
        "Content-Type": "text/xml; charset=utf-8",
        "X-SSL-Client-Verify": "SUCCESS",
        "X-SSL-Client-S-DN": f"CN={DEVICE_ID}",
        "X-SSL-Client-I-DN": lab.ca_dn,
        "X-Forwarded-For": "127.0.0.1",
        "X-Client-Port": "1",
    }
    return body, headers


def _post(conn: http.client.HTTPConnection, body: bytes, headers: dict[str, str]):
    try:
        conn.request("POST", "/cwmp/tls/", body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


def test_certificate_headers_from_a_client_are_ignored(cert_tenant, tls_lab):
    body, headers = _spoofed_inform(tls_lab)
    # Straight to the app over plain HTTP, from a loopback address that is
    # not the trusted proxy (127.0.0.1/32): the headers mean nothing.
    host, port = tls_lab.app.base.removeprefix("http://").split(":")
    direct = http.client.HTTPConnection(
        host, int(port), timeout=10, source_address=("127.0.0.2", 0)
    )
    status, text = _post(direct, body, headers)
    assert status == 403, text
    assert "certificate is required" in text
    # Through nginx without a certificate: nginx replaces the client's
    # headers with its own verdict (NONE), so the app refuses again.
    via_proxy = http.client.HTTPSConnection(
        "127.0.0.1", tls_lab.port, timeout=10, context=tls_lab.context()
    )
    status, text = _post(via_proxy, body, headers)
    assert status == 403, text
    assert "certificate is required" in text
    _nothing_stored(cert_tenant)


def test_digest_over_tls_without_a_certificate(transactional_db, tls_lab):
    from tests.factories import CPE_PASSWORD, CPE_USERNAME, TenantFactory

    tenant = TenantFactory(
        slug="tlsdigest", cpe_auth_methods="certificate,digest", cpe_cert_issuer=tls_lab.ca_dn
    )
    result = _boot(
        tls_lab,
        tls_lab.context(),
        serial=OTHER_SERIAL,
        slug="tlsdigest",
        username=CPE_USERNAME,
        password=CPE_PASSWORD,
    )
    assert_completed(result, tls_lab.app)
    assert result.statuses[0] == 401  # challenged, then Digest over TLS
    device = Device.objects.get(tenant=tenant, serial_number=OTHER_SERIAL)
    assert SessionLog.objects.get(device=device).outcome == "ok"


@pytest.mark.parametrize(
    ("environ", "outcome"),
    [
        ({}, "skip"),
        ({"CI": "false"}, "skip"),
        ({"ACS_REQUIRE_NGINX": "0"}, "skip"),
        ({"CI": "true"}, "fail"),
        ({"CI": "1"}, "fail"),
        ({"ACS_REQUIRE_NGINX": "1"}, "fail"),
    ],
)
def test_missing_nginx_fails_where_required_and_skips_elsewhere(monkeypatch, environ, outcome):
    for name in ("CI", "ACS_REQUIRE_NGINX"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    expected = pytest.fail.Exception if outcome == "fail" else pytest.skip.Exception
    with pytest.raises(expected, match="could not install"):
        _nginx_unavailable("nginx could not install")


def test_ci_entry_point_requires_nginx():
    """.ci/run makes a missing nginx a failure, not a silent skip."""
    script = (ROOT / ".ci" / "run").read_text()
    assert "export ACS_REQUIRE_NGINX=1" in script
