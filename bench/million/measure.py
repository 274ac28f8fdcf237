"""``measure``: every target query on the current schema, then the experiments.

One entry point, so that a single run times everything on the same data and
the same cache, and saves it for ``markdown`` in ``bench_million_meta``.
"""

# SQL here is built from fixed table and column names (and the ORM's own SQL); every
# value is a query parameter.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.million.bulk import bulk_enqueue
from bench.million.db import load_meta, save_meta, table_sizes
from bench.million.generate import (
    COMMON_SSIDS,
)
from bench.million.indexes import index_experiments
from bench.million.interned import interned_experiment
from bench.million.loader import LOADED_TABLES
from bench.million.periodic import periodic_statements
from bench.million.queries import (
    LIST_COLUMNS,
    SSID_PATHS,
    choose_filters,
    match_params,
    match_queries,
    sample_devices,
)
from bench.million.timing import EXEC_RE, Result, run_sql, time_calls


def _layout(cur: Any) -> dict[str, Any]:
    """Where a parameter row's bytes go (a 1% sample of pages)."""
    cur.execute(
        "SELECT count(*), avg(pg_column_size(p.*)), avg(pg_column_size(p.path)),"
        " avg(pg_column_size(p.value)), avg(pg_column_size(p.type)),"
        " avg(pg_column_size(p.access_list)), max(octet_length(p.value)),"
        " avg(CASE WHEN p.is_object THEN 1 ELSE 0 END)"
        " FROM devices_parameter p TABLESAMPLE SYSTEM (1)"
    )
    n, row, path, value, type_, access, max_value, objects = cur.fetchone()
    cur.execute(
        "SELECT count(*) FROM devices_parameter TABLESAMPLE SYSTEM (1)"
        " WHERE octet_length(value) > 2000"
    )
    long_values = cur.fetchone()[0]
    return {
        "sampled_rows": n,
        "avg_row_bytes": float(row or 0),
        "avg_path_bytes": float(path or 0),
        "avg_value_bytes": float(value or 0),
        "avg_type_bytes": float(type_ or 0),
        "avg_access_list_bytes": float(access or 0),
        "max_value_bytes": max_value,
        "object_share": float(objects or 0),
        "sampled_values_over_2000_bytes": long_values,
    }


def measure(
    *,
    repeat: int = 20,
    slow_repeat: int = 3,
    naive: int = 1000,
    interned: bool = True,
    rebuild_interned: bool = False,
    indexes: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Time the target queries on the current schema, then on the interned layout."""
    from django.db import connection

    results: list[Result] = []
    out: dict[str, Any] = {"settings": {}, "results": []}
    meta = load_meta("load") or {}
    with connection.cursor() as cur:
        for name in (
            "server_version",
            "shared_buffers",
            "work_mem",
            "effective_cache_size",
            "max_parallel_workers_per_gather",
            "jit",
            "random_page_cost",
        ):
            cur.execute(f"SHOW {name}")
            out["settings"][name] = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM devices_device")
        out["devices"] = cur.fetchone()[0]
        cur.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'devices_parameter'")
        out["parameters_estimate"] = cur.fetchone()[0]
        out["sizes"] = table_sizes(cur, (*LOADED_TABLES, "provisioning_task", "tenants_tenant"))
        out["layout"] = _layout(cur)
        filters = choose_filters(cur)
        out["filters"] = filters
        full_phase = next((p for p in meta.get("phases", []) if p["name"] == "full"), None)
        sample = sample_devices(cur, repeat)
        if full_phase and full_phase["devices"]:
            full_sample = sample_devices(
                cur,
                max(3, repeat // 4),
                "WHERE id >= %s AND id <= %s",
                [full_phase["first_device_id"], full_phase["last_device_id"]],
            )
            ordinary_sample = sample_devices(
                cur, repeat, "WHERE id < %s", [full_phase["first_device_id"]]
            )
        else:
            full_sample, ordinary_sample = [], sample
        log(f"measuring on {out['devices']:,} devices; filters {filters}")

        def add(result: Result) -> None:
            results.append(result)
            d = result.as_dict()
            log(
                f"  {result.key}: client median {d['client_median_ms']} ms,"
                f" p95 {d['client_p95_ms']} ms; server {d['server_median_ms']} ms"
                f" [{d['plan_summary'][:110]}]"
            )

        # 1. Device lookups.
        add(
            run_sql(
                cur,
                Result("lookup_serial", "device by (tenant, serial number)", 10),
                "SELECT * FROM devices_device WHERE tenant_id = %s AND serial_number = %s",
                [(s[1], s[3]) for s in sample],
                explain_runs=len(sample),
            )
        )
        add(
            run_sql(
                cur,
                Result("lookup_identity", "device by OUI + ProductClass + serial (any tenant)", 10),
                "SELECT * FROM devices_device WHERE oui = %s AND product_class = %s"
                " AND serial_number = %s",
                [(s[4], s[5], s[3]) for s in sample],
                explain_runs=len(sample),
            )
        )
        add(
            run_sql(
                cur,
                Result("lookup_device_id", "device by (tenant, device id), as the CWMP view", 10),
                "SELECT * FROM devices_device WHERE tenant_id = %s AND device_id = %s"
                " ORDER BY id LIMIT 1",
                [(s[1], s[2]) for s in sample],
                explain_runs=len(sample),
            )
        )
        param_page = (
            "SELECT path, value, type, writable, updated FROM devices_parameter"
            " WHERE device_id = %s ORDER BY path"
        )
        add(
            run_sql(
                cur,
                Result("params_ordinary", "all parameters of an ordinary device", None),
                param_page,
                [(s[0],) for s in ordinary_sample],
                explain_runs=len(ordinary_sample),
            )
        )
        if full_sample:
            add(
                run_sql(
                    cur,
                    Result("params_full", "all parameters of a full-tree device", None),
                    param_page,
                    [(s[0],) for s in full_sample],
                    explain_runs=len(full_sample),
                )
            )
        # 2. The device list.
        where = "tenant_id = %s AND product_class = %s AND software_version <> %s"
        lp = [(filters["tenant"], filters["product_class"], filters["latest"])] * repeat
        add(
            run_sql(
                cur,
                Result("list_page", "list page: tenant, class, version <>, by last inform", 100),
                f"SELECT {LIST_COLUMNS} FROM devices_device WHERE {where}"
                " ORDER BY last_inform DESC LIMIT 50",
                lp,
                explain_runs=3,
            )
        )
        add(
            run_sql(
                cur,
                Result("list_count", "its COUNT(*)", 100),
                f"SELECT count(*) FROM devices_device WHERE {where}",
                lp[: max(3, repeat // 2)],
                explain_runs=3,
            )
        )
        rare = [(filters["rare_tenant"], filters["rare_product_class"], "")] * repeat
        add(
            run_sql(
                cur,
                Result("list_page_rare", "list page, rarest (tenant, class)", 100),
                f"SELECT {LIST_COLUMNS} FROM devices_device WHERE {where}"
                " ORDER BY last_inform DESC LIMIT 50",
                rare,
                explain_runs=3,
            )
        )
        add(
            run_sql(
                cur,
                Result("list_page_offline", "list page: tenant, offline > 1 day", 100),
                f"SELECT {LIST_COLUMNS} FROM devices_device WHERE tenant_id = %s"
                " AND last_inform < now() - interval '1 day' ORDER BY last_inform DESC LIMIT 50",
                [(filters["tenant"],)] * repeat,
                explain_runs=3,
            )
        )
        add(
            run_sql(
                cur,
                Result("list_page_deep", "list page 200 (OFFSET 9950)", 100),
                f"SELECT {LIST_COLUMNS} FROM devices_device WHERE tenant_id = %s"
                " ORDER BY last_inform DESC OFFSET 9950 LIMIT 50",
                [(filters["tenant"],)] * max(3, repeat // 4),
                explain_runs=2,
            )
        )
        # 3. Devices whose parameter matches a value (the index parameter_search).
        ssid = COMMON_SSIDS[0]
        for key, label, sql, _ in match_queries(ssid):
            add(
                run_sql(
                    cur,
                    Result(key, label, 1000),
                    sql,
                    [match_params(key, filters["tenant"], ssid)] * max(3, repeat // 4),
                    explain_runs=2,
                )
            )
        add(_match_orm(filters["tenant"], ssid, max(3, repeat // 4)))
        add(
            run_sql(
                cur,
                Result(
                    "match_sw_summary",
                    "the same on the summary column devices_device.software_version",
                    1000,
                ),
                "SELECT count(*) FROM devices_device WHERE software_version LIKE %s",
                [("%V5%",)] * max(3, repeat // 4),
                explain_runs=2,
            )
        )
    # 4. A periodic session's statements on the big tables, through the app's own code.
    results.extend(periodic_statements(sample, repeat, log))
    # 5. Queueing a task for ~100,000 devices.
    results.extend(bulk_enqueue(filters, slow_repeat, naive, log))
    if interned:
        out["interned"] = interned_experiment(
            repeat=repeat,
            slow_repeat=slow_repeat,
            rebuild=rebuild_interned,
            samples={"ordinary": ordinary_sample, "full": full_sample},
            filters=filters,
            log=log,
        )
    if indexes:
        out["index_experiments"] = index_experiments(
            repeat=repeat, slow_repeat=slow_repeat, log=log
        )
    out["results"] = [r.as_dict() for r in results]
    save_meta("measure", out)
    return out


def _match_orm(tenant: int, ssid: str, runs: int) -> Result:
    """The SSID count as the application's ORM writes it, with ``searchable()``."""
    from devices.models import Parameter

    qs = Parameter.objects.searchable().filter(
        device__tenant_id=tenant, path__in=SSID_PATHS, value=ssid
    )
    result = time_calls(
        Result("match_ssid_orm", "the SSID count through the ORM: searchable().filter()", 1000),
        [qs.count] * runs,
    )
    result.plan = qs.values("pk").explain(analyze=True, buffers=True).splitlines()
    match = EXEC_RE.search("\n".join(result.plan))
    if match:
        result.server_ms.append(float(match.group(1)))
    result.note = str(qs.values("pk").query)[:400]
    return result
