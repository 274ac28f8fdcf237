"""HTTP helpers shared by the CWMP endpoint and the file server.

Both face CPEs, often through the same TLS proxy, so they must agree on who
the client is and answer refusals the same way.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def plain(status: int, message: str, **headers: str) -> HttpResponse:
    """A short text answer (a reason a person can read in a CPE's log)."""
    response = HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


@lru_cache(maxsize=1)
def trusted_proxies() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in settings.CWMP_TRUSTED_PROXIES)


def is_trusted_proxy(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted_proxies())


def client_address(request: HttpRequest) -> str:
    """The client's address as ``peer`` believes it (django-axes counts staff logins by it)."""
    return peer(request)[0]


def peer(request: HttpRequest) -> tuple[str, str]:
    """The client's address and TCP port.

    Behind a trusted proxy (``CWMP_TRUSTED_PROXIES``) these come from
    ``X-Forwarded-For`` (last hop) and ``X-Client-Port``, which the proxy
    sets from the client's connection; from anyone else they are ignored.
    """
    address = request.META.get("REMOTE_ADDR", "") or ""
    port = str(request.META.get("REMOTE_PORT", "") or "")
    if address and trusted_proxies() and is_trusted_proxy(address):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            address = forwarded.split(",")[-1].strip()
        port = request.META.get("HTTP_X_CLIENT_PORT", port).strip()
    return address, port
