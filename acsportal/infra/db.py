"""Lean statements for the CWMP hot path: one row in or out, no query compiler.

A periodic CWMP session reads one device and writes it and its session log.
Through the ORM each of those statements cost 0.2-0.85 ms of CPU on the
2-core benchmark machine (compiling the query, not running it: the same SQL
through a cursor costs 0.04-0.1 ms), which made the ORM, not the database,
most of a session's cost. These helpers write the SQL once per model (and
column set) and keep the ORM's semantics where it matters: values are
prepared as each field prepares them (JSON, dates, addresses, defaults),
rows come back through the fields' and backend's converters as real model
instances, and columns left out of a select are deferred fields (read on
first use, as with ``QuerySet.only``). Everything else uses the ORM.

Field types whose preparation is the identity for values already of the
field's Python type (text, integers, booleans, keys) skip Django's
preparation chain: the hot path only passes such values.
"""

# SQL here is built from the models' own table and column names; every value
# is a query parameter.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import IntegrityError, connection, models, transaction
from django.db.models import Field, Model
from django.db.models.base import ModelState
from django.utils import timezone

M = TypeVar("M", bound=Model)

# Fields whose get_db_prep_save returns a value of the right Python type unchanged.
_PLAIN_FIELDS = (
    models.CharField,  # TextField, GenericIPAddressField are not CharFields: prepared
    models.IntegerField,  # and the Positive/Small/Big variants
    models.BooleanField,
    models.AutoField,
    models.BigAutoField,
)


def _preparer(field: Field) -> Callable[[Any], Any] | None:
    """None where a value goes to the driver as it is, else the field's preparation."""
    target = field.target_field if isinstance(field, models.ForeignKey) else field
    if isinstance(target, _PLAIN_FIELDS) or isinstance(target, models.TextField):
        return None

    def prepare(value: Any, _field: Field = field) -> Any:
        return _field.get_db_prep_save(value, connection)

    return prepare


@dataclass(slots=True, frozen=True)
class _Select:
    sql: str
    attnames: tuple[str, ...]
    # (column index, the column expression, converters) for columns that need them
    converters: tuple[tuple[int, Any, tuple[Any, ...]], ...]


_selects: dict[tuple[type[Model], str, tuple[str, ...] | None], _Select] = {}


def _select_plan(model: type[Model], only: tuple[str, ...] | None) -> _Select:
    key = (model, connection.vendor, only)
    plan = _selects.get(key)
    if plan is None:
        qn = connection.ops.quote_name
        table = model._meta.db_table
        fields = [
            f
            for f in model._meta.concrete_fields
            if only is None or f.primary_key or f.name in only or f.attname in only
        ]
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


def select_one(
    model: type[M], where: str, params: Sequence[Any], *, only: Iterable[str] | None = None
) -> M | None:
    """The first row matching ``where`` (SQL with %s placeholders) as a model instance.

    ``only`` names the fields to read (the primary key always is); the others
    are deferred, so reading one later costs a query, as with ``QuerySet.only``.
    """
    plan = _select_plan(model, tuple(sorted(only)) if only is not None else None)
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
    # What Model.from_db builds, without __init__'s walk over every field: a
    # field left out is simply absent from __dict__, which is how Django
    # marks a deferred field.
    obj = model.__new__(model)
    state = obj._state = ModelState()
    state.adding = False
    state.db = connection.alias
    obj.__dict__.update(zip(plan.attnames, row, strict=True))
    return obj


_preparers: dict[tuple[type[Model], str, str], tuple[str, Callable[[Any], Any] | None]] = {}


def _concrete_field(model: type[Model], name: str) -> Field:
    """The field named ``name``: one with a column, not a reverse relation."""
    field = model._meta.get_field(name)
    assert isinstance(field, Field)
    return field


def _column(model: type[Model], name: str) -> tuple[str, Callable[[Any], Any] | None]:
    key = (model, connection.vendor, name)
    found = _preparers.get(key)
    if found is None:
        field = _concrete_field(model, name)
        found = _preparers[key] = (connection.ops.quote_name(field.column), _preparer(field))
    return found


def _update_sql(model: type[Model], values: Mapping[str, Any]) -> tuple[str, list[Any]]:
    opts = model._meta
    qn = connection.ops.quote_name
    assignments, params = [], []
    for name, value in values.items():
        column, prepare = _column(model, name)
        assignments.append(f"{column} = %s")
        params.append(value if prepare is None or value is None else prepare(value))
    sql = f"UPDATE {qn(opts.db_table)} SET {', '.join(assignments)} WHERE {qn(opts.pk.column)} = %s"
    return sql, params


def update(model: type[Model], pk: Any, values: Mapping[str, Any]) -> int:
    """``UPDATE ... SET <values> WHERE pk = ...``, each value prepared as its field does."""
    if not values:
        return 0
    sql, params = _update_sql(model, values)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, pk])
        return cursor.rowcount


# (name, attname, default factory, preparation or None) per column
_Fields = tuple[tuple[str, str, Callable[[], Any], Callable[[Any], Any] | None], ...]


@dataclass(slots=True, frozen=True)
class _Row:
    sql: str
    fields: _Fields


_rows: dict[tuple[type[Model], str], _Row] = {}
# (the INSERT ... SELECT ... WHERE EXISTS, the foreign key's attname, the field's attname)
_guarded: dict[tuple[type[Model], str, tuple[str, str]], tuple[str, str, str]] = {}


def _default(field: Field) -> Callable[[], Any]:
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return timezone.now
    return field.get_default


def _row_plan(model: type[Model]) -> _Row:
    key = (model, connection.vendor)
    plan = _rows.get(key)
    if plan is None:
        qn = connection.ops.quote_name
        opts = model._meta
        fields = [f for f in opts.concrete_fields if not f.primary_key]
        sql = (
            f"INSERT INTO {qn(opts.db_table)} ({', '.join(qn(f.column) for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))})"
        )
        if connection.features.can_return_columns_from_insert:
            sql += f" RETURNING {qn(opts.pk.column)}"
        plan = _rows[key] = _Row(
            sql, tuple((f.name, f.attname, _default(f), _preparer(f)) for f in fields)
        )
    return plan


def _guarded_plan(model: type[Model], matching: tuple[str, str]) -> tuple[str, str, str]:
    """The INSERT that writes the row only if its ``field`` is that of the row ``fk`` names.

    Also: the foreign key's and the field's attnames, whose values follow the row's.
    """
    key = (model, connection.vendor, matching)
    found = _guarded.get(key)
    if found is None:
        fk_name, field_name = matching
        fk, field = _concrete_field(model, fk_name), _concrete_field(model, field_name)
        assert isinstance(fk, models.ForeignKey)
        target: type[Model] = fk.related_model  # type: ignore[assignment]
        qn = connection.ops.quote_name
        columns = ", ".join(
            qn(_concrete_field(model, n).column) for n, *_ in _row_plan(model).fields
        )
        placeholders = ", ".join(["%s"] * len(_row_plan(model).fields))
        sql = (
            f"INSERT INTO {qn(model._meta.db_table)} ({columns}) SELECT {placeholders}"
            f" WHERE EXISTS (SELECT 1 FROM {qn(target._meta.db_table)}"
            f" WHERE {qn(fk.target_field.column)} = %s"
            f" AND {qn(_concrete_field(target, field_name).column)} = %s)"
        )
        if connection.features.can_return_columns_from_insert:
            sql += f" RETURNING {qn(model._meta.pk.column)}"
        found = _guarded[key] = (sql, fk.attname, field.attname)
    return found


def _row_sql(
    model: type[Model], values: Mapping[str, Any], matching: tuple[str, str] | None = None
) -> tuple[str, list[Any]]:
    plan = _row_plan(model)
    params: list[Any] = []
    _add_row_params(params, plan.fields, values)
    if matching is None:
        return plan.sql, params
    sql, fk_attname, field_attname = _guarded_plan(model, matching)
    fk_name, field_name = matching
    for attname, name in ((fk_attname, fk_name), (field_attname, field_name)):
        params.append(values[attname] if attname in values else values[name])
    return sql, params


def _add_row_params(params: list[Any], fields: _Fields, row: Mapping[str, Any]) -> None:
    """A row's values in column order, by attname or name, defaults filled, prepared for the driver."""
    for name, attname, default, prepare in fields:
        if attname in row:
            value = row[attname]
        elif name in row:
            value = row[name]
        else:
            value = default()
        params.append(value if prepare is None or value is None else prepare(value))


def insert_row(
    model: type[Model], values: Mapping[str, Any], *, matching: tuple[str, str] | None = None
) -> Any:
    """``INSERT`` one row from field values (by name or attname; defaults for the rest); its pk.

    ``insert`` without building a model instance, for rows the caller never
    reads back (a session's log, while it is open). ``matching``, a foreign
    key and a field (``("device", "tenant")``), makes the same statement
    insert the row only if its field equals that of the row the key names,
    and raises ``IntegrityError`` otherwise: the check a composite foreign
    key would make, for databases without one, at no extra round trip.
    """
    sql, params = _row_sql(model, values, matching)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return _new_pk(model, cursor, matching)


def _new_pk(model: type[Model], cursor: Any, matching: tuple[str, str] | None = None) -> Any:
    opts = model._meta
    if connection.features.can_return_columns_from_insert:
        row = cursor.fetchone()
        if row is None:
            raise _refused(model, matching)
        return row[0]
    if matching is not None and cursor.rowcount == 0:
        raise _refused(model, matching)
    return connection.ops.last_insert_id(cursor, opts.db_table, opts.pk.column)


def _refused(model: type[Model], matching: tuple[str, str] | None) -> IntegrityError:
    fk, field = matching or ("?", "?")
    return IntegrityError(
        f"{model._meta.db_table}: not inserted, its {field} is not that of the {fk} it names"
    )


def update_then_insert_row(
    model: type[Model],
    pk: Any,
    values: Mapping[str, Any],
    row_model: type[Model],
    row: Mapping[str, Any],
    *,
    matching: tuple[str, str] | None = None,
) -> Any:
    """``update`` then ``insert_row`` (with its ``matching``), both or neither; the new row's pk.

    On PostgreSQL that is one statement (the UPDATE in a data-modifying
    CTE), so it needs no transaction of its own: two round trips fewer than
    BEGIN, UPDATE, INSERT, COMMIT. Elsewhere, both in one transaction.
    """
    if not values:
        return insert_row(row_model, row, matching=matching)
    update_sql, update_params = _update_sql(model, values)
    insert_sql, insert_params = _row_sql(row_model, row, matching)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH updated AS ({update_sql}) {insert_sql}",
                [*update_params, pk, *insert_params],
            )
            return _new_pk(row_model, cursor, matching)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(update_sql, [*update_params, pk])
        cursor.execute(insert_sql, insert_params)
        return _new_pk(row_model, cursor, matching)


def upsert_rows(
    model: type[Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    unique: Sequence[str],
    update: Sequence[str],
) -> int:
    """Insert rows, or update ``update`` columns where ``unique`` already exists; the row count.

    ``INSERT ... ON CONFLICT (unique) DO UPDATE`` (PostgreSQL, SQLite), with
    rows given as field values (defaults for the rest) and sent as plain
    parameters in as few statements as the database's parameter limit
    allows. ``bulk_create(update_conflicts=True)`` did the same through
    model instances and, on PostgreSQL, arrays that psycopg dumps in Python:
    a tree refresh spent most of its time there. A row whose unique key
    repeats within the call is written once, the last one winning.
    """
    if not rows:
        return 0
    plan = _row_plan(model)
    qn = connection.ops.quote_name
    opts = model._meta
    names = [name for name, *_ in plan.fields]
    columns = ", ".join(qn(_concrete_field(model, n).column) for n in names)
    conflict = ", ".join(qn(_concrete_field(model, n).column) for n in unique)
    assignments = ", ".join(
        f"{qn(c)} = EXCLUDED.{qn(c)}" for c in (_concrete_field(model, n).column for n in update)
    )
    unique_attnames = [_concrete_field(model, n).attname for n in unique]
    latest: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    for row in rows:
        latest[
            tuple(row.get(a, row.get(n)) for a, n in zip(unique_attnames, unique, strict=True))
        ] = row
    width = len(plan.fields)
    limit = getattr(connection.features, "max_query_params", None) or 65535
    per_statement = max(1, min(limit, 65535) // width)
    placeholder = "(" + ", ".join(["%s"] * width) + ")"
    values = list(latest.values())
    with connection.cursor() as cursor:
        for start in range(0, len(values), per_statement):
            chunk = values[start : start + per_statement]
            params: list[Any] = []
            for row in chunk:
                _add_row_params(params, plan.fields, row)
            cursor.execute(
                f"INSERT INTO {qn(opts.db_table)} ({columns}) VALUES "
                f"{', '.join([placeholder] * len(chunk))} "
                f"ON CONFLICT ({conflict}) DO UPDATE SET {assignments}",
                params,
            )
    return len(values)
