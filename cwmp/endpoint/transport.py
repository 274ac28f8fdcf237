"""HTTP-level helpers of the CWMP endpoint: body, peer, cookies, tenants.

Kept apart from the view so each field quirk has one small, tested place.
"""

from __future__ import annotations

import re
import threading
import time
import zlib

from django.conf import settings
from django.http import HttpRequest

from acsportal.infra.http import is_trusted_proxy, peer, trusted_proxies
from tenants.models import Tenant

__all__ = ["peer"]  # re-exported: the CWMP view's view of the client

COOKIE_NAME = "cwmpsid"
_SID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def read_body(request: HttpRequest, limit: int) -> bytes:
    """The request body, gunzipped if needed, never more than ``limit`` bytes.

    The length is checked before reading and again while inflating, so
    neither a huge body nor a gzip bomb costs more than ``limit`` of memory.
    """
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise BodyError(400, "Content-Length is not a number") from None
    if declared > limit:
        raise BodyError(413, f"body larger than {limit} bytes")
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise BodyError(413, f"body larger than {limit} bytes")
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower()
    # Some CPEs gzip without saying so: the magic number tells.
    if encoding in ("gzip", "x-gzip", "deflate") or raw[:2] == b"\x1f\x8b":
        wbits = 47 if encoding != "deflate" else 15  # 47: zlib or gzip header
        inflater = zlib.decompressobj(wbits)
        try:
            body = inflater.decompress(raw, limit + 1)
        except zlib.error:
            raise BodyError(400, "body is not valid gzip") from None
        if len(body) > limit or inflater.unconsumed_tail:
            raise BodyError(413, f"body larger than {limit} bytes once inflated")
        return body
    return raw


def session_cookie(request: HttpRequest) -> str | None:
    """Our session id from the Cookie header, however the CPE wrote it.

    CPEs echo cookies back with their attributes (``Path=/; HttpOnly``),
    join several with commas, or repeat ours; Django's parser would take
    ``sid, other=x`` as one value, so the header is read here by hand.
    """
    header = request.META.get("HTTP_COOKIE", "")
    if not header:
        return None
    for part in re.split(r"[;,]", header):
        name, sep, value = part.strip().partition("=")
        if sep and name.strip() == COOKIE_NAME:
            value = value.strip().strip('"')
            if _SID.match(value):
                return value
    return None


_tenants: dict[str, tuple[float, Tenant | None]] = {}
_tenants_lock = threading.Lock()


def tenant_for_slug(slug: str) -> Tenant | None:
    """The tenant of a CWMP URL, cached briefly in the process.

    Every CWMP request needs it; a few seconds of staleness after an
    operator changes tenant settings is the price of not querying it each
    time.
    """
    ttl = settings.CWMP_TENANT_CACHE_SECONDS
    now = time.monotonic()
    if ttl > 0:
        hit = _tenants.get(slug)
        if hit and hit[0] > now:
            return hit[1]
    if slug:
        tenant = Tenant.objects.filter(slug=slug, is_active=True).first()
    else:
        # The default URL works only while exactly one tenant exists: with
        # two, a CPE must say which it belongs to.
        only = list(Tenant.objects.filter(is_active=True)[:2])
        tenant = only[0] if len(only) == 1 else None
    if ttl > 0:
        with _tenants_lock:
            if len(_tenants) > 10_000:
                _tenants.clear()
            _tenants[slug] = (now + ttl, tenant)
    return tenant


def forget_tenant(slug: str) -> None:
    _tenants.pop(slug, None)


class ClientCertificate:
    """A TLS client certificate the proxy verified (nginx ``$ssl_client_*``)."""

    __slots__ = ("issuer", "subject")

    def __init__(self, subject: str, issuer: str) -> None:
        self.subject = subject
        self.issuer = issuer

    @property
    def common_name(self) -> str:
        return dn_attribute(self.subject, "CN")


def dn_attribute(dn: str, name: str) -> str:
    """One attribute of an RFC 2253 DN (``CN=a\\,b,O=ISP``), unescaped."""
    parts, current, escaped = [], [], False
    for ch in dn:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",+":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    for part in parts:
        key, sep, value = part.partition("=")
        if sep and key.strip().upper() == name.upper():
            return value.strip()
    return ""


def client_certificate(request: HttpRequest) -> ClientCertificate | None:
    """The verified client certificate the trusted TLS proxy forwarded, if any.

    nginx terminates TLS, verifies the certificate against the tenants' CAs
    and passes ``X-SSL-Client-Verify``, ``X-SSL-Client-S-DN`` and
    ``X-SSL-Client-I-DN``. The headers mean nothing from anyone but a proxy
    listed in ``CWMP_TRUSTED_PROXIES``: a CPE cannot claim a certificate by
    sending them itself.
    """
    address = request.META.get("REMOTE_ADDR", "") or ""
    if not (trusted_proxies() and is_trusted_proxy(address)):
        return None
    if request.META.get("HTTP_X_SSL_CLIENT_VERIFY", "") != "SUCCESS":
        return None
    subject = request.META.get("HTTP_X_SSL_CLIENT_S_DN", "")
    issuer = request.META.get("HTTP_X_SSL_CLIENT_I_DN", "")
    if not subject or not issuer:
        return None
    return ClientCertificate(subject, issuer)
