"""Tenants' default connection-request passwords encrypted at rest (ACS_FIELD_KEYS).

The column becomes text (a token is longer than the password) and every
stored password is encrypted in place; backwards, decrypted again (with the
keys of the settings the reverse runs under) and the column narrowed back.
A value that already decrypts is left as it is, so a rerun changes nothing.
"""

from django.db import migrations, models

import acsportal.infra.fieldcrypt
from acsportal.infra.fieldcrypt import encrypt_column_in_place

TABLE, COLUMN = "tenants_tenant", "connection_request_password"


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0004_helpdesk_role_and_membership_scope"),
    ]

    operations = [
        migrations.AlterField(
            model_name="tenant",
            name="connection_request_password",
            field=acsportal.infra.fieldcrypt.EncryptedTextField(blank=True, max_length=256),
        ),
        encrypt_column_in_place(TABLE, COLUMN),
    ]
