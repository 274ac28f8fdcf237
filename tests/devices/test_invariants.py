"""A session log or CPE request belongs to its device's tenant, whatever writes it.

Issue 10: on PostgreSQL a composite foreign key refuses another tenant's
device in any statement; on both databases the model layer refuses it, and
the hot path's lean INSERT of a session log proves it in the same
statement where no key does (SQLite). Deleting a device or a tenant still
takes everything of it along.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from acsportal.infra import db
from devices import services
from devices.models import CpeRequest, Device, SessionLog, TenantMismatch
from provisioning import services as task_services
from provisioning.models import Fault, File, Task
from tests.factories import DeviceFactory
from tests.rawsql import copy_row, update_row

pytestmark = pytest.mark.django_db
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the composite foreign keys are PostgreSQL's"
)
REFUSED = r"device_tenant_fk|not a device of this|belongs to tenant|not that of the device"
WHEN = datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)


@pytest.fixture
def ours():
    return DeviceFactory()


@pytest.fixture
def theirs():
    return DeviceFactory()


def _log(device, **fields):
    return SessionLog.objects.create(
        tenant=device.tenant, device=device, session_id=f"s-{device.pk}", started=WHEN, **fields
    )


def _request(device):
    return services.cpe_request_record(
        device_pk=device.pk,
        tenant_id=device.tenant_id,
        session_id=f"s-{device.pk}",
        method="TransferComplete",
        payload={},
        now=WHEN,
    )


def _open(device, tenant, *, session_id):
    """The Inform's writes, as the CWMP host asks them."""
    return services.device_session_open(
        tenant=tenant,
        device=device,
        oui=device.oui,
        product_class=device.product_class,
        serial_number=device.serial_number,
        manufacturer="ACME",
        events=["2 PERIODIC"],
        params=[],
        remote_address="192.0.2.9",
        cwmp_version="1.4",
        now=WHEN,
        session_id=session_id,
    )


# -- the database (PostgreSQL) ---------------------------------------------------


@postgres_only
def test_postgres_refuses_a_raw_session_log_or_request_of_another_tenant(ours, theirs):
    log, request = _log(ours), _request(ours)
    for model, pk, unique in (
        (SessionLog, log.pk, {"session_id": "s-2"}),
        (CpeRequest, request.pk, {}),
    ):
        with pytest.raises(IntegrityError, match="device_tenant_fk"), transaction.atomic():
            copy_row(model, pk, tenant_id=theirs.tenant_id, **unique)
        with pytest.raises(IntegrityError, match="device_tenant_fk"), transaction.atomic():
            copy_row(model, pk, device_id=theirs.pk, **unique)
        with pytest.raises(IntegrityError, match="device_tenant_fk"), transaction.atomic():
            update_row(model, pk, tenant_id=theirs.tenant_id)
        copy_row(model, pk, **unique)


@postgres_only
def test_postgres_keeps_a_device_with_rows_in_its_tenant(ours, theirs):
    # ON UPDATE NO ACTION: moving the device would leave its logs in the old tenant.
    _log(ours)
    with pytest.raises(IntegrityError, match="device_tenant_fk"), transaction.atomic():
        update_row(Device, ours.pk, tenant_id=theirs.tenant_id)


@postgres_only
def test_postgres_cascades_a_raw_device_delete_through_the_composite_keys(ours):
    _everything_of(ours)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM devices_device WHERE id = %s", [ours.pk])
    assert _counts(ours) == [0, 0, 0, 0, 0]


# -- the lean SQL of the hot path ------------------------------------------------


def test_the_lean_insert_refuses_another_tenants_device(ours, theirs):
    row = {"tenant_id": theirs.tenant_id, "device_id": ours.pk, "session_id": "x", "started": WHEN}
    with pytest.raises(IntegrityError, match=REFUSED), transaction.atomic():
        db.insert_row(SessionLog, row, matching=("device", "tenant"))
    with pytest.raises(IntegrityError, match=REFUSED), transaction.atomic():
        db.update_then_insert_row(
            Device,
            ours.pk,
            {"last_events": "after"},
            SessionLog,
            row,
            matching=("device", "tenant"),
        )
    ours.refresh_from_db()
    assert ours.last_events != "after"  # both or neither
    assert not SessionLog.objects.exists()
    pk = db.insert_row(
        SessionLog, {**row, "tenant_id": ours.tenant_id}, matching=("device", "tenant")
    )
    assert SessionLog.objects.get(pk=pk).tenant_id == ours.tenant_id


@pytest.mark.parametrize("periodic", [True, False], ids=["periodic", "changed"])
def test_a_session_cannot_open_a_log_under_another_tenant(ours, theirs, periodic):
    # The periodic Inform (digest unchanged: UPDATE and INSERT in one go) and
    # the slower path (device_inform, then the INSERT) both refuse it.
    _open(ours, ours.tenant, session_id="first")
    ours.refresh_from_db()
    if not periodic:
        Device.objects.filter(pk=ours.pk).update(inform_digest="stale")
        ours.refresh_from_db()
    with pytest.raises(IntegrityError, match=REFUSED), transaction.atomic():
        _open(ours, theirs.tenant, session_id="second")
    assert list(SessionLog.objects.values_list("session_id", "tenant_id")) == [
        ("first", ours.tenant_id)
    ]


# -- the model layer (both databases) ---------------------------------------------


def test_the_orm_refuses_a_session_log_or_request_of_another_tenant(ours, theirs):
    with pytest.raises(TenantMismatch, match="belongs to tenant"):
        services.session_log_open(
            tenant=theirs.tenant,
            device=ours,
            session_id="s",
            events=[],
            remote_address=None,
            cwmp_version="1.0",
            started=WHEN,
        )
    with pytest.raises(IntegrityError, match=REFUSED), transaction.atomic():
        services.cpe_request_record(
            device_pk=ours.pk,
            tenant_id=theirs.tenant_id,
            session_id="s",
            method="TransferComplete",
            payload={},
            now=WHEN,
        )
    log = _log(ours)
    log.device = theirs
    with pytest.raises(TenantMismatch):
        log.save()
    assert not CpeRequest.objects.exists()
    assert SessionLog.objects.get().device_id == ours.pk


def test_clean_names_the_device_field(ours, theirs):
    fields = {"session_id": "s", "started": WHEN, "events": ["2 PERIODIC"], "rpcs": ["Inform"]}
    with pytest.raises(ValidationError) as caught:
        SessionLog(tenant=theirs.tenant, device=ours, **fields).full_clean()
    assert list(caught.value.message_dict) == ["device"]
    SessionLog(tenant=ours.tenant, device=ours, **fields).full_clean()


# -- deleting still takes everything along ----------------------------------------


def _everything_of(device):
    task = task_services.task_enqueue(device=device, type="reboot")
    Fault.objects.create(tenant=device.tenant, device=device, task=task, method="Reboot", code=9002)
    _log(device)
    _request(device)
    File.objects.create(
        tenant=device.tenant,
        device=device,
        name="backup.cfg",
        file_type="1 Vendor Configuration File",
        token=f"t{device.pk}",
    )


def _counts(device):
    return [
        model.objects.filter(device_id=device.pk).count()
        for model in (Task, Fault, SessionLog, CpeRequest, File)
    ]


def test_deleting_a_device_deletes_its_rows(ours, theirs):
    _everything_of(ours)
    _everything_of(theirs)
    assert _counts(ours) == [1, 1, 1, 1, 1]
    ours.delete()
    assert _counts(ours) == [0, 0, 0, 0, 0]
    assert _counts(theirs) == [1, 1, 1, 1, 1]


def test_deleting_a_tenant_deletes_its_devices_and_their_rows(ours, theirs):
    _everything_of(ours)
    _everything_of(theirs)
    ours.tenant.delete()
    assert _counts(ours) == [0, 0, 0, 0, 0]
    assert _counts(theirs) == [1, 1, 1, 1, 1]
