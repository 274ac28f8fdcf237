# ruff: noqa: S603
"""The databases a run measures, each one fresh, and the subprocesses that prepare them.

The orchestrator never opens a Django connection of its own: its CPU would
mix with what it measures and its backend would count in PostgreSQL's. So
migrations and the chores of ``bench.ops`` run as one subprocess each on the
backend's environment; only creating and dropping the PostgreSQL database
happen here, through the admin database.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import PYTHON, ROOT, log
from bench.processes import base_env


@dataclass
class Backend:
    name: str  # "sqlite" or "postgres"
    env: dict[str, str]
    pg_admin_url: str | None = None
    pg_dbname: str | None = None
    redis_url: str | None = None

    @property
    def multi_process(self) -> bool:
        return self.redis_url is not None


def make_sqlite(work: Path) -> Backend:
    var = work / "var-sqlite"
    var.mkdir(parents=True, exist_ok=True)
    env = base_env(work)
    env.update(DATABASE_URL=f"sqlite:///{var / 'bench.sqlite3'}", ACS_VAR_DIR=str(var))
    return Backend("sqlite", env)


def make_postgres(work: Path, pg_url: str, redis_url: str) -> Backend | None:
    """A fresh database on the PostgreSQL server, and a flushed Redis database."""
    try:
        import psycopg
        import redis
    except ImportError:
        return None
    dbname = f"acsbench_{os.getpid()}"
    admin = pg_url.rsplit("/", 1)[0] + "/postgres"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{dbname}"')
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).flushdb()
    except Exception as exc:
        log(f"PostgreSQL/Redis not usable ({exc}): skipped")
        return None
    var = work / "var-postgres"
    var.mkdir(parents=True, exist_ok=True)
    env = base_env(work)
    env.update(
        DATABASE_URL=pg_url.rsplit("/", 1)[0] + f"/{dbname}",
        REDIS_URL=redis_url,
        ACS_VAR_DIR=str(var),
    )
    return Backend("postgres", env, pg_admin_url=admin, pg_dbname=dbname, redis_url=redis_url)


def drop_postgres(backend: Backend) -> None:
    import psycopg

    assert backend.pg_admin_url is not None  # a PostgreSQL backend (make_postgres) has one
    with (
        contextlib.suppress(Exception),
        psycopg.connect(backend.pg_admin_url, autocommit=True, connect_timeout=3) as conn,
    ):
        conn.execute(f'DROP DATABASE IF EXISTS "{backend.pg_dbname}" WITH (FORCE)')


def run_ops(backend: Backend, command: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    env = dict(backend.env, DJANGO_SETTINGS_MODULE="acsportal.settings")
    out = subprocess.run(
        [PYTHON, "-m", "bench.ops", command, json.dumps(args or {})],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench.ops {command} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def migrate(backend: Backend) -> None:
    env = dict(backend.env, DJANGO_SETTINGS_MODULE="acsportal.settings")
    out = subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"migrate failed:\n{out.stderr[-3000:]}")
