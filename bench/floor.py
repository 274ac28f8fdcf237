"""The floor: the least a Django CWMP endpoint can do, on the same server stack.

A complete Django project in one module (settings, URLconf, view and the
WSGI/ASGI applications) that the orchestrator serves exactly like the ACS
(``daphne bench.floor:asgi_app``, ``granian --interface wsgi
bench.floor:wsgi_app``, ``DJANGO_SETTINGS_MODULE=bench.floor``). Per request:

* a POST without ``Authorization`` gets a 401 with a Digest challenge (a
  fixed nonce: nothing is stored);
* a POST with ``Authorization: Digest`` is checked cheaply: parsed with the
  project's parser and the MD5 ``qop=auth`` response recomputed against a
  fixed HA1 (no nonce signature, no nonce-count replay check, no store);
* a non-empty body is parsed with ``cwmp.protocol.codec.parse`` (the hardened parser)
  and an Inform is answered with ``cwmp.protocol.codec.serialize`` of an
  InformResponse echoing its cwmp:ID; the empty POST gets 204.

No database, no middleware, no session state, no logging of its own
(Django's ``django.request`` warning for each 401 still goes to stderr, as it
does in the ACS). So the same simulator traffic (401, Inform, empty POST:
three requests per session) costs what the HTTP server, Django's request
handler, the XML codec and the Digest arithmetic cost, and the ratio ACS /
floor says what the rest of the ACS (middleware, database, session store,
engine, logging, live events) adds.
"""

from __future__ import annotations

import hashlib
import os

from django.http import HttpRequest, HttpResponse
from django.urls import re_path

from cwmp.protocol import codec
from cwmp.protocol import digest as auth
from cwmp.protocol import messages as m

# --- settings (this module is DJANGO_SETTINGS_MODULE) -----------------------
SECRET_KEY = "bench-floor-not-secret"  # noqa: S105
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "bench.floor"
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
DATABASES: dict[str, dict] = {}
USE_TZ = True
LOGGING_CONFIG = None

USERNAME = os.environ.get("ACS_BENCH_CPE_USERNAME", "cpe")
PASSWORD = os.environ.get("ACS_BENCH_CPE_PASSWORD", "bench-password")
REALM = "floor"
NONCE = "Zmxvb3ItZml4ZWQtbm9uY2U"
CHALLENGE = f'Digest realm="{REALM}", nonce="{NONCE}", qop="auth", algorithm=MD5'
HA1 = hashlib.md5(f"{USERNAME}:{REALM}:{PASSWORD}".encode()).hexdigest()


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _authorized(header: str | None) -> bool:
    creds = auth.parse_authorization(header)
    if not isinstance(creds, auth.DigestCredentials) or creds.username != USERNAME:
        return False
    ha2 = _md5(f"POST:{creds.uri}")
    if creds.qop:
        expected = _md5(f"{HA1}:{creds.nonce}:{creds.nc}:{creds.cnonce}:{creds.qop}:{ha2}")
    else:
        expected = _md5(f"{HA1}:{creds.nonce}:{ha2}")
    return expected == creds.response


def _challenge() -> HttpResponse:
    response = HttpResponse(b"authentication required", status=401, content_type="text/plain")
    response["WWW-Authenticate"] = CHALLENGE
    return response


def cwmp_floor(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponse(status=405)
    if not _authorized(request.META.get("HTTP_AUTHORIZATION")):
        return _challenge()
    body = request.body
    if codec.is_empty(body):
        return HttpResponse(status=204)
    try:
        envelope = codec.parse(body)
    except codec.CodecError as exc:
        return HttpResponse(exc.message.encode(), status=400, content_type="text/plain")
    if not isinstance(envelope.body, m.Inform):
        return HttpResponse(status=204)
    answer = m.Envelope(body=m.InformResponse(), cwmp_ns=envelope.cwmp_ns, id=envelope.id)
    return HttpResponse(codec.serialize(answer), content_type='text/xml; charset="utf-8"')


urlpatterns = [re_path(r"^cwmp/", cwmp_floor)]

# --- the applications (settings above are complete by now) -------------------
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.floor"

from django.core.asgi import get_asgi_application  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

wsgi_app = get_wsgi_application()
asgi_app = get_asgi_application()
