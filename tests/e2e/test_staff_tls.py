"""Staff behind the project's TLS front: the admin login works, cookies are Secure, HSTS is sent.

A real nginx (``scripts/run-tls.sh --staff-listen``) in front of the real
server, as the README's production section deploys it: the CPE listener
(client certificates, CPE paths only) and the staff listener. Before the
app believed the proxy's ``X-Forwarded-Proto``, the login POST got 403
"Origin checking failed": the browser's Origin is ``https://…`` and the app
thought it was serving plain HTTP. A client that reaches the app's own port
and claims HTTPS itself is not believed.
"""

from __future__ import annotations

import http.client
import re
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from tests.cwmp.cpe import inform_body
from tests.e2e.conftest import ROOT, Server, free_port, start_server, stop_server
from tests.e2e.test_mtls import _nginx_unavailable, _run, _stop, _wait_for_port

pytestmark = pytest.mark.e2e

USERNAME, PASSWORD = "staff-tls", "a staff password, long enough"


@dataclass
class StaffLab:
    app: Server
    cpe: str
    staff: str
    ca: Path

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


@pytest.fixture(scope="module")
def staff_lab(django_db_setup, tmp_path_factory) -> Iterator[StaffLab]:
    installed = _run([str(ROOT / "scripts/install-nginx.sh")], timeout=600)
    if installed.returncode != 0:
        _nginx_unavailable("nginx is not installed and scripts/install-nginx.sh failed")
    tmp = tmp_path_factory.mktemp("staff-tls")
    pki = tmp / "pki"
    made = _run([str(ROOT / "scripts/lab-ca.sh"), str(pki), "00259E-EG8145V5-STAFF1"], 60)
    assert made.returncode == 0, made.stderr
    cpe_port, staff_port = free_port(), free_port()
    app = start_server(
        tmp,
        CWMP_TRUSTED_PROXIES="127.0.0.1/32",
        # As deployed: the public URL is the proxy's https:// one (ACS_TLS follows).
        ACS_PUBLIC_URL=f"https://127.0.0.1:{cpe_port}",
    )
    log = tmp / "run-tls.log"
    nginx = subprocess.Popen(
        [
            str(ROOT / "scripts/run-tls.sh"),
            "--listen",
            f"127.0.0.1:{cpe_port}",
            "--staff-listen",
            f"127.0.0.1:{staff_port}",
            "--app",
            app.base.removeprefix("http://"),
            "--tls-dir",
            str(pki),
            "--prefix",
            str(tmp / "nginx"),
            "--workers",
            "1",
        ],
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_for_port(staff_port, nginx, "nginx")
    except RuntimeError as exc:
        _stop(nginx)
        stop_server(app)
        raise RuntimeError(f"{exc}\n{log.read_text(errors='replace')}") from exc
    yield StaffLab(
        app, f"https://127.0.0.1:{cpe_port}", f"https://127.0.0.1:{staff_port}", pki / "ca.crt"
    )
    _stop(nginx)
    stop_server(app)


@pytest.fixture
def staff_user(transactional_db):
    from django.contrib.auth.models import User

    # Hashed as the server's default hasher does (the tests' own is MD5, which
    # the server does not accept).
    hashed = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    return User.objects.create(username=USERNAME, password=hashed, is_staff=True, is_superuser=True)


def form_cookies(client: httpx.Client) -> list:
    return list(client.cookies.jar)


def _csrf_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, html[:2000]
    return match.group(1)


def _login(client: httpx.Client, base: str) -> httpx.Response:
    """What a browser does: the form, then its POST with the page's Origin and Referer."""
    form = client.get("/admin/login/?next=/admin/")
    assert form.status_code == 200, form.text[:500]
    return client.post(
        "/admin/login/?next=/admin/",
        data={
            "username": USERNAME,
            "password": PASSWORD,
            "next": "/admin/",
            "csrfmiddlewaretoken": _csrf_token(form.text),
        },
        headers={"Origin": base, "Referer": f"{base}/admin/login/?next=/admin/"},
    )


def test_admin_login_through_the_tls_staff_listener(staff_lab, staff_user):
    with httpx.Client(base_url=staff_lab.staff, verify=staff_lab.context(), timeout=20) as client:
        answer = _login(client, staff_lab.staff)
        assert answer.status_code == 302, f"{answer.status_code} {answer.text[:800]}"
        assert answer.headers["location"] == "/admin/"
        # Secure cookies, HSTS: the app knows it is served over HTTPS.
        cookies = answer.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("sessionid="))
        assert "Secure" in session and "HttpOnly" in session
        assert answer.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
        home = client.get("/admin/")
        assert home.status_code == 200 and "Site administration" in home.text
        csrf = [c for c in form_cookies(client) if c.name == "csrftoken"]
        assert csrf and all(c.secure for c in csrf)


def test_the_tls_cpe_listener_serves_no_staff_path(staff_lab, transactional_db):
    from tests.factories import TenantFactory

    TenantFactory(slug="stafftls")
    inform = {"content": inform_body("SN1"), "headers": {"Content-Type": "text/xml"}}
    with httpx.Client(base_url=staff_lab.cpe, verify=staff_lab.context(), timeout=20) as client:
        assert client.get("/admin/login/").status_code == 404
        challenged = client.post("/cwmp/stafftls/", **inform)  # the app's Digest challenge
        assert challenged.status_code == 401 and "Digest" in challenged.headers["www-authenticate"]
    with httpx.Client(base_url=staff_lab.staff, verify=staff_lab.context(), timeout=20) as client:
        assert client.post("/cwmp/stafftls/", **inform).status_code == 404


def test_a_direct_client_claiming_https_is_not_believed(staff_lab, staff_user):
    """Straight to the app's port from an address that is not the proxy (127.0.0.2)."""
    host, port = staff_lab.app.base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=20, source_address=("127.0.0.2", 0))
    try:
        conn.request(
            "POST",
            "/admin/login/",
            body=f"username={USERNAME}&password=x",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Forwarded-Proto": "https",
                "Origin": f"https://{host}:{port}",
            },
        )
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    assert response.status == 403
    assert "Origin checking failed" in staff_lab.app.log()
    # And nothing of HTTPS was granted it.
    assert response.getheader("Strict-Transport-Security") is None
