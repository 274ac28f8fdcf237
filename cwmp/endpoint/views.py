"""The CWMP endpoint: a thin shell around the codec, CPE auth and session engine.

Per request: read the body (bounded), parse it (hardened), find or start the
session, authenticate (``cpeauth``), call the engine with an ORM-backed host,
save the state, answer. The protocol's rules are the engine's; this moves
bytes, session state and rows. Every refusal is a 4xx or a SOAP fault with a
reason, logged with the device and session, and writes nothing. The
database is written only through the apps' services, each step atomic on
its own (the Inform's device, changed values and session log in one
statement; each task step in its own transaction), so a request that breaks
mid-session leaves every step it took whole and nothing half-written.

Who gets a session at all is settled before anything is written, at no cost
to the periodic session of a known device (issue 10): the identity rules
from the device row already read (a row another tenant's confirmation
superseded, a tenant that takes registered devices only); the tenant's and
the address's shares of the sessions, the tenant's rate of new devices and
the backoff after failed authentications in ``store.begin``'s one round
trip; and, for a first contact only, one statement for an id another tenant
holds confirmed and for the tenant's cap of provisional devices.
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import UTC, datetime
from typing import cast

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from acsportal.infra.events import session_event
from acsportal.infra.http import plain as _text
from cwmp.endpoint import cpeauth, housekeeping, overload
from cwmp.endpoint.host import DjangoHost
from cwmp.endpoint.store import Admission, DeferredNonceCheck, SessionStore, get_store, shares
from cwmp.endpoint.transport import (
    COOKIE_NAME,
    BodyError,
    client_certificate,
    peer,
    read_body,
    session_cookie,
    tenant_for_slug,
)
from cwmp.protocol import codec, digest, engine
from cwmp.protocol import messages as m
from devices import registration
from devices import selectors as device_selectors
from devices import services as device_services
from devices.identity import make_device_id
from devices.models import Device, IdentityConflict, Registration
from tenants.models import Tenant

log = logging.getLogger("acsportal.cwmp")

XML_CONTENT_TYPE = 'text/xml; charset="utf-8"'


def _xml(envelope: m.Envelope, status: int = 200) -> HttpResponse:
    return HttpResponse(codec.serialize(envelope), status=status, content_type=XML_CONTENT_TYPE)


def _busy(reason: str, retry_after: int | None = None) -> HttpResponse:
    return _text(503, reason, Retry_After=str(retry_after or settings.CWMP_RETRY_AFTER))


@csrf_exempt
def cwmp_endpoint(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    try:
        response = _endpoint(request, tenant_slug)
    except DatabaseError:  # the tenant's lookup included: a CPE never gets a 5xx
        log.exception("cwmp %s: database error", tenant_slug)
        response = _busy("database unavailable, try later")
    # Refusals are logged here with their device and reason; Django's own
    # "Unauthorized" warning for the first POST of every session is noise.
    response._has_been_logged = True  # type: ignore[attr-defined]  # Django's private flag, read by log_response
    return response


def _endpoint(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    if request.method != "POST":
        return _text(405, "CWMP takes POST", Allow="POST")
    tenant = tenant_for_slug(tenant_slug)
    if tenant is None:
        return _text(404, "no such tenant")
    try:
        body = read_body(request, settings.CWMP_MAX_BODY_BYTES)
    except BodyError as exc:
        log.warning("cwmp %s: bad body from %s: %s", tenant.slug, peer(request)[0], exc.message)
        return _text(exc.status, exc.message)
    envelope: m.Envelope | None = None
    if not codec.is_empty(body):
        try:
            if _challenge_first(request, tenant, body):
                if overload.full(connection_request=overload.mentions_connection_request(body)):
                    return _busy("too many sessions, try later")
                # The first POST of a session: an Inform without credentials.
                # It only earns a challenge, so it is not parsed (the CPE
                # sends it again with credentials), only checked for hostility.
                codec.precheck(body, max_bytes=settings.CWMP_MAX_BODY_BYTES)
                return cpeauth.challenge(tenant, request=request)
            envelope = codec.parse(body, max_bytes=settings.CWMP_MAX_BODY_BYTES)
        except codec.CodecError as exc:
            log.warning(
                "cwmp %s: unparseable message from %s: %s",
                tenant.slug,
                peer(request)[0],
                exc.message,
            )
            return _text(400, f"not a CWMP message: {exc.message}")
    try:
        if envelope is not None and isinstance(envelope.body, m.Inform):
            return _start_session(request, tenant, envelope)
        return _continue_session(request, tenant, envelope)
    except DatabaseError:
        log.exception("cwmp %s: database error", tenant.slug)
        return _busy("database unavailable, try later")


def _challenge_first(request: HttpRequest, tenant: Tenant, body: bytes) -> bool:
    return (
        not request.META.get("HTTP_AUTHORIZATION")
        and (tenant.allows_digest or tenant.allows_basic)
        and client_certificate(request) is None
        and codec.looks_like_inform(body)
    )


def _binding(sid: str, conn: str) -> str:
    return f"{sid}|{conn}"


def _start_session(request: HttpRequest, tenant: Tenant, envelope: m.Envelope) -> HttpResponse:
    """An Inform always starts a new session (TR-069 3.7.1.1), stale cookies or not."""
    store = get_store()
    inform = envelope.body
    assert isinstance(inform, m.Inform)
    address, port = peer(request)
    conn = f"{tenant.pk}|{address}|{port}"
    ident = inform.device_id
    device_id = make_device_id(ident.oui, ident.product_class, ident.serial_number)
    lock_key = f"{tenant.pk}|{device_id}"  # the device's lock; also its auth-backoff identity
    sid = secrets.token_urlsafe(18)

    cert = client_certificate(request)
    if (
        cert is None
        and not request.META.get("HTTP_AUTHORIZATION")
        and (tenant.allows_digest or tenant.allows_basic)
    ):
        # Before any query: most first POSTs end here.
        return cpeauth.challenge(tenant, request=request)
    if overload.full(
        connection_request=any(
            engine.normalize_event(e.event_code) == "6 CONNECTION REQUEST" for e in inform.event
        )
    ):
        return _busy("too many sessions, try later")
    device = device_selectors.device_for_cwmp(tenant=tenant, device_id=device_id)
    # A Digest nonce's replay check is made by store.begin, in its round trip.
    nonces = DeferredNonceCheck()
    if cert is not None and tenant.allows_certificate:
        verdict_or_refusal = cpeauth.certificate_verdict(
            tenant, cert, device_id, ident.serial_number
        )
        if isinstance(verdict_or_refusal, HttpResponse):
            return verdict_or_refusal
        verdict = verdict_or_refusal
        credentials = "certificate"
    elif not (tenant.allows_digest or tenant.allows_basic):
        log.warning("cwmp %s: %s without a client certificate, refused", tenant.slug, device_id)
        return _text(403, "a client certificate is required")
    else:
        creds = digest.parse_authorization(request.META.get("HTTP_AUTHORIZATION"))
        if creds is None:
            return cpeauth.challenge(tenant, request=request)
        own = device if cpeauth.has_own_credentials(tenant, device) else None
        verdict_or_refusal = cpeauth.verify(
            request,
            tenant,
            creds,
            ha1_for=cpeauth.ha1_lookup(tenant, own),
            tracker=nonces,
            binding=_binding(sid, conn),
            who=device_id,
            identity=lock_key,
            backoff_checked_later=True,  # by store.begin, below
        )
        if isinstance(verdict_or_refusal, HttpResponse):
            return verdict_or_refusal
        verdict = verdict_or_refusal
        credentials = "device" if own is not None else "tenant"

    refused = _identity_refusal(tenant, device, device_id, address)
    if refused is not None:
        return refused

    ttl = settings.CWMP_SESSION_TIMEOUT
    admission = _admission(
        tenant, address, new_device=device is None, password=credentials != "certificate"
    )
    status, detail = store.begin(
        sid, lock_key, settings.CWMP_MAX_SESSIONS, ttl, nonce=nonces.use, admission=admission
    )
    if status == "replay":
        log.warning("cwmp %s: %s nonce replayed from %s, refused", tenant.slug, device_id, address)
        counted = cpeauth.count_failure(request, tenant, identity=lock_key, who=device_id)
        return counted or cpeauth.challenge(tenant, reason="authentication failed")
    if status == "locked" and detail is not None:
        if not _take_over(store, lock_key, detail, sid, address, ttl):
            log.info("cwmp %s: %s already in session %s, refused", tenant.slug, device_id, detail)
            return _busy("device is already in a session")
        status, detail = store.begin(
            sid, lock_key, settings.CWMP_MAX_SESSIONS, ttl, admission=admission
        )
    if status != "ok":
        if status == "locked":  # lost a race with a third session
            return _busy("device is already in a session")
        store.unlock_device(lock_key, sid)  # a take-over may have handed us the lock
        return _not_admitted(request, tenant, device_id, address, status, detail)
    if device is None:
        refused = _first_contact_refusal(tenant, device_id, address)
        if refused is not None:
            store.finish(sid, lock_key, "", shares=admission.shares)
            return refused

    state = engine.SessionState(
        sid=sid,
        tenant_id=tenant.pk,
        device_id=device_id,
        remote=address,
        conn=conn,
        username=verdict.username or "",
        credentials=credentials,
        timeout=ttl,
    )
    host = DjangoHost(tenant=tenant, device=device, remote=address or None)
    try:
        reply = engine.start(state, envelope, host)
    except Exception:
        store.finish(sid, lock_key, "", shares=admission.shares)
        raise
    if state.ended:
        store.finish(sid, lock_key, "", shares=admission.shares)
        log.info("cwmp %s: %s session refused: %s", tenant.slug, device_id, state.detail)
        return _xml(reply.envelope) if reply.envelope else HttpResponse(status=204)
    started = session_event(
        tenant_id=tenant.pk,
        device_pk=state.device_pk,
        session_id=sid,
        kind="started",
        device_id=device_id,
        events=state.events,
        remote=address,
    )
    state.replied = time.time()
    store.save(
        sid, state.to_dict(), state.timeout, conn=conn, event=started, shares=admission.shares
    )
    log.debug(
        "cwmp %s: %s session %s started (%s) from %s",
        tenant.slug,
        device_id,
        sid,
        ", ".join(state.events),
        address,
    )
    response = _xml(cast(m.Envelope, reply.envelope))  # not ended: the InformResponse
    response.set_cookie(COOKIE_NAME, sid, path=request.path, httponly=True)
    return response


def _admission(tenant: Tenant, address: str, *, new_device: bool, password: bool) -> Admission:
    """What ``store.begin`` checks this session against, besides ``CWMP_MAX_SESSIONS``.

    The backoff after failed passwords holds back password sessions only: a
    client certificate is not what anyone was guessing.
    """
    device_failures, address_failures = cpeauth.backoff_limits() if password else (0, 0)
    return Admission(
        tenant=str(tenant.pk),
        address=address,
        tenant_limit=settings.CWMP_MAX_SESSIONS_PER_TENANT,
        address_limit=settings.CWMP_MAX_SESSIONS_PER_ADDRESS,
        new_devices_per_minute=settings.CWMP_NEW_DEVICES_PER_MINUTE if new_device else 0,
        device_failures=device_failures,
        address_failures=address_failures,
    )


def _identity_refusal(
    tenant: Tenant, device: Device | None, device_id: str, address: str
) -> HttpResponse | None:
    """The 403 for a device this tenant may not serve, judged from the row already read.

    A row another tenant's confirmation superseded is never served again;
    a tenant that takes pre-registered devices only serves neither an
    unknown id nor a provisional row.
    """
    if device is not None and device.registration == Registration.SUPERSEDED:
        log.warning(
            "cwmp %s: %s from %s: claimed by another tenant, refused",
            tenant.slug,
            device_id,
            address,
        )
        return _text(403, "device is registered to another tenant")
    if not tenant.accept_unknown_devices and (
        device is None or device.registration == Registration.PROVISIONAL
    ):
        log.warning(
            "cwmp %s: %s from %s: not pre-registered, refused (pre-registered devices only)",
            tenant.slug,
            device_id,
            address,
        )
        return _text(
            403, "device is not registered with this tenant, which takes registered devices only"
        )
    return None


def _first_contact_refusal(tenant: Tenant, device_id: str, address: str) -> HttpResponse | None:
    """A new device's own checks, in one statement: the id confirmed elsewhere, the cap.

    Only first contact pays for it. An id another tenant holds confirmed is
    refused, and the attempt recorded for the platform operator.
    """
    cap = settings.CWMP_MAX_PROVISIONAL_DEVICES
    owner, provisional = device_selectors.first_contact(
        tenant=tenant, device_id=device_id, provisional_cap=cap
    )
    if owner is not None:
        log.warning(
            "cwmp %s: %s from %s belongs to another tenant, refused",
            tenant.slug,
            device_id,
            address,
        )
        registration.identity_conflict_record(
            device_id=device_id,
            tenant_id=tenant.pk,
            owner_id=owner,
            kind=IdentityConflict.Kind.REFUSED,
            remote_address=address or None,
        )
        return _text(403, "device is registered to another tenant")
    if cap and provisional >= cap:
        log.warning(
            "cwmp %s: %s from %s refused: %d provisional devices (CWMP_MAX_PROVISIONAL_DEVICES)",
            tenant.slug,
            device_id,
            address,
            provisional,
        )
        return _busy("too many unconfirmed devices in this tenant, try later")
    return None


def _not_admitted(
    request: HttpRequest,
    tenant: Tenant,
    device_id: str,
    address: str,
    status: str,
    detail: str | None,
) -> HttpResponse:
    """The answer, logged with the tenant and address, to a session ``store.begin`` refused."""
    if status == "backoff":
        return cpeauth.backoff(request, tenant, int(detail or 1), door=cpeauth.CWMP, who=device_id)
    if status == "new-devices":
        log.warning(
            "cwmp %s: %s from %s refused: %d new devices this minute (CWMP_NEW_DEVICES_PER_MINUTE)",
            tenant.slug,
            device_id,
            address,
            settings.CWMP_NEW_DEVICES_PER_MINUTE,
        )
        return _busy("too many new devices, try later", int(detail or 0))
    if detail == "tenant":
        log.warning(
            "cwmp %s: %s from %s refused: the tenant's %d sessions are open"
            " (CWMP_MAX_SESSIONS_PER_TENANT)",
            tenant.slug,
            device_id,
            address,
            settings.CWMP_MAX_SESSIONS_PER_TENANT,
        )
        return _busy("too many sessions of this tenant, try later")
    if detail == "address":
        log.warning(
            "cwmp %s: %s from %s refused: %d sessions from that address are open"
            " (CWMP_MAX_SESSIONS_PER_ADDRESS)",
            tenant.slug,
            device_id,
            address,
            settings.CWMP_MAX_SESSIONS_PER_ADDRESS,
        )
        return _busy("too many sessions from this address, try later")
    log.info(
        "cwmp %s: %s from %s refused, %d sessions open",
        tenant.slug,
        device_id,
        address,
        settings.CWMP_MAX_SESSIONS,
    )
    return _busy("too many sessions, try later")


def _take_over(
    store: SessionStore, lock_key: str, holder: str, sid: str, address: str, ttl: int
) -> bool:
    """Let a new Inform replace the device's open session when the protocol allows.

    ``engine.may_replace`` holds the rule; this does the store's part and
    logs the old session as abandoned.
    """
    old = store.load(holder)
    if old is not None:
        if not engine.may_replace(old, remote=address, now=time.time()):
            return False
        store.delete(holder)
        store.leave(holder, shares(str(old.get("tenant_id", "")), old.get("remote", "")))
        device_services.session_log_abandon(session_id=holder, detail="replaced by a new Inform")
    return store.steal_device(lock_key, holder, sid, ttl)


def _continue_session(
    request: HttpRequest, tenant: Tenant, envelope: m.Envelope | None
) -> HttpResponse:
    store = get_store()
    address, port = peer(request)
    conn = f"{tenant.pk}|{address}|{port}"
    # The cookie, when the CPE returns it; otherwise the keep-alive connection.
    sid = session_cookie(request)
    data = store.load(sid) if sid else None
    if data is None:
        data = store.load_for_connection(conn)
    if data is None or data.get("tenant_id") != tenant.pk:
        return _text(400, "no CWMP session: a session starts with an Inform")
    overload.note_wait(data.get("replied", 0.0))
    state = engine.SessionState.from_dict(data)

    header = request.META.get("HTTP_AUTHORIZATION")
    if header and isinstance(creds := digest.parse_authorization(header), digest.DigestCredentials):
        # A CPE that authenticates every request must still be who it was.
        # (Its nonce may be the Inform's, reused on this connection.) Only a
        # device with credentials of its own costs a query here.
        own = (
            device_selectors.device_for_cwmp(tenant=tenant, device_id=state.device_id)
            if state.credentials == "device"
            else None
        )
        gone = state.credentials == "device" and own is None
        verdict = cpeauth.authority(tenant).verify(
            creds,
            method="POST",
            ha1_for=cpeauth.no_ha1 if gone else cpeauth.ha1_lookup(tenant, own),
            tracker=store,
            # A nonce count that does not move on is accepted only where it
            # was first used: this session, on this TCP connection.
            binding=_binding(state.sid, conn),
        )
        if not verdict.ok or verdict.username != state.username:
            log.warning(
                "cwmp %s: %s session %s: bad credentials mid-session (%s)",
                tenant.slug,
                state.device_id,
                state.sid,
                verdict.reason,
            )
            if not verdict.stale:
                counted = cpeauth.count_failure(
                    request,
                    tenant,
                    identity=f"{tenant.pk}|{state.device_id}",
                    who=state.device_id,
                )
                if counted is not None:
                    return counted
            return cpeauth.challenge(tenant, stale=verdict.stale, reason="authentication failed")

    host = DjangoHost(tenant=tenant, remote=address or None)
    try:
        reply = engine.handle(state, envelope, host)
    except engine.ProtocolError as exc:
        state.ended, state.outcome, state.detail = True, "error", str(exc)
        _finish(store, tenant, state)
        log.warning("cwmp %s: %s session %s: %s", tenant.slug, state.device_id, state.sid, exc)
        return _text(400, str(exc))
    if reply.ends_session:
        _finish(store, tenant, state)
        log.debug(
            "cwmp %s: %s session %s done: %s",
            tenant.slug,
            state.device_id,
            state.sid,
            " ".join(state.rpcs),
        )
        return HttpResponse(status=204)
    step = session_event(
        tenant_id=tenant.pk,
        device_pk=state.device_pk,
        session_id=state.sid,
        kind="message",
        rpcs=state.rpcs[-2:],
    )
    state.replied = time.time()
    store.save(
        state.sid,
        state.to_dict(),
        state.timeout,
        conn=conn if conn != state.conn else "",
        event=step,
        shares=shares(str(tenant.pk), state.remote),
    )
    return _xml(cast(m.Envelope, reply.envelope))  # not ends_session: it has one


def _finish(store: SessionStore, tenant: Tenant, state: engine.SessionState) -> None:
    now = time.time()
    if state.log_pk:
        device_services.session_log_close(
            log_pk=state.log_pk,
            outcome=state.outcome,
            rpcs=state.rpcs,
            messages=state.messages,
            ended=datetime.fromtimestamp(now, UTC),
            duration_ms=int((now - state.started) * 1000),
            detail=state.detail,
        )
    ended = session_event(
        tenant_id=tenant.pk,
        device_pk=state.device_pk,
        session_id=state.sid,
        kind="ended",
        outcome=state.outcome,
        rpcs=state.rpcs,
        detail=state.detail,
    )
    store.finish(
        state.sid,
        f"{tenant.pk}|{state.device_id}",
        state.conn,
        event=ended,
        shares=shares(str(tenant.pk), state.remote),
    )
    housekeeping.maybe_run(store)
