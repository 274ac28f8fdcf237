# ruff: noqa: RUF001
"""Twice the capacity, offered open-loop: accepted sessions stay fast, the rest get 503.

A closed loop slows down with the server and never overloads it, hence the
open-loop arrivals; the capacity is measured first, in the same run, so that
"twice" means twice this machine's.
"""

from __future__ import annotations

import time
from typing import Any

from bench.backends import Backend, run_ops
from bench.cli import Options
from bench.common import CREDENTIALS, log
from bench.cpu import Meter, PgWatch, cpu_split, redis_pids
from bench.loadgen_client import LoadGen, loadgen_config
from bench.probe import probe_delta, read_probe
from bench.scenarios.shared import closed_phase
from bench.servers import StackSpec, launch_server, wait_server


def overload_limit(capacity: float, threads_total: int, budget_s: float) -> int:
    """CWMP_MAX_SESSIONS for the overload run: what the server can hold.

    Little's law: L sessions open at once, served at the measured capacity C
    per second, each last L / C seconds on average. L = C * budget_s (0.5 s:
    a quarter of the 2 s p99 target, leaving the rest for the tail and the
    401 round trip before admission), and never fewer than the server's
    threads (fewer would idle them).
    """
    return max(threads_total, round(capacity * budget_s))


def scenario_overload(opts: Options, backend: Backend, pg: PgWatch | None) -> dict[str, Any]:
    """Capacity at saturation, then twice that as an open-loop arrival rate with a session limit."""
    stack = StackSpec("granian", opts.wsgi_workers, opts.wsgi_threads)
    cap_prefix, ovl_prefix = "CAP", "OVL"
    common = {
        "dumps": [opts.dump],
        **CREDENTIALS,
    }
    log(f"{backend.name}: overload — capacity on {stack.label()}")
    run_ops(backend, "preload", {**common, "count": opts.devices, "serial_prefix": cap_prefix})
    server = launch_server(backend, stack, "acs", opts.work, f"overload-capacity-{backend.name}")
    try:
        lg = LoadGen(
            opts.work,
            "overload-capacity",
            loadgen_config(server, opts.dump, opts.devices, cap_prefix),
        )
    except Exception:
        server.managed.stop()
        raise
    try:
        wait_server(server, "overload-capacity")
        cap = closed_phase(
            lg,
            backend,
            {"server": [server.managed], "loadgen": [lg.managed]},
            pg,
            [server.probe_dir],
            concurrency=opts.overload_concurrency,
            warmup=opts.warmup,
            duration=opts.overload_duration,
        )
    finally:
        lg.close()
        server.managed.stop()
    capacity = cap["res"]["sessions_per_s"]
    n_cap = cap["res"]["sessions_ok"]
    cap_cpu = cpu_split(cap["cpu"], n_cap)
    limit = opts.overload_max_sessions or overload_limit(
        capacity, stack.workers * stack.threads, opts.overload_budget
    )
    rate = max(capacity * opts.overload_factor, 1.0)
    warm_rate = max(capacity / 2, 1.0)
    # Every scheduled session gets a device of its own (plus the warm-up's).
    n_devices = round(rate * opts.overload_duration) + round(warm_rate * opts.warmup) + 50
    log(
        f"{backend.name}: overload — capacity {capacity:.0f}/s; {rate:.0f}/s offered "
        f"open-loop for {opts.overload_duration:.0f}s, CWMP_MAX_SESSIONS={limit}, "
        f"{n_devices} devices"
    )
    run_ops(backend, "preload", {**common, "count": n_devices, "serial_prefix": ovl_prefix})
    server = launch_server(
        backend,
        stack,
        "acs",
        opts.work,
        f"overload-{backend.name}",
        {"CWMP_MAX_SESSIONS": str(limit)},
    )
    try:
        lg = LoadGen(
            opts.work, "overload", loadgen_config(server, opts.dump, n_devices, ovl_prefix)
        )
    except Exception:
        server.managed.stop()
        raise
    try:
        wait_server(server, "overload")
        warm = lg.call(
            {"cmd": "open", "rate": warm_rate, "duration": opts.warmup, "arrivals": "uniform"}
        )
        time.sleep(0.5)
        since = time.time()
        p0 = read_probe(server.probe_dir)
        meter = Meter(
            {"server": [server.managed], "loadgen": [lg.managed]},
            pg=pg,
            redis=redis_pids() if backend.redis_url else None,
        )
        meter.start()
        res = lg.call(
            {
                "cmd": "open",
                "rate": rate,
                "duration": opts.overload_duration,
                "arrivals": opts.overload_arrivals,
                "offset": warm["next_offset"],
            },
            timeout=opts.overload_duration * 10 + 300,
        )
        cpu = meter.stop()
        time.sleep(0.5)
        probe = probe_delta(p0, read_probe(server.probe_dir))
        rss = meter.rss_mb("server")
    finally:
        lg.close()
        server.managed.stop()
    stats = run_ops(backend, "stats", {"serial_prefix": ovl_prefix, "since": since})
    ok = res["sessions_ok"]
    logs = stats["session_logs"]
    split = cpu_split(cpu, ok)
    # What a refusal costs the server, from the same run: the server's CPU
    # beyond what the accepted sessions cost at capacity, per refused session.
    refused = res["refused_503"]
    refused_ms = (
        (cpu.get("server", 0.0) * 1000 - ok * cap_cpu["server_ms"]) / refused if refused else None
    )
    cap_queries = cap["probes"][0]["queries"] / n_cap if n_cap else 0.0
    refused_queries = (probe["queries"] - ok * cap_queries) / refused if refused else None
    row = {
        "scenario": "overload",
        "backend": backend.name,
        "stack": stack.name,
        "stack_label": stack.label(),
        "dump": opts.dump,
        "capacity": {
            "concurrency": opts.overload_concurrency,
            "sessions_per_s": capacity,
            "sessions_ok": n_cap,
            "sessions_failed": cap["res"]["sessions_failed"],
            "latency_ms": cap["res"]["latency_ms"],
            "cpu_ms_per_session": cap_cpu,
            "queries_per_session": cap_queries,
        },
        "max_sessions": limit,
        "max_sessions_rule": f"max(threads {stack.workers * stack.threads}, "
        f"capacity × {opts.overload_budget:g} s)"
        if not opts.overload_max_sessions
        else "--overload-max-sessions",
        "factor": opts.overload_factor,
        "devices": n_devices,
        "warmup_sessions": warm["sessions_ok"],
        **res,
        "cpu_ms_per_accepted_session": split,
        "server_cpu_ms_per_refused_session_est": refused_ms,
        "queries_per_refused_session_est": refused_queries,
        "cpu_raw_s": cpu,
        "server_requests": probe["requests"],
        "queries": probe["queries"],
        "server_rss_mb": rss,
        "session_logs": logs,
        "session_logs_ok": logs.get("ok", 0),
        "lost": ok - logs.get("ok", 0),
    }
    lat = res["latency_from_schedule_ms"]
    log(
        f"overload: offered {res['offered_per_s']:.0f}/s, accepted {ok} "
        f"({res['accepted_per_s']:.0f}/s) p50/p99 {lat['p50']:.0f}/{lat['p99']:.0f} ms, "
        f"refused {refused} ({res['refused_with_retry_after']} with Retry-After), "
        f"errors {res['errors_not_503']}, logs ok {logs.get('ok', 0)}"
    )
    return row
