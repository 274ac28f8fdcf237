"""Ten thousand simulated devices in one process: the simulator's own memory (issue 5: < 1 GB).

It needs no database, so it runs whatever ``--databases`` says.
"""

from __future__ import annotations

from typing import Any

from bench.backends import Backend
from bench.cli import Options
from bench.common import ROOT, TARGETS, log
from bench.loadgen_client import LoadGen, loadgen_config
from bench.processes import base_env, free_port
from bench.servers import StackSpec, start_server

ALL_DUMPS = sorted(p.stem for p in (ROOT / "cpesim" / "dumps").glob("*.csv"))


def scenario_simmem(opts: Options) -> dict[str, Any]:
    """10,000 simulated devices from the real dumps in one process: RSS, and a round of sessions.

    The devices talk to the floor app (granian, no database) so the round is
    quick and costs the simulator what a real one does: every device builds
    its Inform, authenticates (Digest), and keeps its session's result.
    """
    env = base_env(opts.work)
    server = start_server(
        Backend("none", env),
        StackSpec("granian", 1, opts.wsgi_threads),
        "floor",
        opts.work,
        "simmem",
    )
    n = opts.simmem_devices
    lg = LoadGen(
        opts.work,
        "simmem",
        {
            **loadgen_config(server, ALL_DUMPS[0], n, "MEM", cr_port=free_port()),
            "dumps": ALL_DUMPS,
        },
    )
    try:
        built = lg.call({"cmd": "memory"})
        round_cmd: dict[str, Any] = {"cmd": "sessions", "concurrency": 64}
        if opts.quick:
            round_cmd["duration"] = opts.duration
        else:
            round_cmd["once"] = True
        res = lg.call(round_cmd)
        after = lg.call({"cmd": "memory"})
    finally:
        lg.close()
        server.managed.stop()
    row = {
        "scenario": "simmem",
        "devices": n,
        "dumps": built["dumps"],
        "models": built["models"],
        "rss_at_start_mb": built["rss_at_start_mb"],
        "rss_built_mb": built["rss_mb"],
        "rss_after_round_mb": after["rss_mb"],
        "peak_rss_mb": after["peak_rss_mb"],
        "device_footprint_bytes": after["device_footprint_bytes"],
        "per_1000_devices_mb": (after["peak_rss_mb"] - built["rss_at_start_mb"]) * 1000 / n
        if n
        else 0.0,
        "round": {
            k: res[k]
            for k in (
                "sessions",
                "sessions_ok",
                "sessions_failed",
                "errors",
                "sessions_per_s",
                "latency_ms",
                "http_requests_per_session",
                "loadgen_cpu_ms_per_session",
            )
        },
        "full_round": not opts.quick,
        "target_mb": TARGETS["simulator_rss_mb_10000_devices"],
    }
    log(
        f"simmem: {n} devices ({len(built['dumps'])} dumps, {built['models']} models): "
        f"RSS {built['rss_at_start_mb']:.0f} MB at start, {built['rss_mb']:.0f} MB built, "
        f"peak {after['peak_rss_mb']:.0f} MB after {res['sessions_ok']} sessions"
    )
    return row
