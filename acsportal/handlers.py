"""Django handlers for the paths only CPEs use, without the portal's middleware.

CPEs post CWMP to ``/cwmp/`` and fetch files from ``/files/``: no browser
session, no CSRF token, no messages, no clickjacking header, no user. The
portal's middleware stack does nothing for them but costs every request
(about a tenth of a periodic session's CPU when measured), so these paths
go to a handler with an empty stack; everything else gets the full one.
Both are Django's own handlers with the same settings and URLconf. Under
WSGI, ``/cwmp/`` itself goes one step further (``CwmpWSGIApplication``):
straight to its view, without the request signals and URL resolution,
doing the database connection upkeep itself.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response, response_for_exception
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest, get_script_name
from django.db import close_old_connections
from django.urls import set_script_prefix

CPE_PATHS = ("/cwmp/", "/files/")


def _no_middleware(handler: BaseHandler, is_async: bool) -> None:
    # What BaseHandler.load_middleware sets, with no middleware: Django's private
    # handler state on purpose, which django-stubs does not declare.
    handler._view_middleware = []  # type: ignore[attr-defined]
    handler._template_response_middleware = []  # type: ignore[attr-defined]
    handler._exception_middleware = []  # type: ignore[attr-defined]
    get_response = handler._get_response_async if is_async else handler._get_response  # type: ignore[attr-defined]
    handler._middleware_chain = convert_exception_to_response(get_response)  # type: ignore[attr-defined]


class CpeWSGIHandler(WSGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        _no_middleware(self, is_async)


class CpeASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        _no_middleware(self, is_async)


def is_cpe_path(path: str) -> bool:
    return path.startswith(CPE_PATHS)


# What cwmp/urls.py routes to the endpoint: /cwmp/ and /cwmp/<slug>[/].
_CWMP_PATH = re.compile(r"/cwmp/(?:([-a-zA-Z0-9_]+)/?)?")


def is_direct_cwmp_path(path: str) -> bool:
    """Whether ``CwmpWSGIApplication`` serves ``path`` itself (without Django's handler)."""
    return _CWMP_PATH.fullmatch(path) is not None


class CwmpWSGIApplication:
    """``/cwmp/`` straight to its view: the one path every CPE session takes three times or more.

    Even without middleware, Django's handler cost 15% of a periodic
    session around the view (py-spy, ``make bench``): the request signals
    and their receivers, URL resolution, the response machinery and its
    close. Here the path is matched once and the view called directly; what
    those steps did that matters is done directly too: database connections
    past ``CONN_MAX_AGE`` or broken are closed before and after
    (``close_old_connections``, what the signals' receivers do), the script
    prefix is set for ``reverse``, and an exception becomes Django's own
    error response (logged, 500) — the view itself answers database
    failures with 503. Other ``request_started``/``request_finished``
    receivers do not run for these requests. Anything else goes to
    ``fallback`` (the middleware-less Django handler).
    """

    def __init__(self, fallback: Any) -> None:
        from cwmp.endpoint.views import cwmp_endpoint

        self.fallback = fallback
        self.view = cwmp_endpoint

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        match = _CWMP_PATH.fullmatch(environ.get("PATH_INFO", ""))
        if match is None:
            return self.fallback(environ, start_response)
        set_script_prefix(get_script_name(environ))
        close_old_connections()
        try:
            request = WSGIRequest(environ)
            try:
                response = self.view(request, tenant_slug=match.group(1) or "")
            except Exception as exc:
                response = response_for_exception(request, exc)
            headers = list(response.items())
            headers.extend(("Set-Cookie", c.OutputString()) for c in response.cookies.values())
            start_response(f"{response.status_code} {response.reason_phrase}", headers)
            return [response.content]
        finally:
            close_old_connections()


# --- Body limits, before any byte of the body is read ------------------------------


def body_limit(path: str) -> int:
    """The largest request body any view behind ``path`` accepts.

    ``/cwmp/``: ``CWMP_MAX_BODY_BYTES`` (a CWMP envelope; gzip is inflated
    under the same limit later). Everything else: the largest file
    (``ACS_MAX_FILE_BYTES``) with a multipart form's overhead, the most an
    upload from a CPE or a firmware file from the admin can be; the views
    check their own limits again, exactly.
    """
    from django.conf import settings

    if path.startswith("/cwmp/"):
        return int(settings.CWMP_MAX_BODY_BYTES)
    from cwmp.endpoint.files import MULTIPART_SLACK

    return int(settings.ACS_MAX_FILE_BYTES) + MULTIPART_SLACK


def body_refusal(path: str, content_length: str | None) -> tuple[int, str] | None:
    """(status, reason) for a request refused from its Content-Length alone, or None.

    Called once the headers are in and before the application reads the
    body, so an oversize body costs the server nothing but its headers
    (granian, which serves ``make run`` and ``make run-cluster``'s workers,
    calls the application at that point; nginx in front has its own
    ``client_max_body_size``). A body without Content-Length (chunked) is
    capped while it is read: by the views under WSGI, by
    ``asgi_dispatcher``'s receive under ASGI.
    """
    if not content_length:
        return None
    try:
        declared = int(content_length)
    except ValueError:
        return 400, "Content-Length is not a number"
    if declared < 0:
        return 400, "Content-Length is negative"
    limit = body_limit(path)
    if declared > limit:
        return 413, f"body larger than {limit} bytes"
    return None


def _refusal_parts(status: int, reason: str) -> tuple[bytes, list[tuple[str, str]]]:
    body = f"{reason}\n".encode()
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        # The body was not read: the connection cannot carry another request.
        ("Connection", "close"),
    ]
    return body, headers


def wsgi_dispatcher(portal: Any, cpe: Any) -> Any:
    """One WSGI application: CPE paths to ``cpe``, the rest to ``portal``.

    A body over its limit is refused from its Content-Length
    (``body_refusal``), and a new CWMP session while the server is full
    (cwmp/endpoint/overload.py), both here, before Django.
    """
    from cwmp.endpoint.overload import refusal

    def application(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        too_big = body_refusal(path, environ.get("CONTENT_LENGTH"))
        if too_big is not None:
            code, reason = too_big
            text, fields = _refusal_parts(code, reason)
            phrase = "Payload Too Large" if code == 413 else "Bad Request"
            start_response(f"{code} {phrase}", fields)
            return [text]
        if is_cpe_path(path):
            if path.startswith("/cwmp/"):
                refused = refusal(environ)
                if refused is not None:
                    status, headers, body = refused
                    start_response(status, headers)
                    return [body]
            return cpe(environ, start_response)
        return portal(environ, start_response)

    return application


async def _send_refusal(send: Any, status: int, reason: str) -> None:
    body, headers = _refusal_parts(status, reason)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


def asgi_dispatcher(portal: Any, cpe: Any) -> Any:
    """The same split for ASGI HTTP scopes, with the same body limits.

    A declared Content-Length over the limit is refused before the body is
    received. Django's ASGI handler reads a whole body before the view runs,
    so a body without Content-Length is counted as it arrives: past the
    limit, Django is told the client went away (it then answers nothing)
    and the 413 is sent here. Under daphne neither helps: daphne has read
    the whole body before the application is called, which is why it no
    longer serves HTTP (``acsportal.serve``).
    """

    async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope.get("type") != "http":
            handler = cpe if is_cpe_path(path) else portal
            await handler(scope, receive, send)
            return
        declared = next((v for k, v in scope.get("headers", ()) if k == b"content-length"), None)
        too_big = body_refusal(path, declared.decode("latin-1") if declared else None)
        if too_big is not None:
            await _send_refusal(send, *too_big)
            return
        limit = body_limit(path)
        received = 0
        over = False

        async def capped_receive() -> dict[str, Any]:
            nonlocal received, over
            message: dict[str, Any] = await receive()
            if message.get("type") == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        await (cpe if is_cpe_path(path) else portal)(scope, capped_receive, send)
        if over:
            await _send_refusal(send, 413, f"body larger than {limit} bytes")

    return application
