"""The tenant of a task, fault or device's file is its device's, held by PostgreSQL.

Composite foreign keys (device_id, tenant_id) to devices_device (id,
tenant_id), whose UNIQUE key devices 0004 adds. PostgreSQL only: on SQLite
the model layer checks instead (devices.models.DeviceOwned).
"""

from django.db import migrations

from devices.migration_operations import device_tenant_foreign_key


class Migration(migrations.Migration):
    dependencies = [
        ("devices", "0004_device_tenant_keys"),
        ("provisioning", "0002_files_and_fetch_log"),
    ]

    operations = [
        device_tenant_foreign_key("provisioning_task", "provisioning_task_device_tenant_fk"),
        device_tenant_foreign_key("provisioning_fault", "provisioning_fault_device_tenant_fk"),
        device_tenant_foreign_key("provisioning_file", "provisioning_file_device_tenant_fk"),
    ]
