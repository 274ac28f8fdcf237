"""New devices bootstrapping with a queued refresh of their whole tree.

The heaviest session a CPE brings (about ten RPCs, a thousand parameters
stored), so it is measured per device rather than per second.
"""

from __future__ import annotations

import time
from typing import Any

from bench.backends import Backend, run_ops
from bench.cli import Options
from bench.common import PASSWORD, USERNAME, log
from bench.cpu import Meter, PgWatch, cpu_block, redis_pids
from bench.loadgen_client import LoadGen, loadgen_config
from bench.probe import probe_delta, read_probe
from bench.scenarios.shared import deployment_stack
from bench.servers import start_server
from cpesim.model import DeviceModel


def scenario_bootstrap(opts: Options, backend: Backend, pg: PgWatch | None) -> dict[str, Any]:
    prefix = "BOOT"
    n = opts.bootstrap_devices
    common = {
        "dumps": [opts.bootstrap_dump],
        "count": n,
        "serial_prefix": prefix,
        "username": USERNAME,
        "password": PASSWORD,
    }
    run_ops(backend, "preload", {**common, "bare": True})
    queued = run_ops(
        backend,
        "enqueue",
        {
            "serial_prefix": prefix,
            "type": "refresh",
            "args": {"path": "{root}."},
            # A device pre-provisioned by serial has no data model yet: the dump's root.
            "root": DeviceModel.from_dump(opts.bootstrap_dump).root,
        },
    )
    stack = deployment_stack(opts, backend)
    server = start_server(backend, stack, "acs", opts.work, f"boot-{backend.name}")
    lg = LoadGen(
        opts.work, f"boot-{backend.name}", loadgen_config(server, opts.bootstrap_dump, n, prefix)
    )
    try:
        time.sleep(0.3)
        p0 = read_probe(server.probe_dir)
        meter = Meter(
            {"server": [server.managed], "loadgen": [lg.managed]},
            pg=pg,
            redis=redis_pids() if backend.redis_url else None,
        )
        meter.start()
        res = lg.call(
            {
                "cmd": "sessions",
                "events": ["0 BOOTSTRAP", "1 BOOT"],
                "concurrency": opts.bootstrap_concurrency,
                "once": True,
            }
        )
        cpu = meter.stop()
        time.sleep(0.3)
        probe = probe_delta(p0, read_probe(server.probe_dir))
        rss = meter.rss_mb("server")
    finally:
        lg.close()
        server.managed.stop()
    stats = run_ops(backend, "stats", {"serial_prefix": prefix})
    ok = res["sessions_ok"]
    row = {
        "scenario": "bootstrap",
        "backend": backend.name,
        "stack": stack.name,
        "stack_label": stack.label(),
        "dump": opts.bootstrap_dump,
        "devices": n,
        "concurrency": opts.bootstrap_concurrency,
        **res,
        "seconds_per_device": res["wall_s"] / ok if ok else None,
        "cpu_ms_per_session": cpu_block(cpu, ok, backend),
        "cpu_raw_s": cpu,
        "queries_per_session": probe["queries"] / ok if ok else 0.0,
        "queries_by_kind": probe["by_kind"],
        "server_requests_per_session": probe["requests"] / ok if ok else None,
        "server_rss_mb": rss,
        "tasks_enqueue_s": queued["elapsed_s"],
        "db_after": stats,
    }
    log(
        f"bootstrap {backend.name}: {ok}/{n} devices, {res['sessions_per_s']:.2f}/s, "
        f"p50 {res['latency_ms']['p50']:.0f} ms/device, {stats['parameters_per_device']:.0f} params/device, "
        f"tasks {stats['tasks']}, cpu {row['cpu_ms_per_session']['total_ms']:.0f} ms/device"
    )
    return row
