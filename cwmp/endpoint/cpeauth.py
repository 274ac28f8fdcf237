"""CPE authentication for every CPE-facing door: the CWMP endpoint and the file server.

One implementation of TR-069 3.4.4 over HTTP, so both doors challenge,
verify and refuse alike: Digest by default (the challenge is always Digest
when the tenant allows it, since a CPE that can only answer Digest may still
send preemptive Basic), Basic only where the tenant allows it, the stored
HA1 values of the tenant's or the device's own credentials, the Digest
nonce's replay check in the session store every worker shares, and the
identity a TLS client certificate proves (verified by the proxy).

The arithmetic (nonces, digests, header parsing) is ``cwmp.protocol.digest``;
this module adds what needs Django: settings, the tenant's and device's rows,
HTTP responses and logs. Each door keeps only its own rule of *who* the
credentials must name: the CWMP endpoint the Inform's DeviceId, the file
server the file's owner.

Two rules of issue 10 live here so that both doors keep them. Basic puts the
password on the wire, so over plain HTTP it is refused unless the client is
in one of the tenant's ``basic_over_http_networks`` (TLS is known from the
request itself or from the ``X-Forwarded-Proto`` of a trusted proxy). And
failed authentications back off: each one is counted in the session store
against the identity the door names and the client's address, and once
either reaches its limit (``CWMP_AUTH_FAILURES_PER_*`` within
``CWMP_AUTH_FAILURE_WINDOW``) the answer is 429 + Retry-After, right
credentials included, until the window ends. The CWMP endpoint has that last
check made by ``store.begin`` in the round trip that opens the session.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from acsportal.infra.http import is_trusted_proxy, peer, plain, trusted_proxies
from cwmp.endpoint.store import get_store
from cwmp.endpoint.transport import ClientCertificate
from cwmp.protocol import digest
from devices.models import Device
from tenants.models import Tenant

log = logging.getLogger("acsportal.cwmp.auth")

#: The doors. Each signs its nonces with a key of its own, so a nonce (and a
#: Digest answer) issued by one is never accepted by the other.
CWMP = "cwmp"
FILES = "files"
_KEY_SUFFIX = {CWMP: b"", FILES: b"|files"}


def authority(tenant: Tenant, door: str = CWMP) -> digest.DigestAuthority:
    """The tenant's Digest authority at ``door`` (the realm the stored HA1 values use)."""
    return _authority_for(
        settings.SECRET_KEY.encode() + _KEY_SUFFIX[door],
        tenant.cpe_realm,
        settings.CWMP_NONCE_TTL,
        tuple(settings.CWMP_DIGEST_ALGORITHMS),
    )


@functools.lru_cache(maxsize=1024)
def _authority_for(
    secret: bytes, realm: str, nonce_ttl: int, algorithms: tuple[str, ...]
) -> digest.DigestAuthority:
    # Stateless apart from its settings, so one per realm serves every request.
    return digest.DigestAuthority(secret, realm, nonce_ttl=nonce_ttl, algorithms=algorithms)


def challenge(
    tenant: Tenant,
    *,
    door: str = CWMP,
    stale: bool = False,
    reason: str = "",
    request: HttpRequest | None = None,
) -> HttpResponse:
    """401 with the tenant's challenge: Digest whenever it allows Digest, else Basic.

    Given the ``request``, a Basic-only tenant answers 403 instead where
    Basic is not allowed (plain HTTP outside its networks): a Basic
    challenge there would only ask for the password in clear.
    """
    if tenant.allows_digest:
        value = authority(tenant, door).challenge(stale=stale)
    else:
        if request is not None and not basic_permitted(request, tenant):
            return _basic_needs_tls(request, tenant, door)
        value = digest.basic_challenge(tenant.cpe_realm)
    return plain(401, reason or "authentication required", WWW_Authenticate=value)


def is_tls(request: HttpRequest) -> bool:
    """Whether the CPE's request reached us over TLS.

    Directly (``request.is_secure()``, which also honours Django's
    ``SECURE_PROXY_SSL_HEADER`` where the deployment sets it), or through a
    TLS proxy of ``CWMP_TRUSTED_PROXIES`` that says so in
    ``X-Forwarded-Proto``; from anyone else that header means nothing.
    """
    if request.is_secure():
        return True
    address = request.META.get("REMOTE_ADDR", "") or ""
    return (
        bool(trusted_proxies())
        and is_trusted_proxy(address)
        and request.META.get("HTTP_X_FORWARDED_PROTO", "").strip().lower() == "https"
    )


def basic_permitted(request: HttpRequest, tenant: Tenant) -> bool:
    """Whether Basic may be used here: over TLS, or from a network the tenant lists for it."""
    if is_tls(request):
        return True
    networks = tenant.basic_over_http_allowlist()
    if not networks:
        return False
    try:
        client = ipaddress.ip_address(peer(request)[0])
    except ValueError:
        return False
    return any(client in net for net in networks)


def _basic_needs_tls(request: HttpRequest, tenant: Tenant, door: str) -> HttpResponse:
    log.warning(
        "%s %s: Basic over plain HTTP from %s, refused", door, tenant.slug, peer(request)[0]
    )
    return plain(403, "Basic authentication needs HTTPS")


def backoff(
    request: HttpRequest, tenant: Tenant, retry: int, *, door: str, who: str
) -> HttpResponse:
    """429 + Retry-After for an identity or address past its failed authentications."""
    log.warning(
        "%s %s: %s from %s: too many failed authentications, refused for %d s",
        door,
        tenant.slug,
        who or "?",
        peer(request)[0],
        retry,
    )
    return plain(
        429, f"too many failed authentications, retry in {retry} s", Retry_After=str(retry)
    )


def backoff_limits() -> tuple[int, int]:
    """The failures (identity, address) after which authentication backs off; 0: never."""
    return settings.CWMP_AUTH_FAILURES_PER_DEVICE, settings.CWMP_AUTH_FAILURES_PER_ADDRESS


def count_failure(
    request: HttpRequest, tenant: Tenant, *, identity: str, door: str = CWMP, who: str = ""
) -> HttpResponse | None:
    """Count a failed authentication of ``identity`` (may be '') and the client's address.

    The 429 that answers it once either has reached its limit, else None
    (the caller challenges again). One store round trip: failures pay it,
    never a successful session.
    """
    device_limit, address_limit = backoff_limits()
    if not identity:
        device_limit = 0
    if device_limit <= 0 and address_limit <= 0:
        return None
    retry = get_store().auth_failed(
        identity,
        peer(request)[0],
        window=settings.CWMP_AUTH_FAILURE_WINDOW,
        device_limit=device_limit,
        address_limit=address_limit,
    )
    return backoff(request, tenant, retry, door=door, who=who or identity) if retry else None


def has_own_credentials(tenant: Tenant, device: Device | None) -> bool:
    """Whether ``device`` authenticates with credentials of its own (per-device, 3.4.4)."""
    return bool(device is not None and device.cwmp_username and tenant.per_device_credentials)


def no_ha1(username: str, algorithm: str) -> str | None:
    """The lookup for an identity that has no credentials any more: nobody passes."""
    return None


def ha1_lookup(tenant: Tenant, own: Device | None) -> digest.Ha1Lookup:
    """HA1 by username: a device with its own credentials accepts only those."""

    def ha1_for(username: str, algorithm: str) -> str | None:
        if own is not None:
            return own.cwmp_ha1(algorithm) if username == own.cwmp_username else None
        if tenant.cpe_username and username == tenant.cpe_username:
            return tenant.cpe_ha1(algorithm) or None
        return None

    return ha1_for


def credential_owner(
    tenant: Tenant, username: str
) -> tuple[Device | None, Callable[[str], str]] | None:
    """Whose credentials a username names: a device's own, or the tenant's (None: nobody's).

    For a door that is not told the device up front (the file server): a
    device with its own CWMP credentials is identified by them, which lets
    it fetch its own uploads; the tenant-wide credentials name no device.
    """
    if tenant.per_device_credentials and username:
        devices = list(Device.objects.filter(tenant=tenant, cwmp_username=username)[:2])
        if len(devices) == 1:
            return devices[0], devices[0].cwmp_ha1
    if tenant.cpe_username and username == tenant.cpe_username:
        return None, tenant.cpe_ha1
    return None


def verify(
    request: HttpRequest,
    tenant: Tenant,
    creds: digest.BasicCredentials | digest.DigestCredentials,
    *,
    ha1_for: digest.Ha1Lookup,
    tracker: digest.NonceTracker,
    binding: str,
    door: str = CWMP,
    who: str = "",
    identity: str = "",
    backoff_checked_later: bool = False,
) -> digest.Verdict | HttpResponse:
    """Check ``creds`` by the tenant's rules; a verdict, or the response that refuses them.

    ``tracker`` checks the Digest nonce count for replay; ``binding`` is
    what may reuse a count (the session and connection on the CWMP
    endpoint, the client address on the file server). ``who`` names the
    identity in the log line of a refusal. ``identity`` is what failures
    are counted against besides the address ('' for the address only);
    ``backoff_checked_later`` says the caller checks the backoff itself
    before it accepts a success (the CWMP endpoint, in ``store.begin``),
    otherwise a success is checked here, at the cost of a store round trip.
    """
    if isinstance(creds, digest.BasicCredentials):
        if not tenant.allows_basic:
            return challenge(tenant, door=door, reason="Basic authentication not allowed")
        if not basic_permitted(request, tenant):
            if tenant.allows_digest:  # the CPE may answer Digest instead
                log.warning(
                    "%s %s: Basic over plain HTTP from %s, challenged with Digest",
                    door,
                    tenant.slug,
                    peer(request)[0],
                )
                return challenge(tenant, door=door, reason="Basic authentication needs HTTPS")
            return _basic_needs_tls(request, tenant, door)
        verdict = authority(tenant, door).verify_basic(creds, ha1_for=ha1_for)
    else:
        if not tenant.allows_digest:
            return challenge(tenant, door=door, reason="Digest authentication not allowed")
        verdict = authority(tenant, door).verify(
            creds,
            method=request.method or "GET",
            ha1_for=ha1_for,
            tracker=tracker,
            binding=binding,
        )
    if not verdict.ok:
        return refuse(request, tenant, creds, verdict, door=door, who=who, identity=identity)
    if not backoff_checked_later:
        device_limit, address_limit = backoff_limits()
        device_limit = device_limit if identity else 0
        if device_limit > 0 or address_limit > 0:
            retry = get_store().auth_blocked(
                identity, peer(request)[0], device_limit=device_limit, address_limit=address_limit
            )
            if retry:
                return backoff(request, tenant, retry, door=door, who=who or identity)
    return verdict


def refuse(
    request: HttpRequest,
    tenant: Tenant,
    creds: digest.BasicCredentials | digest.DigestCredentials,
    verdict: digest.Verdict,
    *,
    door: str = CWMP,
    who: str = "",
    identity: str = "",
) -> HttpResponse:
    """Log a failed authentication (never the secret), count it, and challenge again.

    A stale nonce with the right credentials is no failure. Once the
    identity or the address has failed too often, the answer is 429.
    """
    log.warning(
        "%s %s: auth failed for %s user=%r from %s: %s",
        door,
        tenant.slug,
        who or "?",
        creds.username,
        peer(request)[0],
        verdict.reason,
    )
    if not verdict.stale:
        refused = count_failure(request, tenant, identity=identity, door=door, who=who)
        if refused is not None:
            return refused
    return challenge(tenant, door=door, stale=verdict.stale, reason="authentication failed")


def certificate_verdict(
    tenant: Tenant, cert: ClientCertificate, device_id: str, serial: str
) -> digest.Verdict | HttpResponse:
    """A client certificate of the tenant's CA authenticates the device its CN names.

    The CN is the device id as the ACS escapes it, or the bare serial
    number (TR-069 3.4.5 leaves the naming to the operator's CA).
    """
    if cert.issuer != tenant.cpe_cert_issuer:
        log.warning("cwmp %s: certificate of another CA (%s), refused", tenant.slug, cert.issuer)
        return plain(403, "client certificate not issued by this tenant's CA")
    if cert.common_name not in (device_id, serial):
        log.warning(
            "cwmp %s: certificate for %r used by %s, refused",
            tenant.slug,
            cert.common_name,
            device_id,
        )
        return plain(403, "client certificate does not match the Inform's DeviceId")
    return digest.Verdict(ok=True, username=f"cert:{cert.common_name}")
