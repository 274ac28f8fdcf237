"""A periodic session's statements on the big tables, through the application's own code.

Going through the app's selectors and services means the SQL timed is the
SQL a session sends; it is captured and kept beside the timings.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from bench.million.timing import Result, run_sql, time_calls


def periodic_statements(
    sample: list[tuple], repeat: int, log: Callable[[str], None]
) -> list[Result]:
    """SELECT device, UPDATE last_inform, INSERT + UPDATE the session log, as the app does."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from devices import selectors
    from devices import services as device_services
    from devices.models import Device
    from tenants.models import Tenant

    tenants = {t.pk: t for t in Tenant.objects.all()}
    out = []
    found: list[Device | None] = []
    logs: list[int] = []
    captured: dict[str, str] = {}

    def select(s: tuple) -> Callable[[], Any]:
        def call() -> Any:
            device = selectors.device_for_cwmp(tenant=tenants[s[1]], device_id=s[2])
            found.append(device)
            return device.pk if device else None

        return call

    def update(device: Device) -> Callable[[], Any]:
        return lambda: Device.objects.filter(pk=device.pk).update(last_inform=timezone.now())

    def open_log(device: Device) -> Callable[[], Any]:
        def call() -> Any:
            log_row = device_services.session_log_open(
                tenant=tenants[device.tenant_id],
                device=device,
                session_id=f"bench{random.getrandbits(100):025x}",
                events=["2 PERIODIC"],
                remote_address=str(device.ip_address) if device.ip_address else None,
                cwmp_version=device.cwmp_version,
                started=timezone.now(),
            )
            logs.append(log_row.pk)
            return log_row.pk

        return call

    def close_log(pk: int) -> Callable[[], Any]:
        return lambda: device_services.session_log_close(
            log_pk=pk,
            outcome="ok",
            rpcs=["Inform", "InformResponse"],
            messages=2,
            ended=timezone.now(),
            duration_ms=12,
        )

    with CaptureQueriesContext(connection) as ctx:
        out.append(
            time_calls(
                Result("session_select", "periodic: SELECT device (tenant, device_id)", 10),
                [select(s) for s in sample],
            )
        )
        captured["session_select"] = ctx.captured_queries[-1]["sql"] if ctx.captured_queries else ""
        devices = [d for d in found if d is not None]
        out.append(
            time_calls(
                Result("session_update", "periodic: UPDATE devices_device SET last_inform", 10),
                [update(d) for d in devices],
            )
        )
        captured["session_update"] = ctx.captured_queries[-1]["sql"] if ctx.captured_queries else ""
        out.append(
            time_calls(
                Result("sessionlog_insert", "periodic: INSERT devices_sessionlog", 10),
                [open_log(d) for d in devices],
            )
        )
        captured["sessionlog_insert"] = (
            ctx.captured_queries[-1]["sql"] if ctx.captured_queries else ""
        )
        out.append(
            time_calls(
                Result("sessionlog_update", "periodic: UPDATE devices_sessionlog (close)", 10),
                [close_log(pk) for pk in logs],
            )
        )
        captured["sessionlog_update"] = (
            ctx.captured_queries[-1]["sql"] if ctx.captured_queries else ""
        )
    # Server-side times of the same statements (EXPLAIN ANALYZE, rolled back).
    with connection.cursor() as cur:
        pairs = list(zip(devices, logs, strict=False))
        plans: dict[str, tuple[str, list[tuple[Any, ...]]]] = {
            "session_select": (
                "SELECT * FROM devices_device WHERE tenant_id = %s AND device_id = %s"
                " ORDER BY id LIMIT 1",
                [(d.tenant_id, d.device_id) for d, _ in pairs],
            ),
            "session_update": (
                "UPDATE devices_device SET last_inform = now() WHERE id = %s",
                [(d.pk,) for d, _ in pairs],
            ),
            "sessionlog_insert": (
                "INSERT INTO devices_sessionlog (tenant_id, device_id, session_id, started,"
                " events, rpcs, outcome, detail, remote_address, cwmp_version, messages)"
                " VALUES (%s, %s, %s, now(), '[\"2 PERIODIC\"]', '[]', 'open', '', NULL, %s, 1)"
                " RETURNING id",
                [(d.tenant_id, d.pk, f"x{random.getrandbits(100):025x}", "1.0") for d, _ in pairs],
            ),
            "sessionlog_update": (
                "UPDATE devices_sessionlog SET outcome = 'ok', rpcs = '[\"Inform\"]',"
                " messages = 2, ended = now(), duration_ms = 12, detail = '' WHERE id = %s",
                [(pk,) for _, pk in pairs],
            ),
        }
        for result in out:
            sql, params = plans[result.key]
            probe = Result(result.key, result.label, result.target_ms)
            for p in params:
                run_sql(cur, probe, sql, [p], explain_runs=1, rollback=True)
            result.server_ms = probe.server_ms
            result.plan = probe.plan
            result.note = "ORM SQL: " + captured.get(result.key, "")[:300]
        cur.execute("DELETE FROM devices_sessionlog WHERE id = ANY(%s)", [logs])
        cur.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
            " WHERE relname = 'devices_device'"
        )
        row = cur.fetchone()
    if row:
        out[1].note += f" | device table updates so far: {row[0]}, of which HOT: {row[1]}"
    for r in out:
        d = r.as_dict()
        log(f"  {r.key}: client median {d['client_median_ms']} ms, p95 {d['client_p95_ms']} ms")
    return out
