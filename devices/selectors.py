"""Reads of device data that more than one entry point uses."""

from __future__ import annotations

from devices.models import Device
from tenants.models import Tenant


def device_for_cwmp(*, tenant: Tenant, device_id: str) -> Device | None:
    """The device an Inform names, with its credentials, in one query."""
    return Device.objects.for_tenant(tenant).filter(device_id=device_id).first()


def device_registered_elsewhere(
    *, tenant: Tenant, oui: str, product_class: str, serial_number: str
) -> bool:
    """True when another tenant already owns this device identity."""
    return (
        Device.objects.filter(oui=oui, product_class=product_class, serial_number=serial_number)
        .exclude(tenant=tenant)
        .exists()
    )
