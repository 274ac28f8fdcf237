"""Periodic informs of known devices: issue 5's main figure, with the floor beside it.

The floor goes through the same ``measure_periodic`` on the same stacks and
concurrency, so the table's ratios compare like with like.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from typing import Any

from bench.backends import Backend, run_ops
from bench.cli import Options
from bench.common import CREDENTIALS, log
from bench.cpu import Meter, PgWatch, cpu_block, redis_pids
from bench.loadgen_client import LoadGen, loadgen_config
from bench.probe import probe_delta, read_probe
from bench.profiling import profile_summary, start_profiler
from bench.scenarios.shared import wsgi_stack
from bench.servers import Server, StackSpec, start_server


def measure_periodic(
    opts: Options,
    backend: Backend,
    server: Server,
    pg: PgWatch | None,
    prefix: str,
) -> list[dict[str, Any]]:
    lg = LoadGen(
        opts.work,
        f"{server.app}-{backend.name}-{server.stack.name}",
        loadgen_config(server, opts.dump, opts.devices, prefix),
    )
    rows = []
    try:
        offset = 0
        for conc in opts.concurrency:
            warm = lg.call(
                {"cmd": "sessions", "concurrency": conc, "duration": opts.warmup, "offset": offset}
            )
            offset = warm["next_offset"]
            time.sleep(0.3)
            p0 = read_probe(server.probe_dir)
            meter = Meter(
                {"server": [server.managed], "loadgen": [lg.managed]},
                pg=pg,
                redis=redis_pids() if backend.redis_url else None,
            )
            meter.start()
            profiler, prof_path = (
                None,
                opts.out
                / (
                    f"{opts.results['stamp']}-profile-{backend.name}-{server.stack.name}-c{conc}.txt"
                ),
            )
            if opts.profile and server.app == "acs":
                opts.out.mkdir(parents=True, exist_ok=True)
                profiler = start_profiler(server, opts.duration, prof_path)
            res = lg.call(
                {
                    "cmd": "sessions",
                    "concurrency": conc,
                    "duration": opts.duration,
                    "offset": offset,
                }
            )
            cpu = meter.stop()
            profile = None
            if profiler is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    profiler.wait(30)
                if prof_path.exists():
                    profile = {"file": prof_path.name, **profile_summary(prof_path)}
            offset = res["next_offset"]
            time.sleep(0.3)
            probe = probe_delta(p0, read_probe(server.probe_dir))
            n = res["sessions_ok"]
            row = {
                "scenario": "periodic",
                "app": server.app,
                "backend": backend.name if server.app == "acs" else "none",
                "stack": server.stack.name,
                "stack_label": server.stack.label(),
                "concurrency": conc,
                "devices": opts.devices,
                "dump": opts.dump,
                **res,
                "cpu_ms_per_session": cpu_block(cpu, n, backend if server.app == "acs" else None),
                "cpu_raw_s": cpu,
                "queries_per_session": probe["queries"] / n if n and server.app == "acs" else 0.0,
                "queries_by_kind": probe["by_kind"],
                "db_connections_per_session": probe["connections"] / n if n else 0.0,
                "server_requests_per_session": probe["requests"] / n
                if n and server.app == "acs"
                else None,
                "server_rss_mb": meter.rss_mb("server"),
                "warmup_sessions": warm["sessions_ok"],
            }
            if profile:
                row["profile"] = profile
            log(
                f"periodic {row['app']}/{row['backend']}/{row['stack']} c={conc}: "
                f"{res['sessions_per_s']:.0f}/s p50={res['latency_ms']['p50']:.1f}ms "
                f"cpu={row['cpu_ms_per_session']['total_ms']:.2f}ms/session "
                f"q={row['queries_per_session']:.2f} http={res['http_requests_per_session']:.2f} "
                f"failed={res['sessions_failed']}"
            )
            rows.append(row)
    finally:
        lg.close()
    return rows


def scenario_periodic(opts: Options, backend: Backend, pg: PgWatch | None) -> list[dict[str, Any]]:
    prefix = "PER"
    log(f"{backend.name}: preloading {opts.devices} known devices ({opts.dump})")
    run_ops(
        backend,
        "preload",
        {
            "dumps": [opts.dump],
            "count": opts.devices,
            "serial_prefix": prefix,
            **CREDENTIALS,
        },
    )
    rows = []
    for stack in wsgi_stack(opts, backend):
        server = start_server(backend, stack, "acs", opts.work, f"acs-{backend.name}-{stack.name}")
        try:
            rows += measure_periodic(opts, backend, server, pg, prefix)
        finally:
            server.managed.stop()
    return rows


def scenario_floor(
    opts: Options, backend: Backend, stacks: list[StackSpec]
) -> list[dict[str, Any]]:
    """The floor on every stack the ACS runs on (no database: the backend only lends its env)."""
    rows = []
    for stack in stacks:
        server = start_server(
            backend, stack, "floor", opts.work, f"floor-{stack.name}-{stack.workers}w"
        )
        try:
            rows += measure_periodic(opts, backend, server, None, "PER")
        finally:
            server.managed.stop()
    return rows
