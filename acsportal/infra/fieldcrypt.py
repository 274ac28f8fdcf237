"""Secrets at rest: model fields the ACS must read back in clear, stored encrypted.

A connection-request password cannot be hashed like a login password: the
ACS answers the CPE's Digest challenge with it (TR-069 3.2.2), so it needs
the clear text. What it can do is keep the database (a dump, a backup, a
replica, a stolen SQLite file) from holding it in clear. Values are
encrypted with ``cryptography``'s Fernet (AES-128-CBC with an HMAC-SHA256,
authenticated: a changed or truncated value is refused, never decrypted to
garbage) under the keys of ``ACS_FIELD_KEYS``: the first encrypts, every one
decrypts (``MultiFernet``), so a key is rotated by putting the new one first,
running ``manage.py acs_rotate_keys`` (re-encrypts every value with it) and
then dropping the old one.

The empty string stays empty (and ``None`` stays ``None``): "no password" is
not a secret, and it keeps ``filter(field="")`` meaningful, the only
comparison an encrypted column can answer (two encryptions of one value
differ), so other lookups are refused rather than silently matching nothing.

The field is deliberately not a ``CharField``: the CWMP path's lean SQL
(``acsportal.infra.db``) sends CharField values to the driver unprepared, and
this one must always go through ``get_prep_value``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django import forms
from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models import lookups
from django.utils.functional import cached_property


class FieldKeyError(ValueError):
    """A stored value no key of ``ACS_FIELD_KEYS`` decrypts (or a key is malformed)."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise FieldKeyError("ACS_FIELD_KEYS is empty: at least one Fernet key is needed")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise FieldKeyError(
            "ACS_FIELD_KEYS: every key must be 32 url-safe base64-encoded bytes"
            " (manage.py acs_rotate_keys --generate prints one)"
        ) from exc


def _keys() -> MultiFernet:
    # Keyed on the setting's value, so a test (or a reload) that changes it is obeyed.
    return _fernet(tuple(settings.ACS_FIELD_KEYS))


def generate_key() -> str:
    return Fernet.generate_key().decode()


def encrypt(value: str) -> str:
    """A token for ``value`` under the first key (``""`` stays ``""``)."""
    if not value:
        return value
    return _keys().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    """The clear text of a token made under any key of ``ACS_FIELD_KEYS``."""
    if not token:
        return token
    try:
        return _keys().decrypt(token.encode()).decode()
    except InvalidToken:
        raise FieldKeyError(
            "a stored secret does not decrypt with any key of ACS_FIELD_KEYS (was a key"
            " dropped before manage.py acs_rotate_keys ran, or SECRET_KEY changed while"
            " ACS_FIELD_KEYS was left to its default?)"
        ) from None


def is_encrypted(value: str) -> bool:
    """Whether ``value`` is a token one of the keys made (so a migration can run twice)."""
    try:
        _keys().decrypt(value.encode())
    except InvalidToken:
        return False
    return True


def rotate(token: str) -> str:
    """``token`` re-encrypted under the first key (any key may have made it)."""
    if not token:
        return token
    try:
        return _keys().rotate(token.encode()).decode()
    except InvalidToken:
        raise FieldKeyError(
            "a stored secret does not decrypt with any key of ACS_FIELD_KEYS"
        ) from None


class _EmptyOnlyExact(lookups.Exact):
    """``field=""`` / ``field=None`` only: an encrypted value never equals a new encryption."""

    def get_prep_lookup(self) -> Any:
        if self.rhs not in ("", None):
            raise ValueError("an encrypted field can only be compared with '' (or None)")
        return super().get_prep_lookup()


class EncryptedTextField(models.Field):
    """Text kept encrypted in the database and clear in Python (see the module's docstring).

    ``max_length`` bounds the clear text (forms, ``full_clean``); the column is
    unbounded text, as a token is about 4/3 of the value plus 77 characters.
    """

    description = "Text, encrypted at rest"

    def get_internal_type(self) -> str:
        return "TextField"

    @cached_property
    def validators(self) -> list[Any]:
        extra = [MaxLengthValidator(self.max_length)] if self.max_length is not None else []
        return [*super().validators, *extra]

    def to_python(self, value: Any) -> str | None:
        if value is None or isinstance(value, str):
            return value
        return str(value)

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        return decrypt(value) if value else value

    def get_prep_value(self, value: Any) -> str | None:
        value = super().get_prep_value(value)
        return value if value is None else encrypt(str(value))

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name == "exact":
            return _EmptyOnlyExact
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        return None

    def formfield(
        self,
        form_class: type[forms.Field] | None = None,
        choices_form_class: type[forms.ChoiceField] | None = None,
        **kwargs: Any,
    ) -> forms.Field | None:
        kwargs.setdefault("max_length", self.max_length)
        if self.null:
            kwargs.setdefault("empty_value", None)
        return super().formfield(
            form_class=form_class or forms.CharField,
            choices_form_class=choices_form_class,
            **kwargs,
        )


def encrypted_fields() -> Sequence[tuple[type[models.Model], EncryptedTextField]]:
    """Every (model, field) of the installed apps stored encrypted: what rotation walks."""
    from django.apps import apps

    return [
        (model, field)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedTextField)
    ]


def rewrite_column(
    connection: Any,
    table: str,
    column: str,
    change: Callable[[str], str],
    *,
    pk_column: str = "id",
    batch: int = 2000,
) -> int:
    """Apply ``change`` to every non-empty value of ``table.column``; the rows changed.

    Raw SQL, not the ORM: a migration's historical field would decrypt what
    it reads, which is exactly what a migration that encrypts cannot allow.
    Walks the table in primary-key order, ``batch`` rows at a time, so a
    fleet of millions is never in memory at once. Each UPDATE also names the
    value it read: a row a server changed meanwhile (already written under
    the first key) is left alone, so the rewrite may run beside live servers
    and may be run again.
    """
    qn = connection.ops.quote_name
    t, c, pk = qn(table), qn(column), qn(pk_column)
    select = f"SELECT {pk}, {c} FROM {t} WHERE {pk} > %s AND {c} <> '' ORDER BY {pk} LIMIT %s"  # noqa: S608
    update = f"UPDATE {t} SET {c} = %s WHERE {pk} = %s AND {c} = %s"  # noqa: S608
    changed, last = 0, 0  # integer keys (BigAutoField): every one is above 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute(select, [last, batch])
            rows = cursor.fetchall()
            if not rows:
                return changed
            updates = [(new, key, old) for key, old in rows if (new := change(old)) != old]
            if updates:
                cursor.executemany(update, updates)
                changed += len(updates)
            last = rows[-1][0]


def encrypt_column_in_place(table: str, column: str) -> Any:
    """The migration step that encrypts ``table.column``'s stored values (decrypts, reversed).

    A value already encrypted is left as it is, so a rerun changes nothing;
    backwards, values are decrypted with the keys of the settings the
    reverse runs under.
    """
    from django.db import migrations

    def forwards(apps: Any, schema_editor: Any) -> None:
        rewrite_column(
            schema_editor.connection,
            table,
            column,
            lambda value: value if is_encrypted(value) else encrypt(value),
        )

    def backwards(apps: Any, schema_editor: Any) -> None:
        rewrite_column(
            schema_editor.connection,
            table,
            column,
            lambda value: decrypt(value) if is_encrypted(value) else value,
        )

    return migrations.RunPython(forwards, backwards)
