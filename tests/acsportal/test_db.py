"""The hot path's lean statements keep the ORM's semantics (acsportal/infra/db.py).

Each result is compared with what the ORM itself reads back, on whichever
database the suite runs (SQLite, and PostgreSQL when DATABASE_URL is set).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from acsportal.infra import db
from devices.models import Device, SessionLog
from tests.factories import DeviceFactory, TenantFactory

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)


def test_select_one_returns_what_the_orm_reads():
    device = DeviceFactory(
        unsupported_methods=["Reboot"], ip_address="192.0.2.1", last_boot=WHEN, has_tasks=True
    )
    got = db.select_one(Device, "id = %s", [device.pk])
    expected = Device.objects.get(pk=device.pk)
    for field in Device._meta.concrete_fields:
        assert getattr(got, field.attname) == getattr(expected, field.attname), field.name
    assert got.unsupported_methods == ["Reboot"]  # JSON decoded, not text
    assert got.last_boot == WHEN  # an aware datetime
    assert got._state.adding is False


def test_select_one_finds_nothing():
    assert db.select_one(Device, "id = %s", [-1]) is None


def test_update_prepares_values_like_the_orm():
    device = DeviceFactory()
    assert db.update(Device, device.pk, {"unsupported_methods": ["X"], "last_inform": WHEN}) == 1
    device.refresh_from_db()
    assert device.unsupported_methods == ["X"]
    assert device.last_inform == WHEN
    assert db.update(Device, device.pk, {}) == 0


def test_insert_row_applies_defaults_and_returns_the_pk():
    device = DeviceFactory()
    pk = db.insert_row(
        SessionLog,
        {"tenant_id": device.tenant_id, "device": device.pk, "session_id": "s-1", "started": WHEN},
    )
    stored = SessionLog.objects.get(pk=pk)
    assert (stored.outcome, stored.rpcs, stored.events, stored.messages) == ("open", [], [], 0)
    assert stored.started == WHEN and stored.device_id == device.pk


def _log(device, session_id):
    return {
        "tenant_id": device.tenant_id,
        "device_id": device.pk,
        "session_id": session_id,
        "started": WHEN,
    }


def test_update_then_insert_writes_both_in_one_statement_where_it_can():
    device = DeviceFactory()
    with CaptureQueriesContext(connection) as queries:
        pk = db.update_then_insert_row(
            Device, device.pk, {"last_events": "2 PERIODIC"}, SessionLog, _log(device, "s-2")
        )
    device.refresh_from_db()
    assert device.last_events == "2 PERIODIC"
    assert SessionLog.objects.get(pk=pk).session_id == "s-2"
    statements = [q["sql"] for q in queries.captured_queries]
    if connection.vendor == "postgresql":
        assert len(statements) == 1


def test_update_then_insert_is_all_or_nothing():
    device = DeviceFactory(last_events="before")
    SessionLog.objects.create(tenant=device.tenant, device=device, session_id="dup", started=WHEN)
    # (a savepoint, so PostgreSQL's aborted test transaction can go on)
    with pytest.raises(IntegrityError), transaction.atomic():
        db.update_then_insert_row(
            Device, device.pk, {"last_events": "after"}, SessionLog, _log(device, "dup")
        )
    device.refresh_from_db()
    assert device.last_events == "before"


def test_a_tenant_scoped_lookup_stays_scoped():
    tenant, other = TenantFactory(), TenantFactory()
    device = DeviceFactory(tenant=tenant)
    where = "tenant_id = %s AND device_id = %s"
    assert db.select_one(Device, where, [other.pk, device.device_id]) is None
    assert db.select_one(Device, where, [tenant.pk, device.device_id]).pk == device.pk


def test_select_only_some_fields_defers_the_rest():
    device = DeviceFactory(serial_number="SNX", last_boot=WHEN)
    got = db.select_one(Device, "id = %s", [device.pk], only=["device_id", "has_tasks"])
    assert got.get_deferred_fields() >= {"serial_number", "last_boot", "unsupported_methods"}
    assert "device_id" not in got.get_deferred_fields()
    with CaptureQueriesContext(connection) as queries:
        assert got.serial_number == "SNX"  # read on first use, like QuerySet.only
    assert len(queries) == 1


def test_values_are_prepared_per_field_type():
    device = DeviceFactory()
    db.update(
        Device,
        device.pk,
        {
            "ip_address": "2001:db8::1",
            "has_tasks": True,
            "last_events": "1 BOOT",
            "last_boot": None,
        },
    )
    device.refresh_from_db()
    assert (device.ip_address, device.has_tasks, device.last_boot) == ("2001:db8::1", True, None)
