"""Connection requests to every device, through the job workers, until all have called back.

The path a campaign takes: the figure is the time until the last device is
done, so the job workers, the tenant rate limit and the simulator's sessions
all count in it.
"""

from __future__ import annotations

import time
from typing import Any

from bench.backends import Backend, run_ops
from bench.cli import Options
from bench.common import CREDENTIALS, PYTHON, SERVER_ENV, log
from bench.cpu import Meter, PgWatch, cpu_block, redis_pids
from bench.loadgen_client import LoadGen, loadgen_config
from bench.probe import probe_delta, read_probe
from bench.processes import free_port, spawn
from bench.scenarios.shared import deployment_stack
from bench.servers import start_server


def scenario_connreq(opts: Options, backend: Backend, pg: PgWatch | None) -> dict[str, Any]:
    prefix = "CRQ"
    # Issue 5's 10,000 on PostgreSQL + Redis; 2,000 on SQLite keeps the run under 15 minutes.
    n = opts.cr_devices or (10_000 if backend.multi_process else 2_000)
    cr_port = free_port()
    common = {
        "dumps": [opts.dump],
        "count": n,
        "serial_prefix": prefix,
        **CREDENTIALS,
        "cr_port": cr_port,
    }
    t = time.perf_counter()
    loaded = run_ops(backend, "preload", common)
    preload_s = time.perf_counter() - t
    queued = run_ops(
        backend,
        "enqueue",
        {
            "serial_prefix": prefix,
            "type": "set_parameter_values",
            "args": {
                "values": [
                    ["{root}.ManagementServer.PeriodicInformInterval", "3600", "xsd:unsignedInt"]
                ]
            },
        },
    )
    log(
        f"{backend.name}: {n} devices preloaded in {preload_s:.1f}s, {queued['tasks']} SetParameterValues queued in {queued['elapsed_s']:.1f}s"
    )
    stack = deployment_stack(opts, backend)
    extra = {"CWMP_CONNREQ_TENANT_RATE": str(opts.cr_rate)}
    server = start_server(backend, stack, "acs", opts.work, f"cr-{backend.name}", extra)
    lg = LoadGen(
        opts.work,
        f"cr-{backend.name}",
        loadgen_config(
            server, opts.dump, n, prefix, cr_port=cr_port, fleet_concurrency=opts.cr_concurrency
        ),
    )
    wenv = dict(backend.env, DJANGO_SETTINGS_MODULE="bench.settings", **extra)
    worker_probe = opts.work / "probe" / f"workers-{backend.name}"
    worker_probe.mkdir(parents=True, exist_ok=True)
    wenv["ACS_BENCH_PROBE_DIR"] = str(worker_probe)
    wenv.update(SERVER_ENV)
    workers = [
        spawn(
            f"db_worker-{backend.name}-{i}",
            [PYTHON, "manage.py", "db_worker", "--no-startup-delay", "--interval", "0.2"],
            wenv,
            opts.work,
        )
        for i in range(opts.cr_workers)
    ]
    try:
        time.sleep(1.5)  # workers up and polling
        p0 = read_probe(server.probe_dir)
        w0 = read_probe(worker_probe)
        meter = Meter(
            {"server": [server.managed], "workers": workers, "loadgen": [lg.managed]},
            pg=pg,
            redis=redis_pids() if backend.redis_url else None,
        )
        meter.start()
        lg.send({"cmd": "watch", "rpc": "SetParameterValues", "timeout": opts.cr_timeout})
        lg.read(timeout=30)  # {"event": "watching"}
        t0 = time.time()
        enq = run_ops(backend, "connreq", {"serial_prefix": prefix})
        res = lg.read(timeout=opts.cr_timeout + 60)
        cpu = meter.stop()
        time.sleep(0.3)
        probe = probe_delta(p0, read_probe(server.probe_dir))
        wprobe = probe_delta(w0, read_probe(worker_probe))
        rss = meter.rss_mb("server")
    finally:
        for w in workers:
            w.stop()
        lg.close()
        server.managed.stop()
    stats = run_ops(backend, "stats", {"serial_prefix": prefix, "jobs": True})
    jobs = stats.get("jobs", {})
    ok_jobs = jobs.get("outcomes", {}).get("ok", 0)
    job_span = (
        (jobs["last_finished"] - jobs["first_started"])
        if jobs.get("last_finished") and jobs.get("first_started")
        else None
    )
    done = res["devices_done"]
    total_s = (res["last_end"] - t0) if res.get("last_end") else None
    row = {
        "scenario": "connreq",
        "backend": backend.name,
        "stack": stack.name,
        "stack_label": stack.label(),
        "dump": opts.dump,
        "devices": n,
        "db_workers": opts.cr_workers,
        "tenant_rate_limit": opts.cr_rate,
        "fleet_concurrency": opts.cr_concurrency,
        "preload_s": preload_s,
        "preloaded": loaded,
        "tasks_enqueue_s": queued["elapsed_s"],
        "connreq_enqueue_s": enq["elapsed_s"],
        "connreq_enqueue": enq["requests"],
        "devices_done": done,
        "timed_out": res["timed_out"],
        "time_to_all_done_s": total_s,
        "devices_per_s": done / total_s if total_s else 0.0,
        "cr_jobs_ok": ok_jobs,
        "cr_jobs_span_s": job_span,
        "cr_requests_per_s": ok_jobs / job_span if job_span else 0.0,
        "session": {
            k: res[k]
            for k in (
                "sessions",
                "sessions_ok",
                "sessions_failed",
                "errors",
                "latency_ms",
                "http_requests_per_session",
                "rpcs_per_session",
            )
        },
        "cpu_ms_per_device": cpu_block(cpu, max(done, 1), backend),
        "cpu_raw_s": cpu,
        "queries_per_device": probe["queries"] / done if done else 0.0,
        "worker_queries_per_device": wprobe["queries"] / done if done else 0.0,
        "worker_queries_by_kind": wprobe["by_kind"],
        "queries_by_kind": probe["by_kind"],
        "server_rss_mb": rss,
        "db_after": stats,
    }
    log(
        f"connreq {backend.name}: {done}/{n} devices done in {total_s or 0:.1f}s "
        f"({row['devices_per_s']:.0f}/s), CR jobs {row['cr_requests_per_s']:.0f}/s, "
        f"cpu {row['cpu_ms_per_device']['total_ms']:.1f} ms/device"
        + (
            f"; failed CRs: {jobs['failures']}"
            if (jobs := stats.get("jobs") or {}).get("failures")
            else ""
        )
    )
    return row
