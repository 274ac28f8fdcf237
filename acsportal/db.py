"""Lean statements for the CWMP hot path: one row in or out, no query compiler.

A periodic CWMP session reads one device and writes it and its session log.
Through the ORM each of those statements cost 0.2-0.85 ms of CPU on the
2-core benchmark machine (compiling the query, not running it: the same SQL
through a cursor costs 0.04-0.1 ms), which made the ORM, not the database,
most of a session's cost. These helpers write the SQL once per model and
keep the ORM's semantics where it matters: values are prepared by each
field (``get_db_prep_save``: JSON, dates, defaults, ``auto_now_add``) and
rows come back through the fields' and backend's converters as real model
instances. Everything else uses the ORM.
"""

# SQL here is built from the models' own table and column names; every value
# is a query parameter.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import connection, transaction
from django.db.models import Model

M = TypeVar("M", bound=Model)


@dataclass(slots=True, frozen=True)
class _Select:
    sql: str
    attnames: tuple[str, ...]
    # (column index, the column expression, converters) for columns that need them
    converters: tuple[tuple[int, Any, tuple[Any, ...]], ...]


_selects: dict[tuple[type[Model], str], _Select] = {}


def _select_plan(model: type[Model]) -> _Select:
    key = (model, connection.vendor)
    plan = _selects.get(key)
    if plan is None:
        qn = connection.ops.quote_name
        table = model._meta.db_table
        fields = model._meta.concrete_fields
        converters = []
        for i, field in enumerate(fields):
            col = field.get_col(table)
            found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            if found:
                converters.append((i, col, tuple(found)))
        plan = _Select(
            sql=f"SELECT {', '.join(qn(f.column) for f in fields)} FROM {qn(table)}",
            attnames=tuple(f.attname for f in fields),
            converters=tuple(converters),
        )
        _selects[key] = plan
    return plan


def select_one(model: type[M], where: str, params: Sequence[Any]) -> M | None:
    """The first row matching ``where`` (SQL with %s placeholders) as a model instance."""
    plan = _select_plan(model)
    with connection.cursor() as cursor:
        cursor.execute(f"{plan.sql} WHERE {where} LIMIT 1", params)
        row = cursor.fetchone()
    if row is None:
        return None
    if plan.converters:
        values = list(row)
        for i, col, converters in plan.converters:
            for convert in converters:
                values[i] = convert(values[i], col, connection)
        row = values
    return model.from_db(connection.alias, plan.attnames, row)


def _update_sql(model: type[Model], values: Mapping[str, Any]) -> tuple[str, list[Any]]:
    opts = model._meta
    qn = connection.ops.quote_name
    assignments, params = [], []
    for name, value in values.items():
        field = opts.get_field(name)
        assignments.append(f"{qn(field.column)} = %s")  # type: ignore[union-attr]
        params.append(field.get_db_prep_save(value, connection))  # type: ignore[union-attr]
    sql = f"UPDATE {qn(opts.db_table)} SET {', '.join(assignments)} WHERE {qn(opts.pk.column)} = %s"
    return sql, params


def update(model: type[Model], pk: Any, values: Mapping[str, Any]) -> int:
    """``UPDATE ... SET <values> WHERE pk = ...`` with each field preparing its value."""
    if not values:
        return 0
    sql, params = _update_sql(model, values)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, pk])
        return cursor.rowcount


_inserts: dict[tuple[type[Model], str], tuple[str, tuple[Any, ...]]] = {}


def _insert_sql(obj: Model) -> tuple[str, list[Any]]:
    model = type(obj)
    key = (model, connection.vendor)
    plan = _inserts.get(key)
    if plan is None:
        qn = connection.ops.quote_name
        opts = model._meta
        fields = tuple(f for f in opts.concrete_fields if not f.primary_key)
        sql = (
            f"INSERT INTO {qn(opts.db_table)} ({', '.join(qn(f.column) for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))})"
        )
        if connection.features.can_return_columns_from_insert:
            sql += f" RETURNING {qn(opts.pk.column)}"
        plan = _inserts[key] = (sql, fields)
    sql, fields = plan
    return sql, [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]


def _inserted(obj: M, cursor: Any) -> M:
    opts = type(obj)._meta
    if connection.features.can_return_columns_from_insert:
        obj.pk = cursor.fetchone()[0]
    else:
        obj.pk = connection.ops.last_insert_id(cursor, opts.db_table, opts.pk.column)
    obj._state.adding = False
    obj._state.db = connection.alias
    return obj


def insert(obj: M) -> M:
    """``INSERT`` one new instance (all its fields, defaults applied) and set its pk."""
    sql, params = _insert_sql(obj)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return _inserted(obj, cursor)


def update_then_insert(model: type[Model], pk: Any, values: Mapping[str, Any], obj: M) -> M:
    """``update`` then ``insert``, both or neither.

    On PostgreSQL that is one statement (the UPDATE in a data-modifying
    CTE), so it needs no transaction of its own: two round trips fewer than
    BEGIN, UPDATE, INSERT, COMMIT. Elsewhere, both in one transaction.
    """
    if not values:
        return insert(obj)
    update_sql, update_params = _update_sql(model, values)
    insert_sql, insert_params = _insert_sql(obj)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH updated AS ({update_sql}) {insert_sql}",
                [*update_params, pk, *insert_params],
            )
            return _inserted(obj, cursor)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(update_sql, [*update_params, pk])
        cursor.execute(insert_sql, insert_params)
        return _inserted(obj, cursor)
