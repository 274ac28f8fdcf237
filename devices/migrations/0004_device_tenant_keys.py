"""The tenant of a session log or CPE request is its device's, held by PostgreSQL.

A UNIQUE (id, tenant_id) on devices_device for composite foreign keys to
name, and one such key (device_id, tenant_id) on each child of this app
(provisioning's come in its own migration). PostgreSQL only: on SQLite the
model layer and the lean SQL check instead (devices.models.DeviceOwned).
"""

from django.db import migrations

from devices.migration_operations import RunSQLOnPostgreSQL, device_tenant_foreign_key


class Migration(migrations.Migration):
    dependencies = [
        ("devices", "0003_search_and_model_version_indexes"),
    ]

    operations = [
        RunSQLOnPostgreSQL(
            sql=(
                'ALTER TABLE "devices_device"'
                ' ADD CONSTRAINT "devices_device_id_tenant_key" UNIQUE ("id", "tenant_id")'
            ),
            reverse_sql='ALTER TABLE "devices_device" DROP CONSTRAINT "devices_device_id_tenant_key"',
        ),
        device_tenant_foreign_key("devices_sessionlog", "devices_sessionlog_device_tenant_fk"),
        device_tenant_foreign_key("devices_cperequest", "devices_cperequest_device_tenant_fk"),
    ]
