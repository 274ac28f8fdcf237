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


def wsgi_dispatcher(portal: Any, cpe: Any) -> Any:
    """One WSGI application: CPE paths to ``cpe``, the rest to ``portal``.

    A new CWMP session while the server is full is refused here, before
    Django (cwmp/endpoint/overload.py).
    """
    from cwmp.endpoint.overload import refusal

    def application(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
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


def asgi_dispatcher(portal: Any, cpe: Any) -> Any:
    """The same split for ASGI HTTP scopes."""

    async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if is_cpe_path(scope.get("path", "")):
            await cpe(scope, receive, send)
        else:
            await portal(scope, receive, send)

    return application
