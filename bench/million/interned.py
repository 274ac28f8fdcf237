"""The interned-path layout experiment: the same parameters, with paths as integer ids.

Built beside the application's table (``bench_param_*``) from its rows, so
sizes and timings compare on identical data and the ``Parameter`` model is
left alone.
"""

# SQL here is built from fixed table and column names (and the ORM's own SQL); every
# value is a query parameter.
# ruff: noqa: S608

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.million.db import load_meta, save_meta, table_sizes
from bench.million.generate import (
    COMMON_SSIDS,
)
from bench.million.queries import (
    SSID_PATHS,
    SW_PATHS,
)
from bench.million.timing import Result, run_sql

INTERNED_DDL = (
    "CREATE TABLE bench_param_path ("
    " id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " path varchar(512) NOT NULL UNIQUE)",
    "CREATE TABLE bench_param_type (id smallint PRIMARY KEY, name varchar(32) NOT NULL UNIQUE)",
    # Fixed-width columns first, widest first: no alignment padding; 24 bytes + value.
    "CREATE TABLE bench_param_interned ("
    " device_id bigint NOT NULL,"
    " updated timestamptz NOT NULL,"
    " path_id integer NOT NULL,"
    " type_id smallint NOT NULL,"
    # bit 0 object; bit 1 writability known, bit 2 writable; bits 3-5 notification + 1
    # (0 = unknown); bit 6 access list 'Subscriber'.
    " flags smallint NOT NULL,"
    " value text NOT NULL,"
    " PRIMARY KEY (device_id, path_id))",
)
VALUE_LIMIT = 200
INTERNED_TABLES = ("bench_param_interned", "bench_param_path", "bench_param_type")
_FLAGS_SQL = (
    "((CASE WHEN p.is_object THEN 1 ELSE 0 END)"
    " | (CASE WHEN p.writable IS NULL THEN 0 WHEN p.writable THEN 6 ELSE 2 END)"
    " | (COALESCE(p.notification + 1, 0) << 3)"
    " | (CASE WHEN p.access_list <> '' THEN 64 ELSE 0 END))::smallint"
)


VALUE_INDEX = (
    "CREATE INDEX bench_param_interned_value ON bench_param_interned (path_id, value)"
    f" WHERE octet_length(value) <= {VALUE_LIMIT}"
)


def _value_index(cur: Any) -> None:
    """The search index: any parameter by value ("count devices whose X is Y").

    Partial: a few values (certificates, logs) are longer than a btree entry
    may be, and nobody searches them. Queries add ``octet_length(value) <=
    200`` so the planner may use it, for equality and, index-only, for LIKE.
    """
    cur.execute("SELECT pg_get_indexdef(to_regclass('bench_param_interned_value'))")
    row = cur.fetchone()
    if row and row[0] and "octet_length" in row[0]:
        return
    cur.execute("DROP INDEX IF EXISTS bench_param_interned_value")
    cur.execute(VALUE_INDEX)
    cur.execute("ANALYZE bench_param_interned")


def build_interned(*, split_device_id: int | None, log: Callable[[str], None] = print) -> dict:
    """Copy devices_parameter into the interned layout, sizes taken per kind of device."""
    from django.db import connection

    report: dict[str, Any] = {}
    with connection.cursor() as cur:
        for table in INTERNED_TABLES:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        for ddl in INTERNED_DDL:
            cur.execute(ddl)
        start = time.perf_counter()
        cur.execute("SELECT path, type FROM devices_parameter GROUP BY path, type")
        pairs = cur.fetchall()
        paths = sorted({p for p, _ in pairs})
        types = sorted({t for _, t in pairs})
        with cur.cursor.copy("COPY bench_param_path (path) FROM STDIN") as copy:
            for path in paths:
                copy.write_row((path,))
        with cur.cursor.copy("COPY bench_param_type (id, name) FROM STDIN") as copy:
            for i, name in enumerate(types):
                copy.write_row((i, name))
        cur.execute("ANALYZE bench_param_path")
        cur.execute("ANALYZE bench_param_type")
        report["dictionary_seconds"] = round(time.perf_counter() - start, 2)
        report["distinct_paths"] = len(paths)
        report["distinct_types"] = len(types)
        log(f"  interned: {len(paths):,} distinct paths, {len(types)} types")
        insert = (
            "INSERT INTO bench_param_interned"
            " (device_id, updated, path_id, type_id, flags, value)"
            f" SELECT p.device_id, p.updated, pp.id, t.id, {_FLAGS_SQL}, p.value"
            " FROM devices_parameter p"
            " JOIN bench_param_path pp ON pp.path = p.path"
            " JOIN bench_param_type t ON t.name = p.type"
        )
        phases = [("ordinary", " WHERE p.device_id < %s"), ("full", " WHERE p.device_id >= %s")]
        if split_device_id is None:
            phases = [("all", "")]
        sizes_before = table_sizes(cur, ["bench_param_interned"])["bench_param_interned"]
        report["phases"] = []
        for name, where in phases:
            start = time.perf_counter()
            cur.execute(insert + where, [split_device_id] if where else [])
            rows = cur.rowcount
            seconds = time.perf_counter() - start
            sizes = table_sizes(cur, ["bench_param_interned"])["bench_param_interned"]
            report["phases"].append(
                {
                    "name": name,
                    "rows": rows,
                    "seconds": round(seconds, 2),
                    "bytes": {k: sizes[k] - sizes_before[k] for k in ("heap", "indexes", "total")},
                }
            )
            sizes_before = sizes
            log(f"  interned {name}: {rows:,} rows in {seconds:.1f}s")
        verb = "VACUUM (ANALYZE)" if not connection.in_atomic_block else "ANALYZE"
        cur.execute(f"{verb} bench_param_interned")
        start = time.perf_counter()
        _value_index(cur)
        report["value_index_seconds"] = round(time.perf_counter() - start, 2)
        cur.execute(f"{verb} bench_param_interned")
        report["sizes"] = table_sizes(cur, INTERNED_TABLES)
    return report


def interned_experiment(
    *,
    repeat: int,
    slow_repeat: int,
    rebuild: bool,
    samples: dict[str, list[tuple]],
    filters: dict[str, Any],
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Build (or reuse) the interned copy and time the same questions on it."""
    from django.db import connection

    meta = load_meta("load") or {}
    full_phase = next((p for p in meta.get("phases", []) if p["name"] == "full"), None)
    split = full_phase["first_device_id"] if full_phase and full_phase["devices"] else None
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass('bench_param_interned')")
        exists = cur.fetchone()[0] is not None
    previous = load_meta("interned_build") if exists else None
    if rebuild or previous is None:
        build = build_interned(split_device_id=split, log=log)
        save_meta("interned_build", build)
    else:
        build = previous
        with connection.cursor() as cur:
            start = time.perf_counter()
            _value_index(cur)
            if time.perf_counter() - start > 1:
                build["value_index_seconds"] = round(time.perf_counter() - start, 2)
            build["sizes"] = table_sizes(cur, INTERNED_TABLES)
        save_meta("interned_build", build)
    out: dict[str, Any] = {"build": build, "results": []}
    per_kind = {}
    for phase in build["phases"]:
        devices = next(
            (p["devices"] for p in meta.get("phases", []) if p["name"] == phase["name"]),
            None,
        )
        if devices:
            per_kind[phase["name"]] = {
                "parameters": phase["bytes"]["total"] / devices,
                "parameters_heap": phase["bytes"]["heap"] / devices,
                "parameters_indexes": phase["bytes"]["indexes"] / devices,
                "bytes_per_parameter_row": phase["bytes"]["total"] / max(phase["rows"], 1),
            }
    out["bytes_per_device"] = per_kind
    results: list[Result] = []
    page = (
        "SELECT pp.path, i.value, t.name, i.flags, i.updated FROM bench_param_interned i"
        " JOIN bench_param_path pp ON pp.id = i.path_id"
        " JOIN bench_param_type t ON t.id = i.type_id"
        " WHERE i.device_id = %s ORDER BY pp.path"
    )
    with connection.cursor() as cur:
        for kind in ("ordinary", "full"):
            if samples.get(kind):
                results.append(
                    run_sql(
                        cur,
                        Result(
                            f"interned_params_{kind}", f"all parameters of a {kind} device", None
                        ),
                        page,
                        [(s[0],) for s in samples[kind]],
                        explain_runs=len(samples[kind]),
                    )
                )
        for kind in ("ordinary", "full"):
            if samples.get(kind):
                results.append(
                    run_sql(
                        cur,
                        Result(
                            f"interned_ids_{kind}",
                            f"the same, path ids resolved by an in-process cache ({kind})",
                            None,
                        ),
                        "SELECT path_id, value, type_id, flags, updated"
                        " FROM bench_param_interned WHERE device_id = %s",
                        [(s[0],) for s in samples[kind]],
                        explain_runs=len(samples[kind]),
                    )
                )
        ssid = COMMON_SSIDS[0]
        results.append(
            run_sql(
                cur,
                Result(
                    "interned_match_ssid", f"count devices of a tenant with SSID = {ssid!r}", 1000
                ),
                "SELECT count(*) FROM bench_param_interned i JOIN devices_device d"
                " ON d.id = i.device_id WHERE d.tenant_id = %s AND i.value = %s"
                f" AND octet_length(i.value) <= {VALUE_LIMIT}"
                " AND i.path_id IN (SELECT id FROM bench_param_path WHERE path = ANY(%s))",
                [(filters["tenant"], ssid, list(SSID_PATHS))] * repeat,
                explain_runs=3,
            )
        )
        results.append(
            run_sql(
                cur,
                Result(
                    "interned_match_sw_like", "count devices with SoftwareVersion LIKE '%V5%'", 1000
                ),
                "SELECT count(*) FROM bench_param_interned i WHERE i.value LIKE %s"
                f" AND octet_length(i.value) <= {VALUE_LIMIT}"
                " AND i.path_id IN (SELECT id FROM bench_param_path WHERE path = ANY(%s))",
                [("%V5%", list(SW_PATHS))] * max(3, repeat // 4),
                explain_runs=2,
            )
        )
        # A refresh answer written back: one upsert of an ordinary device's rows, both layouts.
        upserts = []
        for s in samples.get("ordinary", [])[: max(3, repeat // 2)]:
            upserts.append((s[0],))
        results.append(
            run_sql(
                cur,
                Result("upsert_current", "upsert one device's ~36 values (current layout)", None),
                "INSERT INTO devices_parameter (device_id, path, value, type, is_object,"
                " writable, notification, access_list, updated)"
                " SELECT device_id, path, value || '', type, is_object, writable, notification,"
                " access_list, now() FROM devices_parameter WHERE device_id = %s"
                " ON CONFLICT (device_id, path) DO UPDATE SET value = EXCLUDED.value,"
                " type = EXCLUDED.type, updated = EXCLUDED.updated",
                upserts,
                explain_runs=len(upserts),
                rollback=True,
            )
        )
        results.append(
            run_sql(
                cur,
                Result("upsert_interned", "upsert one device's ~36 values (interned layout)", None),
                "INSERT INTO bench_param_interned (device_id, updated, path_id, type_id, flags,"
                " value) SELECT device_id, now(), path_id, type_id, flags, value || ''"
                " FROM bench_param_interned WHERE device_id = %s"
                " ON CONFLICT (device_id, path_id) DO UPDATE SET value = EXCLUDED.value,"
                " type_id = EXCLUDED.type_id, updated = EXCLUDED.updated",
                upserts,
                explain_runs=len(upserts),
                rollback=True,
            )
        )
    for r in results:
        d = r.as_dict()
        log(
            f"  {r.key}: client median {d['client_median_ms']} ms, p95 {d['client_p95_ms']} ms;"
            f" server {d['server_median_ms']} ms [{d['plan_summary'][:110]}]"
        )
    out["results"] = [r.as_dict() for r in results]
    return out
