"""Migration operations the apps' migrations share.

Kept out of the migration files so that devices' and provisioning's
migrations state the SQL of their constraints and nothing else.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations


class RunSQLOnPostgreSQL(migrations.RunSQL):
    """``RunSQL`` that runs on PostgreSQL and is a no-op elsewhere, both ways.

    For constraints Django's model state cannot express (a composite
    foreign key): SQLite has no ``ALTER TABLE ... ADD CONSTRAINT``, and there
    the model layer holds the same rule.
    """

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)

    def describe(self) -> str:
        return "Raw SQL operation on PostgreSQL only"


def device_tenant_foreign_key(table: str, name: str) -> RunSQLOnPostgreSQL:
    """``table``'s (device_id, tenant_id) must be a device's (id, tenant_id); reversible.

    MATCH SIMPLE, so a row without a device (a tenant's own file) is not
    checked; ON DELETE CASCADE as the model's ``on_delete`` (Django deletes
    the children first anyway); not deferrable, so the statement that
    names another tenant's device fails, not a later COMMIT. ON UPDATE is
    NO ACTION: a device with rows cannot change tenant under them.
    """
    return RunSQLOnPostgreSQL(
        sql=(
            f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}"'
            ' FOREIGN KEY ("device_id", "tenant_id")'
            ' REFERENCES "devices_device" ("id", "tenant_id") MATCH SIMPLE ON DELETE CASCADE'
        ),
        reverse_sql=f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"',
    )
