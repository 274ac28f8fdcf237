"""Device identity across tenants: provisional rows, pre-registration, confirmation (issue 10)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from devices import registration, services
from devices.identity import make_device_id
from devices.models import Device, IdentityConflict, Parameter, Registration, SessionLog
from provisioning import services as task_services
from provisioning.models import Task
from tests.factories import DeviceFactory, TenantFactory

pytestmark = pytest.mark.django_db

ID = make_device_id("00259E", "EG8145V5", "SQUAT1")


def _first_contact(tenant, serial="SQUAT1", address="203.0.113.66"):
    """What a CPE's first Inform writes: a provisional row, its values, its session log."""
    now = timezone.now()
    device, created, log_pk = services.device_session_open(
        tenant=tenant,
        device=None,
        oui="00259E",
        product_class="EG8145V5",
        serial_number=serial,
        manufacturer="Huawei",
        events=["0 BOOTSTRAP"],
        params=[services.ParamValue("InternetGatewayDevice.X.Secret", "a's", "xsd:string")],
        remote_address=address,
        cwmp_version="1.0",
        now=now,
        session_id=f"sid-{tenant.pk}-{serial}",
    )
    assert created
    return device


def test_first_contact_makes_a_provisional_device():
    device = _first_contact(TenantFactory())
    assert device.registration == Registration.PROVISIONAL


def test_devices_made_by_people_are_confirmed():
    assert DeviceFactory().registration == Registration.CONFIRMED


def test_preregistration_by_another_tenant_supersedes_and_moves_nothing():
    squatter, owner = TenantFactory(slug="a"), TenantFactory(slug="b")
    theirs = _first_contact(squatter)
    task_services.task_enqueue(device=theirs, type="reboot")

    mine = registration.device_preregister(
        tenant=owner, oui="00259E", product_class="EG8145V5", serial="SQUAT1"
    )

    assert mine.registration == Registration.CONFIRMED and mine.tenant == owner
    assert mine.device_id == ID and mine.pk != theirs.pk
    theirs.refresh_from_db()
    assert theirs.registration == Registration.SUPERSEDED
    # Nothing of the first tenant's moved: its row keeps its values, logs and tasks.
    assert Parameter.objects.filter(device=theirs).count() == 1
    assert SessionLog.objects.filter(device=theirs).count() == 1
    assert Task.objects.filter(device=theirs).count() == 1
    for model in (Parameter, SessionLog, Task):
        assert not model.objects.filter(device=mine).exists()
    conflict = IdentityConflict.objects.get()
    assert (conflict.device_id, conflict.kind) == (ID, IdentityConflict.Kind.SUPERSEDED)
    assert (conflict.tenant, conflict.owner) == (squatter, owner)
    assert conflict.remote_address == "203.0.113.66"  # where the first tenant's CPE called from
    assert conflict.first_seen is not None and conflict.count == 1


def test_preregistering_a_device_that_already_called_confirms_it_in_place():
    tenant = TenantFactory()
    device = _first_contact(tenant)
    again = registration.device_preregister(
        tenant=tenant, oui="00259E", product_class="EG8145V5", serial="SQUAT1"
    )
    assert again.pk == device.pk and again.registration == Registration.CONFIRMED
    assert Parameter.objects.filter(device=device).count() == 1


def test_confirm_supersedes_the_other_tenants_provisional_rows():
    a, b, c = TenantFactory(), TenantFactory(), TenantFactory()
    first, second, third = _first_contact(a), _first_contact(b), _first_contact(c)
    assert registration.device_confirm(second).registration == Registration.CONFIRMED
    first.refresh_from_db()
    third.refresh_from_db()
    assert (first.registration, third.registration) == (Registration.SUPERSEDED,) * 2
    assert set(IdentityConflict.objects.values_list("tenant", "owner")) == {
        (a.pk, b.pk),
        (c.pk, b.pk),
    }


def test_an_id_confirmed_in_one_tenant_cannot_be_claimed_by_another():
    owner, other = TenantFactory(), TenantFactory()
    registration.device_preregister(
        tenant=owner, oui="00259E", product_class="EG8145V5", serial="X1"
    )
    with pytest.raises(registration.DeviceRefused):
        registration.device_preregister(
            tenant=other, oui="00259E", product_class="EG8145V5", serial="X1"
        )
    provisional = _first_contact(other, serial="X1")
    with pytest.raises(registration.DeviceRefused):
        registration.device_confirm(provisional)
    provisional.refresh_from_db()
    assert provisional.registration == Registration.PROVISIONAL
    assert Device.objects.filter(registration=Registration.CONFIRMED).count() == 1


def test_the_database_holds_one_confirmed_row_per_id():
    device = DeviceFactory(serial_number="ONE")
    with pytest.raises(IntegrityError), transaction.atomic():
        DeviceFactory(serial_number="ONE")  # another tenant (the factory makes one)
    # Provisional and superseded rows of the id may be many.
    DeviceFactory(serial_number="ONE", registration=Registration.PROVISIONAL)
    DeviceFactory(serial_number="ONE", registration=Registration.SUPERSEDED)
    assert Device.objects.filter(device_id=device.device_id).count() == 3


def test_a_conflict_seen_again_is_counted_not_added():
    a, b = TenantFactory(), TenantFactory()
    for address in ("192.0.2.1", "192.0.2.2"):
        registration.identity_conflict_record(
            device_id=ID,
            tenant_id=a.pk,
            owner_id=b.pk,
            kind=IdentityConflict.Kind.REFUSED,
            remote_address=address,
        )
    conflict = IdentityConflict.objects.get()
    assert (conflict.count, conflict.remote_address) == (2, "192.0.2.2")


@pytest.mark.django_db(transaction=True)
def test_migration_leaves_ids_held_by_two_tenants_provisional():
    before = [
        ("devices", "0005_encrypt_connection_request_password"),
        ("tenants", "0005_encrypt_connection_request_password"),
    ]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    OldTenant, OldDevice = old.get_model("tenants", "Tenant"), old.get_model("devices", "Device")
    a = OldTenant.objects.create(slug="ma", name="a")
    b = OldTenant.objects.create(slug="mb", name="b")
    for tenant in (a, b):
        OldDevice.objects.create(tenant=tenant, device_id="D-1", oui="D", serial_number="1")
    OldDevice.objects.create(tenant=a, device_id="D-2", oui="D", serial_number="2")
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert dict(
        Device.objects.filter(tenant__slug="ma").values_list("device_id", "registration")
    ) == {"D-1": "provisional", "D-2": "confirmed"}
    assert Device.objects.get(tenant__slug="mb").registration == "provisional"
