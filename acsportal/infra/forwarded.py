"""The scheme a request came by, believed from a trusted proxy only.

Behind the TLS front (nginx) the app sees plain HTTP; the proxy says the
client came over HTTPS in ``X-Forwarded-Proto``. Django reads that header
through ``SECURE_PROXY_SSL_HEADER`` but believes whoever sent it, so a
client reaching the app's own port could claim HTTPS: Secure cookies
would go out over plain HTTP, the CSRF origin check would compare against
the wrong scheme, and a CPE door that allows Basic only over TLS would
believe it. These wrappers sit outside everything (the overload door, the
CPE handlers, the portal's middleware) and remove the header unless the
connection comes from an address in ``CWMP_TRUSTED_PROXIES``, the same list
whose ``X-Forwarded-For`` is believed (``acsportal.infra.http.peer``). The
header's underscore spelling is removed too: some servers fold
``X_Forwarded_Proto`` into the same WSGI key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from acsportal.infra.http import is_trusted_proxy

WSGI_KEY = "HTTP_X_FORWARDED_PROTO"
_ASGI_NAMES = (b"x-forwarded-proto", b"x_forwarded_proto")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


def wsgi_scheme_guard(app: WSGIApp) -> WSGIApp:
    """``app`` with ``X-Forwarded-Proto`` dropped from any peer that is not a trusted proxy."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if WSGI_KEY in environ and not is_trusted_proxy(environ.get("REMOTE_ADDR") or ""):
            del environ[WSGI_KEY]
        return app(environ, start_response)

    return application


def asgi_scheme_guard(app: ASGIApp) -> ASGIApp:
    """The same for ASGI scopes (HTTP and WebSocket): the header is filtered out of the scope."""

    async def application(
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        headers = scope.get("headers")
        if headers and any(name.lower() in _ASGI_NAMES for name, _ in headers):
            client = scope.get("client") or ("", 0)
            if not is_trusted_proxy(str(client[0] or "")):
                scope = dict(scope)
                scope["headers"] = [(n, v) for n, v in headers if n.lower() not in _ASGI_NAMES]
        await app(scope, receive, send)

    return application
