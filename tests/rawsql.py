"""Writes that go round the model layer, for the tests of the data's invariants.

``copy_row`` is what a careless script or a bug in lean SQL would send; on
PostgreSQL the database must refuse it. ``forge`` writes a row the database
would refuse, for the tests that prove a session never acts on such a row
whatever let it in.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Model


def copy_row(model: type[Model], pk: int, **overrides: Any) -> None:
    """``INSERT INTO <table> SELECT ...`` a copy of row ``pk``, columns in ``overrides`` replaced."""
    qn = connection.ops.quote_name
    opts = model._meta
    columns, values, params = [], [], []
    for field in opts.concrete_fields:
        if field.primary_key:
            continue
        columns.append(qn(field.column))
        if field.attname in overrides:
            values.append("%s")
            params.append(overrides[field.attname])
        else:
            values.append(qn(field.column))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {qn(opts.db_table)} ({', '.join(columns)})"
            f" SELECT {', '.join(values)} FROM {qn(opts.db_table)} WHERE {qn(opts.pk.column)} = %s",
            [*params, pk],
        )


def update_row(model: type[Model], pk: int, **values: Any) -> None:
    """A raw ``UPDATE`` of row ``pk``: no model code runs."""
    qn = connection.ops.quote_name
    opts = model._meta
    fields = {f.attname: f for f in opts.concrete_fields} | {
        f.name: f for f in opts.concrete_fields
    }
    assignments = ", ".join(f"{qn(fields[k].column)} = %s" for k in values)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {qn(opts.db_table)} SET {assignments} WHERE {qn(opts.pk.column)} = %s",
            [*values.values(), pk],
        )


def forge(model: type[Model], pk: int, **values: Any) -> None:
    """``update_row`` even where the database would refuse it (PostgreSQL's composite key).

    On PostgreSQL the update runs as a replica would apply it: foreign-key
    triggers do not fire (the test user is the superuser), for this
    statement only.
    """
    if connection.vendor != "postgresql":
        update_row(model, pk, **values)
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
    try:
        update_row(model, pk, **values)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = DEFAULT")
