"""Refusing new CWMP sessions at the door when the server is past its session limit.

Past ``CWMP_MAX_SESSIONS`` a new session gets 503 + Retry-After (TR-069
3.4.1 lets a busy ACS refuse). Turning one away inside Django still cost a
third of an accepted session (the request and response machinery, the
body, the view), and at twice the load the server can carry that work kept
it saturated, so accepted sessions queued behind refusals for seconds. Here
the first POST of a new session (an Inform, with no credentials and no
session cookie yet) is refused from the WSGI environ itself, before Django
builds a request, whenever this process last saw the store at the limit
(``SessionStore.recent_load``, no I/O). Everything else, and everything
while the server is not full, passes through untouched.
"""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings

from cwmp import codec
from cwmp.store import get_store
from cwmp.transport import COOKIE_NAME

_BODY = b"too many sessions, try later\n"


def refusal(environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes] | None:
    """The 503 for a new session while the server is full, or None to let the request in.

    May read the request body; when it lets the request in, the body is put
    back for Django to read.
    """
    load = get_store().recent_load()
    if load is None or load < settings.CWMP_MAX_SESSIONS:
        return None
    if environ.get("HTTP_AUTHORIZATION") or COOKIE_NAME in environ.get("HTTP_COOKIE", ""):
        return None  # a session in progress, or an authenticated Inform: the view decides
    if environ.get("REQUEST_METHOD") != "POST":
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if length <= 0 or length > settings.CWMP_MAX_BODY_BYTES:
        return None
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    if not codec.looks_like_inform(body):
        return None  # gzip, a continuation without cookies: the view decides
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(_BODY))),
        ("Retry-After", str(settings.CWMP_RETRY_AFTER)),
    ]
    return "503 Service Unavailable", headers, _BODY
