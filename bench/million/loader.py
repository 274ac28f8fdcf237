"""``load``: the generated fleet into the application's tables with COPY, sized as it goes.

COPY straight into the tables, not the ORM, is what makes a million devices
a matter of minutes. The table sizes taken between the ordinary and the
full-tree phase give the bytes per device of each kind.
"""

# SQL here is built from fixed table and column names (and the ORM's own SQL); every
# value is a query parameter.
# ruff: noqa: S608

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.million.db import save_meta, table_sizes
from bench.million.generate import (
    PROFILES,
    TENANTS,
    Generator,
    Ids,
    TenantRow,
    build_spec,
    session_line,
)

LOADED_TABLES = ("devices_device", "devices_parameter", "devices_sessionlog")
DEVICE_COLUMNS = (
    "id, device_id, oui, product_class, serial_number, manufacturer, mac_address,"
    " software_version, hardware_version, provisioning_code, data_model, cwmp_version,"
    " ip_address, connection_request_url, connection_request_username,"
    " connection_request_password, udp_connection_request_address, cwmp_username,"
    " cwmp_ha1_md5, cwmp_ha1_sha256, first_seen, last_inform, last_boot, last_bootstrap,"
    " last_events, inform_digest, created, tenant_id, has_tasks, unsupported_methods,"
    " registration"
)
PARAMETER_COLUMNS = (
    "id, device_id, path, value, type, is_object, writable, notification, access_list, updated"
)
SESSION_COLUMNS = (
    "id, session_id, started, ended, duration_ms, events, rpcs, outcome, detail,"
    " remote_address, cwmp_version, messages, device_id, tenant_id"
)


@dataclass
class Counts:
    devices: int = 0
    parameters: int = 0
    sessions: int = 0


def _ensure_tenants() -> list[TenantRow]:
    from tenants.models import Tenant
    from tenants.services import tenant_create

    rows = []
    for spec in TENANTS:
        tenant = Tenant.objects.filter(slug=spec.slug).first()
        if tenant is None:
            tenant = tenant_create(
                slug=spec.slug,
                name=spec.name,
                cpe_username=f"cpe-{spec.slug}",
                cpe_password=f"bench-{spec.slug}",
            )
        rows.append(TenantRow(tenant.pk, spec, tenant.cpe_realm or f"acsportal/{spec.slug}"))
    return rows


def _next_id(cur: Any, table: str) -> int:
    cur.execute(f"SELECT COALESCE(max(id), 0) + 1 FROM {table}")
    return int(cur.fetchone()[0])


def _copy(cur: Any, table: str, columns: str, lines: list[str]) -> None:
    raw = cur.cursor  # Django's wrapper around the psycopg 3 cursor
    with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        chunk = 4096
        for i in range(0, len(lines), chunk):
            copy.write("".join(lines[i : i + chunk]))


def _is_superuser(cur: Any) -> bool:
    cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    row = cur.fetchone()
    return bool(row and row[0])


def _produce(
    gen: Generator,
    ids: Ids,
    state: dict[str, int],
    count: int,
    batch: int,
    full: bool,
    out: queue.Queue[Any],
) -> None:
    """Generate ``count`` devices in batches of COPY lines onto ``out``."""
    try:
        done = 0
        while done < count:
            n = min(batch, count - done)
            dev_lines: list[str] = []
            par_lines: list[str] = []
            ses_lines: list[str] = []
            p0 = ids.parameter
            for _ in range(n):
                gen.device(ids.device, state["index"], full, dev_lines, par_lines, ids)
                ses_lines.append(session_line(gen, ids.session, ids.device, dev_lines[-1]))
                ids.device += 1
                ids.session += 1
                state["index"] += 1
            out.put((n, ids.parameter - p0, dev_lines, par_lines, ses_lines))
            done += n
    except BaseException as exc:  # handed to the loading thread
        out.put(exc)


def load(
    *,
    devices: int,
    full_trees: int,
    seed: int = 5,
    batch_devices: int = 5000,
    batch_full: int = 40,
    vacuum: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Append ``devices`` devices (``full_trees`` of them with their whole tree) to the tables."""
    from django.db import connection, transaction

    if connection.vendor != "postgresql":
        raise RuntimeError("the million-device loader needs PostgreSQL (COPY)")
    full_trees = min(full_trees, devices)
    tenants = _ensure_tenants()
    specs = [build_spec(p) for p in PROFILES]
    now = time.time()
    gen = Generator(tenants, specs, seed, now)
    report: dict[str, Any] = {
        "devices": devices,
        "full_trees": full_trees,
        "seed": seed,
        "generated_at": datetime.fromtimestamp(now, UTC).isoformat(),
        "params_per_model": {
            s.name: {"ordinary": len(s.ordinary), "full": len(s.full)} for s in specs
        },
        "phases": [],
    }
    with connection.cursor() as cur:
        superuser = _is_superuser(cur)
        ids = Ids(
            _next_id(cur, "devices_device"),
            _next_id(cur, "devices_parameter"),
            _next_id(cur, "devices_sessionlog"),
        )
        report["first_device_id"] = ids.device
        report["sizes_before"] = table_sizes(cur, LOADED_TABLES)
    phases = (
        ("ordinary", devices - full_trees, False, batch_devices),
        ("full", full_trees, True, batch_full),
    )
    state = {"index": 0}
    for name, count, full, batch in phases:
        started = time.perf_counter()
        counts = Counts()
        first = ids.device
        done = 0
        # A thread makes the next batch while this one streams into PostgreSQL
        # (psycopg waits on the socket without holding the GIL).
        batches: queue.Queue[Any] = queue.Queue(maxsize=2)
        producer = threading.Thread(
            target=_produce,
            args=(gen, ids, state, count, batch, full, batches),
            daemon=True,
        )
        producer.start()
        while done < count:
            item = batches.get()
            if isinstance(item, BaseException):
                raise item
            n, n_params, dev_lines, par_lines, ses_lines = item
            with transaction.atomic(), connection.cursor() as cur:
                if superuser:
                    # Rows are consistent by construction: skip the per-row FK triggers.
                    cur.execute("SET LOCAL session_replication_role = replica")
                cur.execute("SET LOCAL synchronous_commit = off")
                _copy(cur, "devices_device", DEVICE_COLUMNS, dev_lines)
                _copy(cur, "devices_parameter", PARAMETER_COLUMNS, par_lines)
                _copy(cur, "devices_sessionlog", SESSION_COLUMNS, ses_lines)
            counts.devices += n
            counts.parameters += n_params
            counts.sessions += n
            done += n
            if done % max(batch * 20, 1) == 0 or done == count:
                rate = counts.parameters / max(time.perf_counter() - started, 1e-9)
                log(
                    f"  {name}: {done:,}/{count:,} devices, {counts.parameters:,} parameters"
                    f" ({rate:,.0f} parameter rows/s)"
                )
        producer.join()
        elapsed = time.perf_counter() - started
        with connection.cursor() as cur:
            sizes = table_sizes(cur, LOADED_TABLES)
        report["phases"].append(
            {
                "name": name,
                "devices": counts.devices,
                "parameters": counts.parameters,
                "sessions": counts.sessions,
                "first_device_id": first,
                "last_device_id": ids.device - 1,
                "seconds": round(elapsed, 2),
                "rows_per_second": round(
                    (counts.devices + counts.parameters + counts.sessions) / max(elapsed, 1e-9)
                ),
                "sizes_after": sizes,
            }
        )
        log(f"  {name}: {counts.devices:,} devices, {counts.parameters:,} rows in {elapsed:.1f}s")
    report["per_model"] = {k: {"ordinary": v[0], "full": v[1]} for k, v in gen.per_model.items()}
    started = time.perf_counter()
    with connection.cursor() as cur:
        for table in LOADED_TABLES:
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT COALESCE(max(id), 1) FROM {table}))"
            )
        # In a test's transaction VACUUM is not allowed; ANALYZE is.
        verb = "VACUUM (ANALYZE)" if vacuum and not connection.in_atomic_block else "ANALYZE"
        for table in LOADED_TABLES:
            cur.execute(f"{verb} {table}")
        report["analyze"] = {"statement": verb, "seconds": round(time.perf_counter() - started, 2)}
        report["sizes_after"] = table_sizes(cur, LOADED_TABLES)
    report["bytes_per_device"] = bytes_per_device(report)
    save_meta("load", report)
    return report


def bytes_per_device(report: dict[str, Any]) -> dict[str, Any]:
    """On-disk bytes per device of each kind, from the sizes taken between the phases."""
    before = report["sizes_before"]
    out: dict[str, Any] = {}
    previous = before
    for phase in report["phases"]:
        n = phase["devices"]
        after = phase["sizes_after"]
        if not n:
            previous = after
            continue
        share = {}
        for table in LOADED_TABLES:
            share[table] = {
                k: (after[table][k] - previous[table][k]) / n
                for k in ("heap", "toast", "indexes", "total")
            }
        out[phase["name"]] = {
            "device_row": share["devices_device"]["total"],
            "parameters": share["devices_parameter"]["total"],
            "parameters_heap": share["devices_parameter"]["heap"],
            "parameters_indexes": share["devices_parameter"]["indexes"],
            "session_log": share["devices_sessionlog"]["total"],
            "device_plus_parameters": share["devices_device"]["total"]
            + share["devices_parameter"]["total"],
            "parameter_rows": phase["parameters"] / n,
            # Each index of the two big tables, per device of this kind.
            "index_bytes": {
                f"{table}.{name}": (size - previous[table]["index_sizes"].get(name, 0)) / n
                for table in ("devices_device", "devices_parameter")
                for name, size in after[table]["index_sizes"].items()
            },
            "bytes_per_parameter_row": share["devices_parameter"]["total"]
            * n
            / max(phase["parameters"], 1),
        }
        previous = after
    return out
