"""`make bench`: the ACS as deployed, driven by the CPE simulator, measured.

The orchestrator (this process) never touches a database through Django: it
starts the servers, ``manage.py db_worker`` processes, the load generator
(``bench.loadgen``) and the Django chores (``bench.ops``) as subprocesses,
and measures them from outside: CPU time of every process from ``/proc``
(psutil), PostgreSQL backends found through ``pg_stat_activity``, Redis by
its process, SQL statements and HTTP requests from the servers' probe files
(``bench.probe``), session latency from the simulator's ``SessionResult``.

Every measurement has its baseline in the same run (the floor app on the
same server stack and concurrency) and the table prints ratios beside the
absolute numbers. The portable number is CPU milliseconds per session.

Scenarios: ``periodic`` (with the floor), ``bootstrap``, ``connreq`` on
every database; on PostgreSQL + Redis also ``cluster`` (nginx, rendered from
deploy/nginx, over 1 and 2 granian processes: the deployment of ``make
run-cluster``) and ``overload`` (the capacity, then twice it as an open-loop
arrival rate against ``CWMP_MAX_SESSIONS``); ``simmem`` (10,000 simulated
devices in one process, RSS) needs no database.

Usage: ``python -m bench [--quick] [--databases sqlite,postgres] ...``
(``--help``). Results: ``bench/results/<UTC date-time>.json`` and ``.md``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import psutil

from bench.backends import Backend, drop_postgres, make_postgres, make_sqlite, migrate, run_ops
from bench.cli import parse_args
from bench.common import CREDENTIALS, ROOT, SERVER_ENV, TARGETS, log
from bench.cpu import PgWatch
from bench.report import render_markdown
from bench.scenarios.bootstrap import scenario_bootstrap
from bench.scenarios.cluster import scenario_cluster
from bench.scenarios.connreq import scenario_connreq
from bench.scenarios.overload import scenario_overload
from bench.scenarios.periodic import scenario_floor, scenario_periodic
from bench.scenarios.shared import wsgi_stack
from bench.scenarios.simmem import scenario_simmem
from bench.servers import StackSpec, nginx_binary


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "—"


def machine_info(backend_pg: Backend | None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": psutil.cpu_count(),
        "python": sys.version.split()[0],
        "django": _version("Django"),
        "daphne": _version("daphne"),
        "granian": _version("granian"),
        "gunicorn": _version("gunicorn"),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
    }
    if backend_pg is not None:
        # make_postgres gives both
        assert backend_pg.pg_admin_url is not None and backend_pg.redis_url is not None
        with contextlib.suppress(Exception):
            import psycopg
            import redis

            with psycopg.connect(backend_pg.pg_admin_url) as conn:
                row = conn.execute("SHOW server_version").fetchone()
                assert row is not None  # SHOW always answers one row
                info["postgres"] = "PostgreSQL " + row[0].split()[0]
            info["redis"] = redis.Redis.from_url(backend_pg.redis_url).info("server")[
                "redis_version"
            ]
    return info


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    opts.work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    stamp = opts.results["stamp"]
    results: dict[str, Any] = {
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "quick": opts.quick,
        "config": {
            "databases": opts.databases,
            "scenarios": opts.scenarios,
            "stacks": [s.label() for s in opts.stacks],
            "concurrency": opts.concurrency,
            "devices": opts.devices,
            "dump": opts.dump,
            "duration": opts.duration,
            "warmup": opts.warmup,
            "bootstrap_devices": opts.bootstrap_devices,
            "bootstrap_dump": opts.bootstrap_dump,
            "cr_devices": opts.cr_devices,
            "cr_workers": opts.cr_workers,
            "cr_rate": opts.cr_rate,
            "wsgi_workers": opts.wsgi_workers,
            "wsgi_threads": opts.wsgi_threads,
            "cluster_concurrency": opts.cluster_concurrency,
            "cluster_duration": opts.cluster_duration,
            "overload_duration": opts.overload_duration,
            "overload_factor": opts.overload_factor,
            "overload_arrivals": opts.overload_arrivals,
            "simmem_devices": opts.simmem_devices,
            "log_level": os.environ.get("BENCH_LOG_LEVEL", "INFO"),
            "server_env": dict(SERVER_ENV),
        },
        "targets": TARGETS,
        "periodic": [],
        "bootstrap": [],
        "connreq": [],
        "cluster": None,
        "overload": None,
        "simmem": None,
        "skipped": [],
    }
    backends: list[Backend] = []
    pg_backend: Backend | None = None
    try:
        db_scenarios = {"periodic", "bootstrap", "connreq", "cluster", "overload"}
        for name in opts.databases if db_scenarios & set(opts.scenarios) else []:
            if name == "sqlite":
                backends.append(make_sqlite(opts.work))
            elif name == "postgres":
                pg_backend = make_postgres(opts.work, opts.pg_url, opts.redis_url)
                if pg_backend is None:
                    results["skipped"].append("postgres: not answering")
                else:
                    backends.append(pg_backend)
        results["machine"] = machine_info(pg_backend)
        floor_stacks: list[StackSpec] = []
        for b in backends:
            for st in wsgi_stack(opts, b):
                if st not in floor_stacks:
                    floor_stacks.append(st)
        floor_done = False
        for backend in backends:
            log(f"{backend.name}: migrate + seed a fresh database")
            migrate(backend)
            run_ops(backend, "seed", CREDENTIALS)
            pg = (
                PgWatch(backend.pg_admin_url, backend.pg_dbname)
                if backend.pg_admin_url and backend.pg_dbname
                else None
            )
            try:
                if "periodic" in opts.scenarios:
                    if not floor_done:
                        results["periodic"] += scenario_floor(opts, backend, floor_stacks)
                        floor_done = True
                    results["periodic"] += scenario_periodic(opts, backend, pg)
                if "bootstrap" in opts.scenarios:
                    results["bootstrap"].append(scenario_bootstrap(opts, backend, pg))
                if "connreq" in opts.scenarios:
                    results["connreq"].append(scenario_connreq(opts, backend, pg))
                if "cluster" in opts.scenarios and backend.multi_process:
                    if nginx_binary() is None:
                        results["skipped"].append(
                            "cluster: nginx is not installed (scripts/install-nginx.sh)"
                        )
                    else:
                        results["cluster"] = scenario_cluster(opts, backend, pg)
                if "overload" in opts.scenarios and backend.multi_process:
                    results["overload"] = scenario_overload(opts, backend, pg)
            finally:
                if pg:
                    pg.close()
        for name in ("cluster", "overload"):
            if name in opts.scenarios and pg_backend is None:
                results["skipped"].append(
                    f"{name}: needs PostgreSQL + Redis (not in --databases, or not answering)"
                )
        if "simmem" in opts.scenarios:
            results["simmem"] = scenario_simmem(opts)
    finally:
        for b in backends:
            if b.pg_dbname and not opts.keep:
                drop_postgres(b)
        if not opts.keep:
            shutil.rmtree(opts.work, ignore_errors=True)
    results["duration_s"] = time.time() - started
    opts.out.mkdir(parents=True, exist_ok=True)
    json_path = opts.out / f"{stamp}.json"
    md_path = opts.out / f"{stamp}.md"
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    md = render_markdown(results)
    md_path.write_text(md)
    print(md)
    log(
        f"wrote {json_path.relative_to(ROOT) if json_path.is_relative_to(ROOT) else json_path} and {md_path.name}"
    )
    return 0
