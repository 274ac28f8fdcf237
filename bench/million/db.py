"""Table sizes from the catalog, and what one step leaves for the next (``bench_million_meta``).

``measure`` and ``indexes`` run in later invocations than ``load`` and need
its figures (where the full-tree devices start, the sizes after each phase),
so they are kept in the database they describe.
"""

# SQL here is built from fixed table and column names (and the ORM's own SQL); every
# value is a query parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

META_TABLE = "bench_million_meta"


def table_sizes(cur: Any, tables: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Heap, TOAST, indexes (each) and total bytes of each table."""
    out: dict[str, dict[str, Any]] = {}
    for table in tables:
        cur.execute(
            "SELECT pg_relation_size(c.oid), pg_table_size(c.oid), pg_indexes_size(c.oid),"
            " pg_total_relation_size(c.oid),"
            " COALESCE(pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), 0),"
            " c.reltuples::bigint"
            " FROM pg_class c WHERE c.oid = %s::regclass",
            [table],
        )
        heap, table_size, indexes, total, toast, tuples = cur.fetchone()
        cur.execute(
            "SELECT i.indexrelid::regclass::text, pg_relation_size(i.indexrelid)"
            " FROM pg_index i WHERE i.indrelid = %s::regclass ORDER BY 2 DESC",
            [table],
        )
        out[table] = {
            "heap": heap,
            "toast": toast,
            "table": table_size,
            "indexes": indexes,
            "total": total,
            "reltuples": tuples,
            "index_sizes": dict(cur.fetchall()),
        }
    return out


def save_meta(key: str, value: dict[str, Any]) -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {META_TABLE} (key text PRIMARY KEY, value jsonb NOT NULL)"
        )
        cur.execute(
            f"INSERT INTO {META_TABLE} (key, value) VALUES (%s, %s)"
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            [key, json.dumps(value, default=str)],
        )


def load_meta(key: str) -> dict[str, Any] | None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", [META_TABLE])
        if cur.fetchone()[0] is None:
            return None
        cur.execute(f"SELECT value FROM {META_TABLE} WHERE key = %s", [key])
        row = cur.fetchone()
    if not row:
        return None
    return row[0] if isinstance(row[0], dict) else json.loads(row[0])
