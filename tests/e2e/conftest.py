"""End-to-end fixtures: the real server as a subprocess on loopback.

The server is ``make run``'s (``python -m acsportal.serve``: granian serving
the project's ASGI application), started with the same command,
on the test database that pytest-django created (a file for SQLite, the
``test_…`` database on PostgreSQL), and on Redis when ``REDIS_URL`` is set.
Tests write fixtures through the ORM with ``transactional_db`` (committed,
so the server sees them) and read what the server stored the same way.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    if "sqlite" in db["ENGINE"]:
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


def process_env(**overrides: str) -> dict[str, str]:
    """The environment of a ``manage.py`` or worker process beside the test's server.

    Same database, secret (it signs nonces and links) and Redis as the
    server the test started, so what one process writes the other reads.
    """
    env = dict(os.environ, DATABASE_URL=_database_url(), SECRET_KEY=settings.SECRET_KEY)
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    env.update(overrides)
    return env


@dataclass
class Server:
    base: str
    process: subprocess.Popen
    log_path: Path

    def cwmp_url(self, tenant_slug: str) -> str:
        return f"{self.base}/cwmp/{tenant_slug}/"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole server at once: granian's main process and its worker.

        Killing the main process alone leaves the worker serving (it is a
        process of its own, in the server's process group).
        """
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


_starts = itertools.count(1)


def make_run_server(port: int) -> list[str]:
    """The command ``make run`` serves with (the Makefile's ``run`` target)."""
    return [sys.executable, "-m", "acsportal.serve", "--host", "127.0.0.1", "--port", str(port)]


def start_server(
    tmp: Path,
    *,
    port: int | None = None,
    command: Callable[[int], list[str]] = make_run_server,
    **env_overrides: str,
) -> Server:
    """Start ``make run``'s server on ``port`` (a free one when None) and wait until it listens.

    A fixed port lets a test kill a server and start another where the
    devices expect it (their ManagementServer.URL does not change).
    ``command`` starts another server instead, with the same environment
    (the body-limit tests hold other servers to the same rules).
    """
    port = port or free_port()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=_database_url(),
        SECRET_KEY=settings.SECRET_KEY,
        CWMP_TENANT_CACHE_SECONDS="0",
        ACS_PUBLIC_URL=f"http://127.0.0.1:{port}",
        ACS_LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    else:
        env.pop("REDIS_URL", None)
    env.update(env_overrides)
    log_path = tmp / f"server-{port}-{next(_starts)}.log"
    process = subprocess.Popen(
        command(port),
        cwd=ROOT,
        env=env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a group of its own: Server.kill, stop_server
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("server exited:\n" + log_path.read_text())
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError("server did not start:\n" + log_path.read_text())
    return Server(f"http://127.0.0.1:{port}", process, log_path)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        pass
    # Whatever of the group is left (a worker the main process did not stop).
    server.kill()


@pytest.fixture(scope="session")
def acs_server(django_db_setup, tmp_path_factory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("acs"))
    yield server
    stop_server(server)


@pytest.fixture
def e2e_tenant(transactional_db, acs_server):
    """A tenant with Digest+Basic credentials, committed so the server sees it.

    Like make run's demo tenant, it takes Basic over plain HTTP from
    loopback, where the simulated devices are.
    """
    from tests.factories import TenantFactory

    return TenantFactory(
        slug="e2e",
        provision_cr_credentials=True,
        connection_request_networks="127.0.0.0/8",
        basic_over_http_networks="127.0.0.0/8",
    )
