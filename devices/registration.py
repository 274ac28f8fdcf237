"""Who owns a DeviceId across tenants: pre-registration, confirmation, conflicts (issue 10).

A CPE's first Inform creates a provisional row (``devices.services``); a
tenant makes an id its own by pre-registering it or confirming the row its
CPE made, which supersedes every other tenant's provisional row of the id:
those rows keep their data and are never served again, and the platform
operator finds each such event as an ``IdentityConflict``. Which of two
tenants owns an id one of them already confirmed is the operator's call,
never the second claimant's (``DeviceRefused``).
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from devices.identity import make_device_id
from devices.models import Device, IdentityConflict, Registration, SessionLog
from tenants.models import Tenant


class DeviceRefused(Exception):
    """The tenant may not register this device: another tenant holds its id confirmed."""


def device_preregister(*, tenant: Tenant, oui: str, product_class: str, serial: str) -> Device:
    """Register a device the tenant owns before (or after) it calls: its id is the tenant's.

    The tenant's provisional row of that id, if its CPE already called, is
    confirmed in place (its data is the tenant's own). Other tenants'
    provisional rows of the id are superseded (``device_confirm``). Raises
    ``DeviceRefused`` when another tenant holds the id confirmed: which of
    two tenants owns a device is the platform operator's call, never the
    second claimant's.
    """
    device_id = make_device_id(oui, product_class, serial)
    existing = Device.objects.filter(tenant=tenant, device_id=device_id).first()
    if existing is not None:
        return device_confirm(existing)
    device = Device(
        tenant=tenant,
        device_id=device_id,
        oui=oui[:6],
        product_class=product_class[:64],
        serial_number=serial[:64],
        registration=Registration.CONFIRMED,
    )
    with transaction.atomic():
        _refuse_if_confirmed_elsewhere(tenant, device_id)
        try:
            with transaction.atomic():
                device.save(force_insert=True)
        except IntegrityError:
            # A concurrent claim of this id, in this tenant or another.
            mine = Device.objects.filter(tenant=tenant, device_id=device_id).first()
            if mine is None:
                raise DeviceRefused(f"{device_id} is registered to another tenant") from None
            return device_confirm(mine)
        _supersede_elsewhere(device)
    return device


def device_confirm(device: Device) -> Device:
    """The tenant vouches for a device that called it: confirmed, and others' rows superseded.

    Every other tenant's provisional row of the id stops being served (its
    sessions get 403) and keeps its data: nothing moves between tenants.
    Each is recorded as an ``IdentityConflict`` for the platform operator.
    Raises ``DeviceRefused`` when another tenant holds the id confirmed.
    """
    if device.registration == Registration.CONFIRMED:
        return device
    with transaction.atomic():
        _refuse_if_confirmed_elsewhere(device.tenant, device.device_id)
        try:
            with transaction.atomic():
                Device.objects.filter(pk=device.pk).update(registration=Registration.CONFIRMED)
        except IntegrityError:
            raise DeviceRefused(f"{device.device_id} is registered to another tenant") from None
        device.registration = Registration.CONFIRMED
        _supersede_elsewhere(device)
    return device


def _refuse_if_confirmed_elsewhere(tenant: Tenant, device_id: str) -> None:
    if (
        Device.objects.filter(device_id=device_id, registration=Registration.CONFIRMED)
        .exclude(tenant=tenant)
        .exists()
    ):
        raise DeviceRefused(f"{device_id} is registered to another tenant")


def _supersede_elsewhere(device: Device) -> int:
    """Other tenants' provisional rows of ``device``'s id: superseded, recorded; how many."""
    others = list(
        Device.objects.filter(device_id=device.device_id, registration=Registration.PROVISIONAL)
        .exclude(tenant_id=device.tenant_id)
        .only("pk", "tenant_id", "ip_address")
    )
    for other in others:
        last = (
            SessionLog.objects.filter(device_id=other.pk)
            .order_by("-started")
            .values_list("remote_address", flat=True)
            .first()
        )
        identity_conflict_record(
            device_id=device.device_id,
            tenant_id=other.tenant_id,
            owner_id=device.tenant_id,
            kind=IdentityConflict.Kind.SUPERSEDED,
            remote_address=last or other.ip_address,
        )
    if others:
        Device.objects.filter(pk__in=[o.pk for o in others]).update(
            registration=Registration.SUPERSEDED
        )
    return len(others)


def identity_conflict_record(
    *,
    device_id: str,
    tenant_id: int,
    owner_id: int,
    kind: str,
    remote_address: str | None,
    now: datetime | None = None,
) -> None:
    """Record (or count once more) that ``tenant`` and ``owner`` both claimed ``device_id``."""
    now = now or timezone.now()
    key = {"device_id": device_id, "tenant_id": tenant_id, "owner_id": owner_id, "kind": kind}
    again = {"last_seen": now, "count": models.F("count") + 1, "remote_address": remote_address}
    if IdentityConflict.objects.filter(**key).update(**again):
        return
    try:
        with transaction.atomic():
            IdentityConflict.objects.create(
                **key, remote_address=remote_address, first_seen=now, last_seen=now
            )
    except IntegrityError:  # recorded meanwhile by another request
        IdentityConflict.objects.filter(**key).update(**again)
