"""Reads of device data that more than one entry point uses."""

from __future__ import annotations

from django.db import connection

from acsportal.infra import db
from devices.identity import device_id_readings
from devices.models import Device, Registration
from tenants.models import Tenant

# What a CWMP session reads of its device: credentials, the Inform summary it
# compares, the task hints. The rest (identity parts, timestamps, the
# connection-request credentials) is deferred: read on use, which only rare
# paths (first contact, bootstrap provisioning) do.
CWMP_DEVICE_FIELDS = (
    "tenant",
    "device_id",
    "manufacturer",
    "mac_address",
    "software_version",
    "hardware_version",
    "provisioning_code",
    "data_model",
    "cwmp_version",
    "ip_address",
    "connection_request_url",
    "udp_connection_request_address",
    "cwmp_username",
    "cwmp_ha1_md5",
    "cwmp_ha1_sha256",
    "last_events",
    "inform_digest",
    "has_tasks",
    "unsupported_methods",
    "registration",
)


def device_for_cwmp(*, tenant: Tenant, device_id: str) -> Device | None:
    """The device an Inform names, with its credentials, in one lean query.

    Every authenticated CWMP session starts here, so it skips the query
    compiler (acsportal.infra.db) and reads only ``CWMP_DEVICE_FIELDS``; the row is
    scoped to the tenant all the same.
    """
    device = db.select_one(
        Device,
        "tenant_id = %s AND device_id = %s",
        [tenant.pk, device_id],
        only=CWMP_DEVICE_FIELDS,
    )
    if device is not None:
        device.tenant = tenant  # the caller's instance: no second query for it
    return device


def first_contact(
    *, tenant: Tenant, device_id: str, provisional_cap: int
) -> tuple[int | None, int]:
    """What a device's first Inform to ``tenant`` must know, in one statement.

    The tenant that holds ``device_id`` confirmed, if another does (only a
    confirmed row is ownership: provisional rows elsewhere block nobody),
    and how many provisional devices ``tenant`` has, counted no further
    than ``provisional_cap`` (0: not counted) so that the count costs at
    most that many entries of the index ``device_provisional``.
    """
    table = connection.ops.quote_name(Device._meta.db_table)
    # The registrations are literals, not parameters, so that the planner can
    # use the partial indexes (device_confirmed_unique_id, device_provisional)
    # in a prepared statement too; table and column names are the model's
    # own, and every value is a parameter.
    confirmed, provisional_ = f"'{Registration.CONFIRMED}'", f"'{Registration.PROVISIONAL}'"
    sql = (
        f"SELECT (SELECT tenant_id FROM {table} WHERE device_id = %s"  # noqa: S608
        f" AND registration = {confirmed} AND tenant_id <> %s LIMIT 1),"
        f" (SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE tenant_id = %s"
        f" AND registration = {provisional_} LIMIT %s) AS provisional)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [device_id, tenant.pk, tenant.pk, max(provisional_cap, 0)])
        owner, provisional = cursor.fetchone()
    return owner, int(provisional)


def devices_matching_id(*, tenant: Tenant, device_id: str) -> list[Device]:
    """The tenant's devices a typed device id names, escaped or as the device reports it.

    More than one only when the raw form splits two ways onto two devices;
    the caller asks for the escaped id then rather than guess.
    """
    return list(
        Device.objects.for_tenant(tenant)
        .filter(device_id__in=device_id_readings(device_id))
        .order_by("device_id")
    )
