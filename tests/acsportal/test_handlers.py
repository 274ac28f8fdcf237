"""CPE paths skip the portal's middleware; everything else keeps it."""

from __future__ import annotations

import io
import sys

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from acsportal import handlers
from acsportal.handlers import is_cpe_path
from acsportal.wsgi import application
from tests.cwmp.cpe import inform_body
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def _call(path: str, body: bytes = b"", method: str = "POST") -> tuple[int, dict[str, str]]:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000",
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "text/xml",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    seen: dict = {}

    def start_response(status, headers, exc_info=None):
        seen["status"] = int(status.split()[0])
        seen["headers"] = {k.lower(): v for k, v in headers}

    # As Django's test client does: keep the test's database connection open
    # (the CWMP application does that upkeep itself, not through the signals).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    upkeep = handlers.close_old_connections
    handlers.close_old_connections = lambda **_: None
    try:
        b"".join(application(environ, start_response))
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
        handlers.close_old_connections = upkeep
    return seen["status"], seen["headers"]


def test_cwmp_requests_are_served_without_the_portal_middleware():
    TenantFactory(slug="isp")
    status, headers = _call("/cwmp/isp/", inform_body("SN1"))
    assert status == 401  # the CWMP view answered: challenge first
    # Set by SecurityMiddleware / XFrameOptionsMiddleware on every portal page.
    assert "x-frame-options" not in headers
    assert "x-content-type-options" not in headers


def test_portal_requests_keep_the_middleware():
    status, headers = _call("/admin/login/", method="GET")
    assert status == 200
    assert headers["x-frame-options"] == "DENY"
    assert "csrftoken" in headers.get("set-cookie", "")


def test_unknown_paths_under_cpe_prefixes_still_404():
    status, _ = _call("/cwmp/no/such/path/", method="GET")
    assert status == 404


@pytest.mark.parametrize(
    ("path", "cpe"),
    [
        ("/cwmp/", True),
        ("/cwmp/isp/", True),
        ("/files/abc/fw.bin", True),
        ("/cwmpx/", False),
        ("/admin/", False),
        ("/api/v1/devices/", False),
        ("/", False),
    ],
)
def test_which_paths_are_cpe_paths(path, cpe):
    assert is_cpe_path(path) is cpe


def test_a_new_session_is_refused_at_the_door_when_the_server_is_full(settings):
    from cwmp.endpoint.store import get_store

    TenantFactory(slug="isp")
    settings.CWMP_MAX_SESSIONS = 5
    get_store()._note_load(5)
    status, headers = _call("/cwmp/isp/", inform_body("SN1"))
    assert status == 503 and int(headers["retry-after"]) > 0
    # A session in progress (credentials or its cookie) and a non-Inform pass on to the view.
    assert _call("/cwmp/isp/", b"")[0] == 400  # no session: the view's answer
    get_store()._note_load(4)
    assert _call("/cwmp/isp/", inform_body("SN1"))[0] == 401


def test_a_new_session_is_refused_at_the_door_while_requests_queue(settings, monkeypatch):
    from cwmp.endpoint import overload

    TenantFactory(slug="isp")
    settings.CWMP_QUEUE_TARGET_MS = 250
    monkeypatch.setattr(overload.queue_watch(), "congested", lambda: True)
    status, headers = _call("/cwmp/isp/", inform_body("SN1"))
    assert status == 503 and int(headers["retry-after"]) > 0
    monkeypatch.setattr(overload.queue_watch(), "congested", lambda: False)
    assert _call("/cwmp/isp/", inform_body("SN1"))[0] == 401


def _environ(path: str) -> dict:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
    }


def test_cwmp_requests_skip_djangos_handler_but_not_its_connection_upkeep(monkeypatch):
    """Straight to the view: no request signals, but connections are still looked after."""
    from django.http import HttpResponse

    from acsportal.handlers import CwmpWSGIApplication

    calls = []
    app = CwmpWSGIApplication(fallback=lambda environ, start_response: calls.append("fallback"))
    monkeypatch.setattr(
        app, "view", lambda request, tenant_slug: calls.append(tenant_slug) or HttpResponse("ok")
    )
    monkeypatch.setattr(handlers, "close_old_connections", lambda: calls.append("upkeep"))
    fired = []
    receiver = lambda **kw: fired.append(kw)  # noqa: E731
    request_started.connect(receiver)
    request_finished.connect(receiver)
    try:
        seen = {}
        body = b"".join(app(_environ("/cwmp/isp/"), lambda s, h: seen.update(status=s)))
        app(_environ("/cwmp/"), lambda s, h: None)
        app(_environ("/cwmp/no/such/path/"), lambda s, h: None)
    finally:
        request_started.disconnect(receiver)
        request_finished.disconnect(receiver)
    assert seen["status"] == "200 OK" and body == b"ok"
    assert calls == ["upkeep", "isp", "upkeep", "upkeep", "", "upkeep", "fallback"]
    assert fired == []


def test_an_exception_in_the_cwmp_view_is_djangos_error_response(monkeypatch):
    from acsportal.handlers import CwmpWSGIApplication

    def boom(request, tenant_slug):
        raise RuntimeError("bug")

    app = CwmpWSGIApplication(fallback=None)
    monkeypatch.setattr(app, "view", boom)
    monkeypatch.setattr(handlers, "close_old_connections", lambda: None)
    seen = {}
    body = b"".join(app(_environ("/cwmp/isp/"), lambda status, h: seen.update(status=status)))
    assert seen["status"].startswith("500") and body


# --- Body limits, from Content-Length, before the body is read ----------------------


class _Unreadable(io.RawIOBase):
    """A wsgi.input that fails the test if anyone reads it."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = readinto = read


def _declared(path: str, length: str) -> tuple[int, dict[str, str], bytes]:
    seen: dict = {}

    def start_response(status, headers, exc_info=None):
        seen["status"] = int(status.split()[0])
        seen["headers"] = {k.lower(): v for k, v in headers}

    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "CONTENT_LENGTH": length,
        "wsgi.input": _Unreadable(),
    }
    body = b"".join(application(environ, start_response))
    return seen["status"], seen["headers"], body


@pytest.mark.parametrize("path", ["/cwmp/isp/", "/files/upload/x", "/admin/login/"])
def test_wsgi_refuses_an_oversize_body_without_reading_it(path, settings):
    settings.CWMP_MAX_BODY_BYTES = 1000
    settings.ACS_MAX_FILE_BYTES = 5000
    limit = 1000 if path.startswith("/cwmp/") else 5000 + 64 * 1024
    status, headers, body = _declared(path, str(limit + 1))
    assert status == 413 and headers["connection"] == "close"
    assert f"larger than {limit} bytes".encode() in body
    assert _declared(path, "12x")[0] == 400


def _asgi_app(*, reads: list[bytes]):
    """``asgi_dispatcher`` over an inner application that reads the body as Django does."""

    async def inner(scope, receive, send):
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # Django's handler: RequestAborted, nothing sent
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        reads.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return handlers.asgi_dispatcher(inner, inner)


def _asgi(path: str, headers: list[tuple[bytes, bytes]], chunks: list[bytes], reads: list):
    import asyncio

    pending = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    received: list[dict] = []
    sent: list[dict] = []

    async def receive():
        message = pending.pop(0)
        received.append(message)
        return message

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": path, "headers": headers, "method": "POST"}
    asyncio.run(_asgi_app(reads=reads)(scope, receive, send))
    return sent, received


def test_asgi_refuses_a_declared_oversize_body_before_receiving_it(settings):
    settings.CWMP_MAX_BODY_BYTES = 1000
    reads: list[bytes] = []
    sent, received = _asgi("/cwmp/isp/", [(b"content-length", b"1001")], [b"x" * 1001], reads)
    assert received == [] and reads == []
    assert sent[0]["status"] == 413 and (b"connection", b"close") in sent[0]["headers"]


def test_asgi_cuts_a_body_without_content_length_at_the_limit(settings):
    settings.CWMP_MAX_BODY_BYTES = 1000
    reads: list[bytes] = []
    sent, received = _asgi("/cwmp/isp/", [], [b"x" * 600, b"x" * 600, b"x" * 600], reads)
    assert len(received) == 2 and reads == []  # the third chunk is never asked for
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [413]


def test_asgi_passes_a_body_within_the_limit(settings):
    settings.CWMP_MAX_BODY_BYTES = 1000
    reads: list[bytes] = []
    sent, _ = _asgi("/cwmp/isp/", [(b"content-length", b"1000")], [b"x" * 500, b"y" * 500], reads)
    assert reads == [b"x" * 500 + b"y" * 500] and sent[0]["status"] == 200
