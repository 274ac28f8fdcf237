"""Writes to devices: registration, Inform bookkeeping, session logs.

The CWMP path calls these once per message, so they are written for few,
lean statements: a periodic Inform whose parameters did not change costs one
UPDATE of the device row, however many parameters it carries.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, connection, models, transaction

from acsportal.infra import db
from devices.identity import make_device_id
from devices.models import (
    CpeRequest,
    Device,
    Parameter,
    Registration,
    SessionLog,
    SessionOutcome,
    database_holds_device_tenant,
)

# Identity across tenants (devices.registration): people's services, found here too.
from devices.registration import DeviceRefused as DeviceRefused
from devices.registration import device_confirm as device_confirm
from devices.registration import device_preregister as device_preregister
from tenants.models import Tenant


@dataclass(slots=True, frozen=True)
class ParamValue:
    path: str
    value: str
    type: str


# Inform parameters copied onto the device row (relative to the root object).
_SUMMARY = {
    "DeviceInfo.SoftwareVersion": "software_version",
    "DeviceInfo.HardwareVersion": "hardware_version",
    "DeviceInfo.ProvisioningCode": "provisioning_code",
    "ManagementServer.ConnectionRequestURL": "connection_request_url",
    "ManagementServer.UDPConnectionRequestAddress": "udp_connection_request_address",
}
_FIELD_LIMITS = {
    f.name: f.max_length
    for f in Device._meta.get_fields()
    if isinstance(f, models.Field) and f.max_length
}


def inform_digest(params: Sequence[ParamValue]) -> str:
    h = hashlib.md5(usedforsecurity=False)
    for p in sorted(params, key=lambda p: p.path):
        h.update(f"{p.path}\x00{p.type}\x00{p.value}\x01".encode())
    return h.hexdigest()


def _wan_address(params: Iterable[ParamValue]) -> str | None:
    """The CPE's WAN address as it reports it (TR-098 ExternalIPAddress, TR-181 IPAddress)."""
    for p in params:
        if p.path.endswith(("ExternalIPAddress", ".IPAddress")) and p.value:
            try:
                return str(ipaddress.ip_address(p.value.strip()))
            except ValueError:
                continue
    return None


def _mac_address(params: Iterable[ParamValue]) -> str:
    for p in params:
        if p.path.endswith("MACAddress") and p.value:
            return p.value.strip()[:17]
    return ""


def _upsert(rows: Sequence[dict[str, object]], update_fields: list[str]) -> None:
    """Insert or update parameter rows by (device, path), in as few statements as fit."""
    db.upsert_rows(Parameter, rows, unique=["device", "path"], update=update_fields)


def summary_from_inform(params: Sequence[ParamValue]) -> dict[str, object]:
    """Device-row columns that an Inform's ParameterList fills."""
    fields: dict[str, object] = {}
    for p in params:
        root, _, rest = p.path.partition(".")
        if "data_model" not in fields and root in ("InternetGatewayDevice", "Device"):
            fields["data_model"] = root
        name = _SUMMARY.get(rest)
        if name:
            fields[name] = p.value.strip()[: _FIELD_LIMITS[name]]
    wan = _wan_address(params)
    if wan:
        fields["ip_address"] = wan
    mac = _mac_address(params)
    if mac:
        fields["mac_address"] = mac
    return fields


def _inform_fields(
    *,
    manufacturer: str,
    events: Sequence[str],
    params: Sequence[ParamValue],
    remote_address: str | None,
    cwmp_version: str,
    now: datetime,
) -> dict[str, object]:
    """The device-row columns an Inform sets."""
    fields = summary_from_inform(params)
    fields.update(
        manufacturer=manufacturer[:64],
        cwmp_version=cwmp_version,
        last_inform=now,
        last_events=",".join(events)[:255],
        inform_digest=inform_digest(params),
    )
    if "ip_address" not in fields and remote_address:
        fields["ip_address"] = remote_address
    if "1 BOOT" in events:
        fields["last_boot"] = now
    if "0 BOOTSTRAP" in events:
        fields["last_bootstrap"] = now
    return fields


# Written whenever an Inform sets them, never compared: the Inform's time
# always differs, and the CWMP path does not read the timestamps at all.
_ALWAYS_WRITTEN = frozenset({"last_inform", "last_boot", "last_bootstrap"})


def _changed(device: Device, fields: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in fields.items() if k in _ALWAYS_WRITTEN or getattr(device, k) != v}


def _log_matching() -> tuple[str, str] | None:
    """The session log INSERT's own tenant check, where no composite foreign key makes it.

    The log's tenant is the session's and its device the Inform's: on
    SQLite the same INSERT proves they agree (a primary-key probe inside
    the statement, no round trip more); PostgreSQL's key checks them anyway.
    """
    return None if database_holds_device_tenant(connection) else ("device", "tenant")


def device_session_open(
    *,
    tenant: Tenant,
    device: Device | None,
    oui: str,
    product_class: str,
    serial_number: str,
    manufacturer: str,
    events: Sequence[str],
    params: Sequence[ParamValue],
    remote_address: str | None,
    cwmp_version: str,
    now: datetime,
    session_id: str,
) -> tuple[Device, bool, int]:
    """An Inform's writes: the device (``device_inform``) and its session's log, together.

    Returns the device, whether it was created, and the session log's pk.

    Both are written or neither. The common case, a known device whose
    Inform values did not change (the periodic Inform), is one UPDATE and
    one INSERT, sent as a single statement where the database allows, so a
    quiet session opens without a transaction's extra round trips.
    """

    def log_row(device: Device) -> dict[str, object]:
        return {
            "tenant_id": tenant.pk,
            "device_id": device.pk,
            "session_id": session_id,
            "started": now,
            "events": list(events),
            "remote_address": remote_address,
            "cwmp_version": cwmp_version,
            "messages": 1,
        }

    if device is not None:
        fields = _inform_fields(
            manufacturer=manufacturer,
            events=events,
            params=params,
            remote_address=remote_address,
            cwmp_version=cwmp_version,
            now=now,
        )
        if fields["inform_digest"] == device.inform_digest:
            changed = _changed(device, fields)
            log_pk = db.update_then_insert_row(
                Device, device.pk, changed, SessionLog, log_row(device), matching=_log_matching()
            )
            for k, v in changed.items():
                setattr(device, k, v)
            return device, False, log_pk
    with transaction.atomic():
        device, created = device_inform(
            tenant=tenant,
            device=device,
            oui=oui,
            product_class=product_class,
            serial_number=serial_number,
            manufacturer=manufacturer,
            events=events,
            params=params,
            remote_address=remote_address,
            cwmp_version=cwmp_version,
            now=now,
        )
        log_pk = db.insert_row(SessionLog, log_row(device), matching=_log_matching())
    return device, created, log_pk


def device_inform(
    *,
    tenant: Tenant,
    device: Device | None,
    oui: str,
    product_class: str,
    serial_number: str,
    manufacturer: str,
    events: Sequence[str],
    params: Sequence[ParamValue],
    remote_address: str | None,
    cwmp_version: str,
    now: datetime,
) -> tuple[Device, bool]:
    """Register a device on first contact or update it; store changed Inform values.

    First contact registers the device whatever its events: many CPEs never
    send ``0 BOOTSTRAP`` (TR-069 3.7.1.5 leaves it to a fresh factory state).
    Returns the device and whether it was created.
    """
    fields = _inform_fields(
        manufacturer=manufacturer,
        events=events,
        params=params,
        remote_address=remote_address,
        cwmp_version=cwmp_version,
        now=now,
    )
    digest = fields["inform_digest"]
    if device is None:
        device = _register(
            tenant=tenant,
            oui=oui,
            product_class=product_class,
            serial_number=serial_number,
            fields=fields,
            now=now,
        )
        if device.inform_digest == digest and device.first_seen == now:
            _write_params(device, params, now, existing={})
            return device, True
        # Lost a registration race: fall through to the update path.
    old_digest = device.inform_digest
    changed = _changed(device, fields)
    # last_inform always changes, so this is the one statement a quiet
    # periodic session costs.
    db.update(Device, device.pk, changed)
    for k, v in changed.items():
        setattr(device, k, v)
    if old_digest != digest:
        existing = {
            p.path: (p.value, p.type)
            for p in Parameter.objects.filter(
                device=device, path__in=[p.path for p in params]
            ).only("path", "value", "type")
        }
        _write_params(device, params, now, existing=existing)
    return device, False


def _register(
    *, tenant: Tenant, oui: str, product_class: str, serial_number: str, fields: dict, now: datetime
) -> Device:
    # First contact proves only the tenant's shared credentials: the row is
    # provisional until the tenant confirms it (device_confirm).
    device = Device(
        tenant=tenant,
        device_id=make_device_id(oui, product_class, serial_number),
        oui=oui[:6],
        product_class=product_class[:64],
        serial_number=serial_number[:64],
        first_seen=now,
        registration=Registration.PROVISIONAL,
        **fields,
    )
    try:
        with transaction.atomic():
            device.save(force_insert=True)
    except IntegrityError:
        device = Device.objects.get(tenant=tenant, device_id=device.device_id)
    return device


def _write_params(
    device: Device,
    params: Sequence[ParamValue],
    now: datetime,
    *,
    existing: dict[str, tuple[str, str]],
) -> int:
    """Upsert the parameters whose value or type changed, in one statement."""
    rows = {}
    for p in params:
        if existing.get(p.path) != (p.value, p.type):
            rows[p.path] = {
                "device_id": device.pk,
                "path": p.path,
                "value": p.value,
                "type": p.type,
                "updated": now,
            }
    if rows:
        _upsert(list(rows.values()), ["value", "type", "updated"])
    return len(rows)


def session_log_open(
    *,
    tenant: Tenant,
    device: Device,
    session_id: str,
    events: Sequence[str],
    remote_address: str | None,
    cwmp_version: str,
    started: datetime,
) -> SessionLog:
    """A session's log, open; the CWMP path writes it with its Inform (device_session_open)."""
    return SessionLog.objects.create(
        tenant=tenant,
        device=device,
        session_id=session_id,
        started=started,
        events=list(events),
        remote_address=remote_address,
        cwmp_version=cwmp_version,
        messages=1,
    )


def session_log_close(
    *,
    log_pk: int,
    outcome: str,
    rpcs: Sequence[str],
    messages: int,
    ended: datetime,
    duration_ms: int,
    detail: str = "",
) -> None:
    db.update(
        SessionLog,
        log_pk,
        {
            "outcome": outcome,
            "rpcs": list(rpcs),
            "messages": messages,
            "ended": ended,
            "duration_ms": duration_ms,
            "detail": detail[:2000],
        },
    )


def session_log_abandon(*, session_id: str, detail: str) -> None:
    session_logs_abandon(session_ids=[session_id], detail=detail)


def session_logs_abandon(*, session_ids: Sequence[str], detail: str) -> int:
    """Mark the still-open logs of these sessions abandoned; how many were."""
    if not session_ids:
        return 0
    return SessionLog.objects.filter(
        session_id__in=list(session_ids), outcome=SessionOutcome.OPEN
    ).update(outcome=SessionOutcome.ABANDONED, detail=detail)


def cpe_request_record(
    *,
    device_pk: int,
    tenant_id: int,
    session_id: str,
    method: str,
    command_key: str = "",
    fault_code: int = 0,
    fault_string: str = "",
    payload: dict,
    now: datetime,
) -> CpeRequest:
    return CpeRequest.objects.create(
        tenant_id=tenant_id,
        device_id=device_pk,
        session_id=session_id,
        method=method,
        command_key=command_key[:64],
        fault_code=fault_code,
        fault_string=fault_string[:256],
        payload=payload,
        received=now,
    )


# -- parameter tree writes (RPC results) ------------------------------------


_CR_PASSWORD_PATH = "ManagementServer.ConnectionRequestPassword"  # noqa: S105 (a path)


def parameters_write_values(
    *, device_pk: int, values: Sequence[tuple[str, str, str]], now: datetime
) -> int:
    """Upsert leaf values (path, value, type) reported by the device, in one statement.

    The connection-request password is stored empty: its value lives
    encrypted on the device row, and a CPE reads it back empty anyway
    (TR-069 A.3.2.1: passwords are write-only).
    """
    rows: list[dict[str, object]] = [
        {
            "device_id": device_pk,
            "path": path,
            "value": "" if path.endswith(_CR_PASSWORD_PATH) else value,
            "type": type_ or "",
            "updated": now,
        }
        for path, value, type_ in values
        if path
    ]
    if rows:
        _upsert(rows, ["value", "type", "updated"])
    return len(rows)


def parameters_write_names(
    *, device_pk: int, names: Sequence[tuple[str, bool]], now: datetime
) -> int:
    """Record what GetParameterNames reported: paths, objects (trailing dot), writability."""
    rows: list[dict[str, object]] = [
        {
            "device_id": device_pk,
            "path": name,
            "is_object": name.endswith("."),
            "writable": writable,
            "updated": now,
        }
        for name, writable in names
        if name
    ]
    if rows:
        _upsert(rows, ["is_object", "writable", "updated"])
    return len(rows)


def parameters_write_attributes(
    *, device_pk: int, attributes: Sequence[tuple[str, int, str]], now: datetime
) -> int:
    """Record notification and access list per path (GetParameterAttributes)."""
    rows: list[dict[str, object]] = [
        {
            "device_id": device_pk,
            "path": path,
            "notification": notification,
            "access_list": access,
            "updated": now,
        }
        for path, notification, access in attributes
        if path
    ]
    if rows:
        _upsert(rows, ["notification", "access_list", "updated"])
    return len(rows)


def parameters_delete_subtree(*, device_pk: int, prefix: str) -> int:
    """Forget an object instance and everything below it (DeleteObject)."""
    if not prefix.endswith("."):
        prefix += "."
    deleted, _ = Parameter.objects.filter(device_id=device_pk, path__startswith=prefix).delete()
    return deleted


def device_learn_unsupported(*, device_pk: int, method: str) -> None:
    """Remember that the device answered 9000 to ``method``, so it is not asked again."""
    device = Device.objects.only("unsupported_methods").get(pk=device_pk)
    if method not in device.unsupported_methods:
        Device.objects.filter(pk=device_pk).update(
            unsupported_methods=[*device.unsupported_methods, method]
        )
