"""Reads of device data that more than one entry point uses."""

from __future__ import annotations

from acsportal.infra import db
from devices.identity import device_id_readings
from devices.models import Device
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


def device_registered_elsewhere(
    *, tenant: Tenant, oui: str, product_class: str, serial_number: str
) -> bool:
    """True when another tenant already owns this device identity."""
    return (
        Device.objects.filter(oui=oui, product_class=product_class, serial_number=serial_number)
        .exclude(tenant=tenant)
        .exists()
    )


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
