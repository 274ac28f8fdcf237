"""Re-encrypt every secret stored encrypted with the first key of ACS_FIELD_KEYS.

Rotation is three steps, each safe with servers running: put the new key
first in ``ACS_FIELD_KEYS`` (old ones after it) and restart, so new writes
use it and old values still decrypt; run this command, which rewrites every
stored value under the new key; drop the old key and restart. A key that
may have leaked is useless once the last step is done. ``--generate``
prints a fresh key for the first step.

The fields are found, not listed: every ``EncryptedTextField`` of the
installed apps (``acsportal.infra.fieldcrypt.encrypted_fields``).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from acsportal.infra.fieldcrypt import (
    FieldKeyError,
    encrypted_fields,
    generate_key,
    rewrite_column,
    rotate,
)


class Command(BaseCommand):
    help = "Re-encrypt the stored secrets (connection-request passwords) with the first key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--generate", action="store_true", help="print a new key for ACS_FIELD_KEYS and exit"
        )

    def handle(self, *args: Any, generate: bool, **options: Any) -> None:
        if generate:
            self.stdout.write(generate_key())
            return
        for model, field in encrypted_fields():
            label = f"{model._meta.label}.{field.name}"
            try:
                with transaction.atomic():
                    changed = rewrite_column(
                        connection,
                        model._meta.db_table,
                        field.column,
                        rotate,
                        pk_column=model._meta.pk.column,
                    )
            except FieldKeyError as exc:
                raise CommandError(f"{label}: {exc}") from None
            self.stdout.write(f"{label}: {changed} re-encrypted")
