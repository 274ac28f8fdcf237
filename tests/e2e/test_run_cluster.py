"""``make run-cluster`` as deployed: the CPE listener serves CPE paths only, staff get their own.

The real script (``scripts/run-cluster.sh``: nginx, one granian worker,
daphne, a job worker) on a database of its own on the run's PostgreSQL
server and the run's Redis database. Runs in the PostgreSQL + Redis run of
``make test``; without nginx it skips, unless ``CI`` or ``ACS_REQUIRE_NGINX``
is set, where it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from tests.cwmp.cpe import inform_body
from tests.e2e.conftest import ROOT, free_port
from tests.e2e.test_mtls import _nginx_unavailable, _run

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


@dataclass
class Cluster:
    cpe: str
    staff: str
    output: Path


def _two_free_ports() -> int:
    """A port whose next one is free as well (daphne on it, the web worker on the next)."""
    for _ in range(50):
        base = free_port()
        with socket.socket() as a, socket.socket() as b:
            try:
                a.bind(("127.0.0.1", base))
                b.bind(("127.0.0.1", base + 1))
            except OSError:
                continue
        return base
    raise RuntimeError("no two consecutive free ports")


def _admin_url(db: dict, name: str) -> str:
    user = f"{db['USER']}@" if db.get("USER") else ""
    return f"postgres://{user}{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


@pytest.fixture(scope="module")
def cluster(django_db_setup, tmp_path_factory) -> Iterator[Cluster]:
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql" or not settings.REDIS_URL:
        pytest.skip("runs in the PostgreSQL + Redis run (DATABASE_URL, REDIS_URL)")
    if not shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
        installed = _run([str(ROOT / "scripts/install-nginx.sh")], timeout=600)
        if installed.returncode != 0:
            _nginx_unavailable("nginx is not installed and scripts/install-nginx.sh failed")
    tmp = tmp_path_factory.mktemp("cluster")
    name = f"{db['NAME']}_cluster"
    cpe_port, staff_port = free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ACS_", "CWMP_", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(
        DATABASE_URL=_admin_url(db, name),
        REDIS_URL=settings.REDIS_URL,
        SECRET_KEY=settings.SECRET_KEY,
        ACS_VAR_DIR=str(tmp / "var"),
        ACS_CLUSTER_DIR=str(tmp / "run"),
        ACS_PORT=str(cpe_port),
        ACS_STAFF_PORT=str(staff_port),
        ACS_CLUSTER_PORT=str(_two_free_ports()),
        ACS_WEB_WORKERS="1",
        ACS_WEB_THREADS="2",
        ACS_JOB_WORKERS="1",
        NGINX_WORKERS="1",
        ACS_ADMIN_PASSWORD="cluster-admin-pw",
    )
    output = tmp / "run-cluster.out"
    process = subprocess.Popen(
        [str(ROOT / "scripts/run-cluster.sh")],
        cwd=ROOT,
        env=env,
        stdout=output.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while "Ctrl-C stops everything." not in output.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"run-cluster did not come up:\n{output.read_text()[-4000:]}")
            time.sleep(0.2)
        yield Cluster(f"http://127.0.0.1:{cpe_port}", f"http://127.0.0.1:{staff_port}", output)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # the script stops what it started
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        import psycopg

        with psycopg.connect(_admin_url(db, "postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_cpe_listener_serves_only_cpe_paths(cluster):
    with httpx.Client(base_url=cluster.cpe, timeout=10) as client:
        for path in ("/admin/", "/admin/login/", "/", "/static/admin/css/base.css"):
            assert client.get(path).status_code == 404, path
        # The CWMP endpoint answers there: a GET is not CWMP (405, the app's, not
        # nginx's 404) and an Inform without credentials gets its challenge.
        assert client.get("/cwmp/demo/").status_code == 405
        inform = client.post(
            "/cwmp/demo/", content=inform_body("SN1"), headers={"Content-Type": "text/xml"}
        )
        assert inform.status_code == 401 and "Digest" in inform.headers["WWW-Authenticate"]


def test_the_staff_listener_serves_the_admin_and_no_cpe_path(cluster):
    with httpx.Client(base_url=cluster.staff, timeout=10) as client:
        login = client.get("/admin/login/")
        assert login.status_code == 200 and "csrfmiddlewaretoken" in login.text
        assert client.get("/admin/").status_code == 302  # to the login page
        assert client.get("/cwmp/demo/").status_code == 404
        assert client.post("/cwmp/demo/", content=inform_body("SN1")).status_code == 404
    printed = cluster.output.read_text()
    assert re.search(rf"Portal \(admin\):\s+{re.escape(cluster.staff)}/admin/", printed), printed
    assert f"CWMP URL:        {cluster.cpe}/cwmp/demo/" in printed
