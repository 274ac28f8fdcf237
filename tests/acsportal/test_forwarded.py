"""X-Forwarded-Proto is believed from the trusted proxy only, on every path and server."""

from __future__ import annotations

import asyncio
import io
import sys
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from acsportal.infra.forwarded import asgi_scheme_guard, wsgi_scheme_guard
from acsportal.infra.http import trusted_proxies
from acsportal.wsgi import application

PROXY, CLIENT = "10.0.0.1", "10.0.0.2"


@pytest.fixture
def behind_tls(settings):
    """The production settings behind the TLS front, the proxy at 10.0.0.1."""
    settings.CWMP_TRUSTED_PROXIES = [f"{PROXY}/32"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_SSL_REDIRECT = True
    trusted_proxies.cache_clear()
    yield
    trusted_proxies.cache_clear()


def _call(
    app: Any, path: str, remote: str, method: str = "GET", **headers: str
) -> tuple[int, dict[str, str]]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": remote,
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": "0",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        "HTTP_HOST": "testserver",
        **{f"HTTP_{k.upper()}": v for k, v in headers.items()},
    }
    seen: dict[str, Any] = {}

    def start_response(status: str, response_headers: list, exc_info: Any = None) -> None:
        seen["status"] = int(status.split()[0])
        seen["headers"] = {k.lower(): v for k, v in response_headers}

    # As Django's test client does: keep the test's database connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        b"".join(app(environ, start_response))
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return seen["status"], seen["headers"]


@pytest.mark.django_db
def test_a_direct_clients_forwarded_proto_is_ignored(behind_tls, caplog):
    """The project's own WSGI application: a login POST from a browser on https://.

    Through the proxy the scheme is HTTPS, so the browser's Origin matches
    and CSRF goes on to the (missing) cookie; from anyone else the header is
    gone, the request is plain HTTP and the https:// Origin does not match.
    """
    origin = {"X_FORWARDED_PROTO": "https", "ORIGIN": "https://testserver"}
    with caplog.at_level("WARNING", logger="django.security.csrf"):
        status, _ = _call(application, "/admin/login/", PROXY, "POST", **origin)
    assert status == 403
    assert "CSRF cookie not set" in caplog.text and "Origin checking failed" not in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="django.security.csrf"):
        status, _ = _call(application, "/admin/login/", CLIENT, "POST", **origin)
    assert status == 403
    assert "Origin checking failed - https://testserver" in caplog.text


@pytest.mark.django_db
def test_hsts_and_the_https_redirect_believe_the_proxy_only(behind_tls):
    # A handler built now, under these settings (SecurityMiddleware reads
    # them once), wrapped as wsgi.py wraps the project's.
    app = wsgi_scheme_guard(WSGIHandler())
    status, headers = _call(app, "/admin/login/", CLIENT, X_FORWARDED_PROTO="https")
    assert status == 301 and headers["location"].startswith("https://")
    assert "strict-transport-security" not in headers
    status, headers = _call(app, "/admin/login/", PROXY, X_FORWARDED_PROTO="https")
    assert status == 200
    assert headers["strict-transport-security"].startswith("max-age=3600")
    # The proxy saying "http" is plain HTTP.
    status, _ = _call(app, "/admin/login/", PROXY, X_FORWARDED_PROTO="http")
    assert status == 301


def test_the_wsgi_guard_strips_the_header_on_every_path(settings):
    settings.CWMP_TRUSTED_PROXIES = [f"{PROXY}/32"]
    trusted_proxies.cache_clear()
    seen: list[dict[str, Any]] = []
    guarded = wsgi_scheme_guard(lambda environ, start_response: seen.append(dict(environ)) or [])
    for path in ("/cwmp/isp/", "/files/x", "/admin/"):
        guarded({"PATH_INFO": path, "REMOTE_ADDR": CLIENT, "HTTP_X_FORWARDED_PROTO": "https"}, None)
        guarded({"PATH_INFO": path, "REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_PROTO": "https"}, None)
    assert [e.get("HTTP_X_FORWARDED_PROTO") for e in seen] == [None, "https"] * 3
    # Without any trusted proxy nobody is believed.
    settings.CWMP_TRUSTED_PROXIES = []
    trusted_proxies.cache_clear()
    seen.clear()
    guarded({"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_PROTO": "https"}, None)
    assert "HTTP_X_FORWARDED_PROTO" not in seen[0]


def test_the_asgi_guard_strips_the_header_and_its_underscore_twin(settings):
    settings.CWMP_TRUSTED_PROXIES = [f"{PROXY}/32"]
    trusted_proxies.cache_clear()
    seen: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope)

    guarded = asgi_scheme_guard(app)
    headers = [
        (b"host", b"acs"),
        (b"X-Forwarded-Proto", b"https"),
        (b"x_forwarded_proto", b"https"),
    ]
    for client in (CLIENT, PROXY):
        asyncio.run(
            guarded({"type": "http", "client": (client, 1), "headers": headers}, None, None)
        )
    asyncio.run(guarded({"type": "http", "client": None, "headers": headers}, None, None))
    direct, proxied, unknown = seen
    assert direct["headers"] == [(b"host", b"acs")]
    assert proxied["headers"] == headers
    assert unknown["headers"] == [(b"host", b"acs")]


def test_the_settings_follow_the_public_urls_scheme(tmp_path):
    """ACS_TLS from ACS_PUBLIC_URL: Secure cookies, HSTS; localhost is never pinned."""
    import json
    import os
    import subprocess

    from tests.acsportal.test_settings import ROOT

    code = (
        "import json; from acsportal import settings as s; print(json.dumps(["
        "s.ACS_TLS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS,"
        " s.SECURE_HSTS_INCLUDE_SUBDOMAINS, getattr(s, 'SECURE_PROXY_SSL_HEADER', None)]))"
    )

    def read(**env: str) -> list[Any]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("ACS_", "CWMP_"))}
        base.update(ACS_VAR_DIR=str(tmp_path), SECRET_KEY="x" * 60, **env)
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=base, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    assert read() == [False, False, False, 0, False, None]
    header = ["HTTP_X_FORWARDED_PROTO", "https"]
    assert read(ACS_PUBLIC_URL="https://acs.example.net", CWMP_TRUSTED_PROXIES="10.0.0.1") == [
        True,
        True,
        True,
        365 * 86400,
        True,
        header,
    ]
    assert read(ACS_PUBLIC_URL="https://localhost:8443")[3] == 0
    assert read(ACS_TLS="true", ACS_HSTS_SECONDS="600")[:4] == [True, True, True, 600]
    assert read(ACS_PUBLIC_URL="https://acs.example.net", ACS_TLS="false")[:4] == [
        False,
        False,
        False,
        0,
    ]
