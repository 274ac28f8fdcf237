# ruff: noqa: RUF001
"""`make bench`: the ACS as deployed, driven by the CPE simulator, measured.

The paragraph above is ``python -m bench --help``'s description. The command
line and the ``Options`` every scenario reads live here together because
the defaults depend on ``--quick``: they are settled once, here, instead of
in each scenario.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import ROOT, SERVER_ENV
from bench.servers import StackSpec


@dataclass
class Options:
    quick: bool
    databases: list[str]
    scenarios: list[str]
    stacks: list[StackSpec]
    concurrency: list[int]
    devices: int
    dump: str
    duration: float
    warmup: float
    bootstrap_devices: int
    bootstrap_dump: str
    bootstrap_concurrency: int
    cr_devices: int
    cr_workers: int
    cr_rate: int
    cr_concurrency: int
    cr_timeout: float
    pg_url: str
    redis_url: str
    work: Path
    out: Path
    keep: bool
    profile: bool
    wsgi_workers: int = 2
    wsgi_threads: int = 4
    cluster_concurrency: int = 32
    cluster_duration: float = 8.0
    overload_concurrency: int = 32
    overload_duration: float = 10.0
    overload_factor: float = 2.0
    overload_max_sessions: int | None = None
    overload_budget: float = 0.5
    overload_arrivals: str = "poisson"
    simmem_devices: int = 10_000
    results: dict[str, Any] = field(default_factory=dict)


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("BENCH_QUICK") == "1",
        help="a one-minute version (fewer devices, short phases); also BENCH_QUICK=1",
    )
    p.add_argument(
        "--databases",
        default="sqlite,postgres",
        help="sqlite,postgres (postgres skipped if it does not answer)",
    )
    p.add_argument(
        "--scenarios",
        default="periodic,bootstrap,connreq,cluster,overload,simmem",
        help="periodic,bootstrap,connreq,cluster,overload,simmem (periodic includes the floor; "
        "cluster and overload need PostgreSQL + Redis, cluster also nginx)",
    )
    p.add_argument(
        "--stacks",
        default="daphne,granian",
        help="daphne,granian,gunicorn for the periodic scenario",
    )
    p.add_argument(
        "--wsgi-workers",
        type=int,
        default=2,
        help="WSGI worker processes on PostgreSQL + Redis (SQLite: 1)",
    )
    p.add_argument("--wsgi-threads", type=int, default=4, help="threads per WSGI worker")
    p.add_argument(
        "--concurrency",
        default=None,
        help="concurrent sessions, comma list (default 8,32; quick 8)",
    )
    p.add_argument(
        "--devices",
        type=int,
        default=None,
        help="known devices of the periodic scenario (default 1000)",
    )
    p.add_argument(
        "--dump",
        default="huawei-eg8145v5",
        help="dump of the periodic and connection-request devices",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds per measured periodic phase (default 12; quick 3)",
    )
    p.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds of warm-up before each (default 3; quick 1)",
    )
    p.add_argument("--bootstrap-devices", type=int, default=None, help="default 100; quick 4")
    p.add_argument(
        "--bootstrap-dump", default="tplink-ec220-v3", help="the ~1,000-parameter dump (944 rows)"
    )
    p.add_argument("--bootstrap-concurrency", type=int, default=8)
    p.add_argument(
        "--cr-devices",
        type=int,
        default=None,
        help="devices of the connection-request scenario (default 10000 on PostgreSQL, 2000 on SQLite; "
        "10000 is the issue's figure; quick 100)",
    )
    p.add_argument("--cr-workers", type=int, default=2, help="manage.py db_worker processes")
    p.add_argument(
        "--cr-rate", type=int, default=0, help="CWMP_CONNREQ_TENANT_RATE for the run (0: unlimited)"
    )
    p.add_argument(
        "--cr-concurrency",
        type=int,
        default=64,
        help="simulator sessions at once after connection requests",
    )
    p.add_argument(
        "--cr-timeout",
        type=float,
        default=420,
        help="give up waiting for the devices after this many seconds",
    )
    p.add_argument(
        "--cluster-concurrency",
        type=int,
        default=None,
        help="concurrent sessions through nginx in the cluster scenario (default 32; quick 16)",
    )
    p.add_argument(
        "--cluster-duration",
        type=float,
        default=None,
        help="seconds per measured cluster row (default 8; quick 3)",
    )
    p.add_argument(
        "--overload-concurrency",
        type=int,
        default=32,
        help="closed-loop sessions at once while measuring the capacity",
    )
    p.add_argument(
        "--overload-duration",
        type=float,
        default=None,
        help="seconds of the capacity and of the open-loop overload phase (default 10; quick 3)",
    )
    p.add_argument(
        "--overload-factor", type=float, default=2.0, help="offered rate ÷ measured capacity"
    )
    p.add_argument(
        "--overload-max-sessions",
        type=int,
        default=None,
        help="CWMP_MAX_SESSIONS of the overload run (default: max(threads, capacity × budget))",
    )
    p.add_argument(
        "--overload-budget",
        type=float,
        default=0.5,
        help="seconds of the default CWMP_MAX_SESSIONS rule (Little's law)",
    )
    p.add_argument("--overload-arrivals", choices=("poisson", "uniform"), default="poisson")
    p.add_argument(
        "--simmem-devices",
        type=int,
        default=10_000,
        help="simulated devices in one process for the simulator-memory step",
    )
    p.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    p.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    p.add_argument("--work", default=None, help="scratch directory (default var/bench/<stamp>)")
    p.add_argument(
        "--out", default=str(ROOT / "bench" / "results"), help="where the JSON and Markdown go"
    )
    p.add_argument("--keep", action="store_true", help="keep the scratch directory and databases")
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the servers and job workers, e.g. ACS_LIVE_EVENTS=false",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="py-spy every measured periodic phase of the ACS (profiles saved beside the results)",
    )
    a = p.parse_args(argv)
    SERVER_ENV.clear()
    for item in a.env:
        key, sep, value = item.partition("=")
        if not sep:
            p.error(f"--env wants KEY=VALUE, not {item!r}")
        SERVER_ENV[key] = value
    q = a.quick
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    stacks = []
    for name in [s.strip() for s in a.stacks.split(",") if s.strip()]:
        if name == "daphne":
            stacks.append(StackSpec("daphne"))
        else:
            stacks.append(StackSpec(name, a.wsgi_workers, a.wsgi_threads))
    opts = Options(
        quick=q,
        databases=[d.strip() for d in a.databases.split(",") if d.strip()],
        scenarios=[s.strip() for s in a.scenarios.split(",") if s.strip()],
        stacks=stacks,
        concurrency=[int(c) for c in (a.concurrency or ("8" if q else "8,32")).split(",")],
        devices=a.devices or (200 if q else 1000),
        dump=a.dump,
        duration=a.duration or (3.0 if q else 12.0),
        warmup=a.warmup or (1.0 if q else 3.0),
        bootstrap_devices=a.bootstrap_devices or (4 if q else 100),
        bootstrap_dump=a.bootstrap_dump,
        bootstrap_concurrency=a.bootstrap_concurrency,
        cr_devices=a.cr_devices or (100 if q else 0),
        cr_workers=a.cr_workers,
        cr_rate=a.cr_rate,
        cr_concurrency=a.cr_concurrency,
        cr_timeout=a.cr_timeout,
        pg_url=a.pg_url,
        redis_url=a.redis_url,
        work=Path(a.work) if a.work else ROOT / "var" / "bench" / f"{stamp}-{os.getpid()}",
        out=Path(a.out),
        keep=a.keep,
        profile=a.profile,
        wsgi_workers=a.wsgi_workers,
        wsgi_threads=a.wsgi_threads,
        cluster_concurrency=a.cluster_concurrency or (16 if q else 32),
        cluster_duration=a.cluster_duration or (3.0 if q else 8.0),
        overload_concurrency=a.overload_concurrency,
        overload_duration=a.overload_duration or (3.0 if q else 10.0),
        overload_factor=a.overload_factor,
        overload_max_sessions=a.overload_max_sessions,
        overload_budget=a.overload_budget,
        overload_arrivals=a.overload_arrivals,
        simmem_devices=a.simmem_devices,
    )
    opts.results["stamp"] = stamp
    return opts
