"""``python -m bench.million``: the database to use, then load, measure or both.

Django is set up here, only after the database is chosen (``DATABASE_URL``,
by default ``acs_million``, created when missing). That is why every other
module of the package imports Django and the apps inside its functions:
importing one must not read the settings before ``main`` has chosen.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import bench.million
from bench.million.db import META_TABLE, load_meta
from bench.million.indexes import index_experiments
from bench.million.interned import INTERNED_TABLES
from bench.million.loader import load
from bench.million.measure import measure
from bench.million.report import markdown

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/acs_million"


def _ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1].split("?")[0]
    if name == "test" or name.startswith("test_"):
        raise SystemExit(f"refusing to load into {name!r}: that database belongs to the test suite")
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def _reset() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE devices_device, devices_parameter, devices_sessionlog, devices_cperequest,"
            " provisioning_task, provisioning_fault RESTART IDENTITY CASCADE"
        )
        for table in (*INTERNED_TABLES, META_TABLE):
            cur.execute(f"DROP TABLE IF EXISTS {table}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.million", description=bench.million.__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=("load", "measure", "all", "indexes"))
    parser.add_argument("--devices", type=int, default=1_000_000)
    parser.add_argument("--full-trees", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--reset", action="store_true", help="empty the device tables first")
    parser.add_argument("--repeat", type=int, default=20, help="runs of each fast query")
    parser.add_argument("--slow-repeat", type=int, default=3, help="runs of each slow query")
    parser.add_argument(
        "--naive", type=int, default=1000, help="devices for task_enqueue one by one"
    )
    parser.add_argument("--no-interned", action="store_true")
    parser.add_argument("--rebuild-interned", action="store_true")
    parser.add_argument("--json", type=Path, help="write the results here")
    opts = parser.parse_args(argv)

    url = os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
    if not url.startswith("postgres"):
        raise SystemExit("DATABASE_URL must name a PostgreSQL database")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "acsportal.settings")
    _ensure_database(url)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    load_report = measured = None
    if opts.command in ("load", "all"):
        if opts.reset:
            _reset()
        start = time.perf_counter()
        print(f"loading {opts.devices:,} devices ({opts.full_trees:,} with full trees)")
        load_report = load(devices=opts.devices, full_trees=opts.full_trees, seed=opts.seed)
        load_report["total_seconds"] = round(time.perf_counter() - start, 1)
        print(f"loaded in {load_report['total_seconds']}s")
    else:
        load_report = load_meta("load")
    if opts.command in ("measure", "all"):
        measured = measure(
            repeat=opts.repeat,
            slow_repeat=opts.slow_repeat,
            naive=opts.naive,
            interned=not opts.no_interned,
            rebuild_interned=opts.rebuild_interned,
        )
    if opts.command == "indexes":
        measured = {
            "results": [],
            "index_experiments": index_experiments(
                repeat=opts.repeat, slow_repeat=opts.slow_repeat
            ),
        }
    print(markdown(load_report, measured))
    if opts.json:
        opts.json.parent.mkdir(parents=True, exist_ok=True)
        opts.json.write_text(
            json.dumps({"load": load_report, "measure": measured}, indent=1, default=str)
        )
    return 0
