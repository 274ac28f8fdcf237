"""Periodic sessions through nginx over one and two web workers: does a second worker scale?

The cookie-less variant checks that a session still completes when its
requests land on different workers (the session lives in Redis, found by the
address nginx forwards).
"""

from __future__ import annotations

from typing import Any

from bench.backends import Backend, run_ops
from bench.cli import Options
from bench.common import CREDENTIALS, TARGETS, log
from bench.cpu import PgWatch, cpu_split
from bench.loadgen_client import LoadGen, loadgen_config
from bench.scenarios.shared import closed_phase
from bench.servers import start_cluster


def scenario_cluster(opts: Options, backend: Backend, pg: PgWatch | None) -> dict[str, Any]:
    """Periodic sessions through nginx over 1, then 2 web worker processes (and cookie-less CPEs)."""
    prefix = "CLU"
    log(f"{backend.name}: preloading {opts.devices} known devices for the cluster scenario")
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
    rows: list[dict[str, Any]] = []
    for workers, variants in ((1, [None]), (2, [None, "no-cookies"])):
        cluster = start_cluster(backend, workers, opts.wsgi_threads, opts.work, f"{workers}w")
        try:
            for n_variant, quirks in enumerate(variants):
                tag = f"cluster-{workers}w-{quirks or 'cookies'}"
                lg = LoadGen(
                    opts.work,
                    tag,
                    loadgen_config(
                        cluster,
                        opts.dump,
                        opts.devices,
                        prefix,
                        record_header="x-upstream",
                        quirks=quirks,
                    ),
                )
                try:
                    if n_variant == 0:
                        cluster.wait()  # the workers booted while the simulator built its fleet
                    groups = {
                        "server": [s.managed for s in cluster.servers],
                        "nginx": [cluster.nginx],
                        "loadgen": [lg.managed],
                    }
                    for i, s in enumerate(cluster.servers):
                        groups[f"web{i + 1}"] = [s.managed]
                    ph = closed_phase(
                        lg,
                        backend,
                        groups,
                        pg,
                        [s.probe_dir for s in cluster.servers],
                        concurrency=opts.cluster_concurrency,
                        warmup=opts.warmup,
                        duration=opts.cluster_duration,
                    )
                finally:
                    lg.close()
                res, cpu, n = ph["res"], ph["cpu"], ph["res"]["sessions_ok"]
                wall = cpu.get("wall", 0.0) or 1e-9
                queries = sum(p["queries"] for p in ph["probes"])
                row = {
                    "scenario": "cluster",
                    "backend": backend.name,
                    "web_workers": workers,
                    "threads_per_worker": opts.wsgi_threads,
                    "quirks": quirks or "",
                    "concurrency": opts.cluster_concurrency,
                    "devices": opts.devices,
                    "dump": opts.dump,
                    **res,
                    "cpu_ms_per_session": cpu_split(cpu, n),
                    "cpu_raw_s": cpu,
                    "worker_cores": [cpu.get(f"web{i + 1}", 0.0) / wall for i in range(workers)],
                    "worker_requests": [p["requests"] for p in ph["probes"]],
                    "queries_per_session": queries / n if n else 0.0,
                    "server_requests_per_session": sum(p["requests"] for p in ph["probes"]) / n
                    if n
                    else 0.0,
                    "server_rss_mb": ph["rss_mb"]["server"],
                    "nginx_rss_mb": ph["rss_mb"]["nginx"],
                    "warmup_sessions": ph["warmup_sessions"],
                }
                up = res.get("upstreams") or {}
                log(
                    f"cluster {workers}w {quirks or 'cookies'}: {res['sessions_per_s']:.0f}/s "
                    f"p99={res['latency_ms']['p99']:.0f}ms "
                    f"cpu={row['cpu_ms_per_session']['total_ms']:.2f}ms/session "
                    f"on 2+ workers {up.get('sessions_on_2plus_servers', 0)}/{up.get('sessions', 0)} "
                    f"failed={res['sessions_failed']}"
                )
                rows.append(row)
        finally:
            cluster.stop()
    one = next(r for r in rows if r["web_workers"] == 1)
    two = next(r for r in rows if r["web_workers"] == 2 and not r["quirks"])
    all_ms = two["cpu_ms_per_session"]["all_ms"]
    cores = two["cpu_ms_per_session"]["machine_cores"]
    ceiling = cores * 1000 / all_ms if all_ms else 0.0
    return {
        "rows": rows,
        "ratio_2w_1w": two["sessions_per_s"] / one["sessions_per_s"]
        if one["sessions_per_s"]
        else 0.0,
        "machine_ceiling_sessions_per_s": ceiling,
        "machine_ceiling_ratio": ceiling / one["sessions_per_s"] if one["sessions_per_s"] else 0.0,
        "target_ratio": TARGETS["cluster_ratio_2w_1w"],
    }
