"""Connection-request passwords are encrypted at rest, every reader decrypts, keys rotate."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Model
from django.test import Client

from acsportal.infra import db, fieldcrypt
from cwmp.wakeup import connreq
from devices.models import Device
from devices.selectors import device_for_cwmp
from tenants.models import Tenant
from tests.cwmp.cpe import ScriptedCPE, inform_body
from tests.factories import DeviceFactory, TenantFactory

pytestmark = pytest.mark.django_db

KEY_1 = fieldcrypt.generate_key()
KEY_2 = fieldcrypt.generate_key()


@pytest.fixture(autouse=True)
def _one_key(settings):
    settings.ACS_FIELD_KEYS = [KEY_1]


def _stored(model: type[Model], pk: int, column: str = "connection_request_password") -> str:
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_device_and_tenant_passwords_are_stored_encrypted():
    tenant = TenantFactory(connection_request_password="tenant-secret")
    device = DeviceFactory(tenant=tenant, connection_request_password="device-secret")
    for model, pk, clear in (
        (Tenant, tenant.pk, "tenant-secret"),
        (Device, device.pk, "device-secret"),
    ):
        raw = _stored(model, pk)
        assert clear not in raw and raw.startswith("gAAAAA")  # a Fernet token
        assert fieldcrypt.decrypt(raw) == clear
        assert model.objects.get(pk=pk).connection_request_password == clear
    # Two encryptions of one value differ: the column says nothing about equal passwords.
    other = DeviceFactory(tenant=tenant, connection_request_password="device-secret")
    assert _stored(Device, other.pk) != _stored(Device, device.pk)


def test_empty_stays_empty_and_is_the_only_comparison():
    device = DeviceFactory(connection_request_password="")
    assert _stored(Device, device.pk) == ""
    assert Device.objects.filter(connection_request_password="").count() == 1
    assert not Device.objects.exclude(connection_request_password="").exists()
    with pytest.raises(ValueError, match="encrypted"):
        Device.objects.filter(connection_request_password="x").exists()
    with pytest.raises(FieldError):
        Device.objects.filter(connection_request_password__contains="x").exists()


def test_every_writer_encrypts():
    tenant = TenantFactory()
    device = DeviceFactory(tenant=tenant)
    # QuerySet.update (what a session does once the device accepted its credentials)
    Device.objects.filter(pk=device.pk).update(connection_request_password="by-update")
    assert fieldcrypt.decrypt(_stored(Device, device.pk)) == "by-update"
    # The hot path's lean SQL (acsportal.infra.db): never the clear text.
    db.update(Device, device.pk, {"connection_request_password": "by-lean-update"})
    assert fieldcrypt.decrypt(_stored(Device, device.pk)) == "by-lean-update"
    pk = db.insert_row(
        Device,
        {
            "tenant_id": tenant.pk,
            "device_id": "X-Y-Z",
            "oui": "X",
            "serial_number": "Z",
            "connection_request_password": "by-lean-insert",
        },
    )
    assert fieldcrypt.decrypt(_stored(Device, pk)) == "by-lean-insert"


def test_connection_requests_read_the_clear_password_from_a_lean_row(monkeypatch):
    tenant = TenantFactory(connection_request_username="t", connection_request_password="tp")
    device = DeviceFactory(
        tenant=tenant,
        connection_request_url="http://127.0.0.1:7547/",
        connection_request_username="cr",
        connection_request_password="cr-secret",
    )
    # The CWMP path's row: the password is deferred (read on use, decrypted then).
    lean = device_for_cwmp(tenant=tenant, device_id=device.device_id)
    assert lean is not None and "connection_request_password" not in lean.__dict__
    assert lean.connection_request_credentials() == ("cr", "cr-secret")
    # What a connection request job sends with (it loads the row as jobs.py does).
    seen = {}

    async def fake_request(url, *, username, password, **kwargs):
        seen.update(username=username, password=password)
        return connreq.ConnectionRequestResult(ok=True, status_code=204)

    monkeypatch.setattr(connreq, "http_connection_request", fake_request)
    loaded = Device.objects.select_related("tenant").get(pk=device.pk)
    assert connreq.run_sync(connreq.device_http_connection_request(loaded)).ok
    assert seen == {"username": "cr", "password": "cr-secret"}
    # A device without its own pair: the tenant's, decrypted as well.
    tenant_default = Device.objects.get(pk=DeviceFactory(tenant=tenant).pk)
    assert tenant_default.connection_request_credentials() == ("t", "tp")


def test_a_periodic_session_decrypts_nothing(monkeypatch, settings):
    settings.CWMP_TENANT_CACHE_SECONDS = 30  # as deployed: the tenant is cached
    TenantFactory(slug="isp", connection_request_password="tenant-secret")
    cpe = ScriptedCPE(Client(), "/cwmp/isp/")
    cpe.session(inform_body("SN1"))
    Device.objects.update(connection_request_password="cr-secret")
    calls = []
    real = fieldcrypt.decrypt
    monkeypatch.setattr(fieldcrypt, "decrypt", lambda token: calls.append(token) or real(token))
    cpe.session(inform_body("SN1"))
    assert calls == []
    assert Device.objects.get().connection_request_password == "cr-secret"
    assert len(calls) == 1  # the ORM's read above does, through the same function


def test_rotation_re_encrypts_with_the_first_key(settings):
    device = DeviceFactory(connection_request_password="secret-1")
    tenant = TenantFactory(connection_request_password="secret-2")
    before = _stored(Device, device.pk)
    settings.ACS_FIELD_KEYS = [KEY_2, KEY_1]  # new key first, old one still decrypts
    assert Device.objects.get(pk=device.pk).connection_request_password == "secret-1"
    out = io.StringIO()
    call_command("acs_rotate_keys", stdout=out)
    assert "devices.Device.connection_request_password: 1 re-encrypted" in out.getvalue()
    assert "tenants.Tenant.connection_request_password: " in out.getvalue()
    assert _stored(Device, device.pk) != before
    settings.ACS_FIELD_KEYS = [KEY_2]  # the old key dropped: everything still reads
    assert Device.objects.get(pk=device.pk).connection_request_password == "secret-1"
    assert Tenant.objects.get(pk=tenant.pk).connection_request_password == "secret-2"
    # Run again: nothing left under another key (rotate re-encrypts anyway, harmlessly).
    call_command("acs_rotate_keys", stdout=io.StringIO())
    assert Device.objects.get(pk=device.pk).connection_request_password == "secret-1"


def test_a_value_no_key_decrypts_is_an_error_not_garbage(settings):
    device = DeviceFactory(connection_request_password="secret")
    settings.ACS_FIELD_KEYS = [KEY_2]
    with pytest.raises(fieldcrypt.FieldKeyError, match="ACS_FIELD_KEYS"):
        Device.objects.get(pk=device.pk)
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=r"devices\.Device\.connection_request_password"):
        call_command("acs_rotate_keys", stdout=io.StringIO())


def test_malformed_keys_are_refused(settings):
    settings.ACS_FIELD_KEYS = ["not-a-key"]
    with pytest.raises(fieldcrypt.FieldKeyError, match="32 url-safe base64"):
        fieldcrypt.encrypt("x")
    out = io.StringIO()
    call_command("acs_rotate_keys", "--generate", stdout=out)
    settings.ACS_FIELD_KEYS = [out.getvalue().strip()]
    assert fieldcrypt.decrypt(fieldcrypt.encrypt("x")) == "x"


def test_the_default_key_is_derived_from_the_secret_key():
    from acsportal import settings as project_settings

    assert project_settings.ACS_FIELD_KEYS[0] == project_settings._derived_field_key(
        project_settings.SECRET_KEY
    )
    assert project_settings._derived_field_key("a") != project_settings._derived_field_key("b")


MIGRATIONS = {
    "devices": (
        "0004_device_tenant_keys",
        "0005_encrypt_connection_request_password",
    ),
    "tenants": (
        "0004_helpdesk_role_and_membership_scope",
        "0005_encrypt_connection_request_password",
    ),
}


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_stored_passwords_and_its_reverse_decrypts():
    tenant = TenantFactory(connection_request_password="")
    device = DeviceFactory(tenant=tenant)
    executor = MigrationExecutor(connection)
    executor.migrate([(app, before) for app, (before, _) in MIGRATIONS.items()])
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE devices_device SET connection_request_password = %s WHERE id = %s",
                ["legacy-clear", device.pk],
            )
            cursor.execute(
                "UPDATE tenants_tenant SET connection_request_password = %s WHERE id = %s",
                ["tenant-clear", tenant.pk],
            )
        executor = MigrationExecutor(connection)
        # Forward to the latest state (what the ORM models below expect).
        executor.migrate(executor.loader.graph.leaf_nodes())
        raw = _stored(Device, device.pk)
        assert raw != "legacy-clear" and fieldcrypt.decrypt(raw) == "legacy-clear"
        assert fieldcrypt.decrypt(_stored(Tenant, tenant.pk)) == "tenant-clear"
        assert Device.objects.get(pk=device.pk).connection_request_password == "legacy-clear"
        # Backwards: clear text again, in the old column.
        executor = MigrationExecutor(connection)
        executor.migrate([(app, before) for app, (before, _) in MIGRATIONS.items()])
        assert _stored(Device, device.pk) == "legacy-clear"
        assert _stored(Tenant, tenant.pk) == "tenant-clear"
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
