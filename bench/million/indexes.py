"""The target queries without the application's indexes, and with the alternatives to them.

The before and after figures of bench/MILLION.md come from here. An index is
hidden by dropping it in a transaction that is rolled back, so the loaded
database is left as it was.
"""

# SQL here is built from fixed table and column names (and the ORM's own SQL); every
# value is a query parameter.
# ruff: noqa: S608

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.million.generate import (
    COMMON_SSIDS,
)
from bench.million.queries import (
    SSID_PATHS,
    choose_filters,
    match_params,
    match_queries,
)
from bench.million.timing import Result, run_sql


class _Undo(Exception):
    pass


# Alternatives to the application's indexes, built, timed and dropped again.
ALTERNATIVES = (
    (
        "bench_param_value",
        "CREATE INDEX bench_param_value ON devices_parameter (value) WHERE length(value) <= 200",
        "devices_parameter",
    ),
    (
        "bench_param_ssid",
        "CREATE INDEX bench_param_ssid ON devices_parameter (value)"
        f" WHERE path IN ({', '.join(repr(p) for p in SSID_PATHS)})",
        "devices_parameter",
    ),
)


def index_experiments(
    *, repeat: int, slow_repeat: int, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """The target queries without the application's indexes, and with the alternatives.

    An index is hidden by dropping it in a transaction that is rolled back.
    The ``without_*`` results are the schema before migration
    devices 0003; ``alt_*`` what the index not chosen would give.
    """
    from django.db import connection, transaction

    out: dict[str, Any] = {"indexes": {}, "results": []}
    results: list[Result] = []
    ssid = COMMON_SSIDS[0]
    with connection.cursor() as cur:
        filters = choose_filters(cur)
        app_indexes = {}
        for name in ("parameter_search", "device_model_version"):
            cur.execute("SELECT pg_relation_size(to_regclass(%s))", [name])
            app_indexes[name] = cur.fetchone()[0]
        out["app_indexes"] = app_indexes
        where = "tenant_id = %s AND product_class = %s AND software_version <> %s"
        lp = [(filters["tenant"], filters["product_class"], filters["latest"])]
        if app_indexes["device_model_version"] is not None:
            try:
                with transaction.atomic():
                    cur.execute("DROP INDEX device_model_version")
                    results.append(
                        run_sql(
                            cur,
                            Result(
                                "without_list_count", "list COUNT(*), no device_model_version", 100
                            ),
                            f"SELECT count(*) FROM devices_device WHERE {where}",
                            lp * max(3, repeat // 4),
                            explain_runs=2,
                        )
                    )
                    raise _Undo
            except _Undo:
                pass
        try:
            with transaction.atomic():
                if app_indexes["parameter_search"] is not None:
                    cur.execute("DROP INDEX parameter_search")
                for key, label, sql, _ in match_queries(ssid):
                    results.append(
                        run_sql(
                            cur,
                            Result(f"without_{key}", f"{label}, no parameter_search", 1000),
                            sql,
                            [match_params(key, filters["tenant"], ssid)] * slow_repeat,
                            explain_runs=1,
                        )
                    )
                for name, ddl, table in ALTERNATIVES:
                    start = time.perf_counter()
                    cur.execute("SET LOCAL maintenance_work_mem = '1GB'")
                    cur.execute(ddl)
                    seconds = time.perf_counter() - start
                    cur.execute(f"ANALYZE {table}")
                    cur.execute("SELECT pg_relation_size(%s::regclass)", [name])
                    size = cur.fetchone()[0]
                    out["indexes"][name] = {"ddl": ddl, "seconds": round(seconds, 1), "bytes": size}
                    log(f"  {name}: built in {seconds:.1f}s, {size:,} bytes")
                    for key, label, sql, _ in match_queries(ssid):
                        if name == "bench_param_ssid" and key != "match_ssid":
                            continue
                        results.append(
                            run_sql(
                                cur,
                                Result(f"alt_{key}_{name}", f"{label}, {name} alone", 1000),
                                sql,
                                [match_params(key, filters["tenant"], ssid)] * slow_repeat,
                                explain_runs=1,
                            )
                        )
                    cur.execute(f"DROP INDEX {name}")
                raise _Undo
        except _Undo:
            pass
    for r in results:
        d = r.as_dict()
        log(
            f"  {r.key}: client median {d['client_median_ms']} ms, p95 {d['client_p95_ms']} ms;"
            f" server {d['server_median_ms']} ms [{d['plan_summary'][:110]}]"
        )
    out["results"] = [r.as_dict() for r in results]
    return out
