"""Django handlers for the paths only CPEs use, without the portal's middleware.

CPEs post CWMP to ``/cwmp/`` and fetch files from ``/files/``: no browser
session, no CSRF token, no messages, no clickjacking header, no user. The
portal's middleware stack does nothing for them but costs every request
(about a tenth of a periodic session's CPU when measured), so these paths
go to a handler with an empty stack; everything else gets the full one.
Both are Django's own handlers with the same settings and URLconf: request
signals (database connection upkeep), URL resolution and exception handling
are unchanged.
"""

from __future__ import annotations

from typing import Any

from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler

CPE_PATHS = ("/cwmp/", "/files/")


def _no_middleware(handler: BaseHandler, is_async: bool) -> None:
    handler._view_middleware = []
    handler._template_response_middleware = []
    handler._exception_middleware = []
    get_response = handler._get_response_async if is_async else handler._get_response
    handler._middleware_chain = convert_exception_to_response(get_response)


class CpeWSGIHandler(WSGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        _no_middleware(self, is_async)


class CpeASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        _no_middleware(self, is_async)


def is_cpe_path(path: str) -> bool:
    return path.startswith(CPE_PATHS)


def wsgi_dispatcher(portal: Any, cpe: Any) -> Any:
    """One WSGI application: CPE paths to ``cpe``, the rest to ``portal``.

    A new CWMP session while the server is full is refused here, before
    Django (cwmp/overload.py).
    """
    from cwmp.overload import refusal

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
