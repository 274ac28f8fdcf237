"""Smoke tests of the scale-out steps of `make bench`: cluster, overload, simulator memory.

Each runs the real orchestrator (``python -m bench``) as a subprocess at tiny
sizes and checks the shape of the JSON and the counts that do not depend on
the machine; timings are never asserted.

* ``simmem`` needs nothing but the floor app (granian, no database).
* ``cluster`` (nginx over 1 and 2 granian workers) and ``overload`` (open
  loop at twice the capacity) need PostgreSQL + Redis and nginx: they run in
  the PostgreSQL + Redis run of ``make test`` (the bench makes its own
  database on that server and uses the run's Redis database, which every
  test flushes anyway). Without nginx they skip, unless ``CI`` or
  ``ACS_REQUIRE_NGINX`` is set, where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def _required() -> bool:
    return any(
        os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")
        for name in ("CI", "ACS_REQUIRE_NGINX")
    )


def _bench(tmp_path: Path, *args: str) -> tuple[dict, str]:
    out, work = tmp_path / "out", tmp_path / "work"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", *args, "--out", str(out), "--work", str(work)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=220,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    (json_path,) = out.glob("*.json")
    (md_path,) = out.glob("*.md")
    return json.loads(json_path.read_text()), md_path.read_text()


def test_simulator_memory(tmp_path):
    results, markdown = _bench(
        tmp_path, "--scenarios", "simmem", "--simmem-devices", "60", "--duration", "1"
    )
    sm = results["simmem"]
    assert sm["devices"] == 60
    assert len(sm["dumps"]) == sm["models"] >= 5  # every real dump, one parsed model each
    assert sm["round"]["sessions_ok"] > 0 and sm["round"]["sessions_failed"] == 0
    assert sm["round"]["http_requests_per_session"] == 3.0
    assert 0 < sm["rss_at_start_mb"] <= sm["rss_built_mb"] <= sm["peak_rss_mb"]
    assert sm["device_footprint_bytes"] > 0
    assert sm["target_mb"] == 1024
    assert results["targets"]["simulator_rss_mb_10000_devices"] == 1024
    assert "### Simulator memory: 60 devices" in markdown
    assert results["periodic"] == [] and results["cluster"] is None


@pytest.fixture(scope="module")
def scaleout_run(tmp_path_factory) -> tuple[dict, str]:
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql" or not settings.REDIS_URL:
        pytest.skip("runs in the PostgreSQL + Redis run (DATABASE_URL, REDIS_URL)")
    if not shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
        installed = subprocess.run(
            [str(ROOT / "scripts" / "install-nginx.sh")],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if installed.returncode != 0:
            reason = "nginx is not installed and scripts/install-nginx.sh could not install it"
            if _required():
                pytest.fail(f"{reason} (CI or ACS_REQUIRE_NGINX is set: nginx is required)")
            pytest.skip(reason)
    user = f"{db['USER']}@" if db.get("USER") else ""
    pg_url = f"postgres://{user}{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/postgres"
    return _bench(
        tmp_path_factory.mktemp("scaleout"),
        "--databases",
        "postgres",
        "--scenarios",
        "cluster,overload",
        "--pg-url",
        pg_url,
        "--redis-url",
        settings.REDIS_URL,
        "--devices",
        "30",
        "--warmup",
        "0.3",
        "--cluster-duration",
        "1",
        "--cluster-concurrency",
        "4",
        "--overload-concurrency",
        "4",
        "--overload-duration",
        "1",
    )


def test_cluster_rows_and_worker_spread(scaleout_run):
    results, markdown = scaleout_run
    cl = results["cluster"]
    rows = cl["rows"]
    assert [(r["web_workers"], r["quirks"]) for r in rows] == [
        (1, ""),
        (2, ""),
        (2, "no-cookies"),
    ]
    for r in rows:
        assert r["sessions_ok"] > 0 and r["sessions_failed"] == 0, r["errors"]
        # Digest as CPEs do it: 401, Inform, empty POST; every response names its worker.
        assert r["http_requests_per_session"] == 3.0
        assert r["server_requests_per_session"] == 3.0
        up = r["upstreams"]
        assert up["sessions"] == r["sessions"]
        assert up["requests_without_header"] == 0
        assert len(up["requests_by_server"]) == r["web_workers"]
        assert len(r["worker_requests"]) == r["web_workers"] and all(r["worker_requests"])
        for key in ("server_ms", "nginx_ms", "db_ms", "redis_ms", "total_ms", "loadgen_ms"):
            assert key in r["cpu_ms_per_session"]
        assert 0 < r["queries_per_session"] <= 6
    one, two, cookieless = rows
    assert one["upstreams"]["sessions_on_2plus_servers"] == 0
    # Round-robin per request: with two workers most sessions use both, and all completed.
    for r in (two, cookieless):
        assert r["upstreams"]["sessions_on_2plus_servers"] > 0
        assert r["upstreams"]["sessions_on_2plus_servers_failed"] == 0
    assert cl["ratio_2w_1w"] > 0 and cl["target_ratio"] == 1.6
    assert "### Scale-out" in markdown and "÷ 1 worker (target ≥ 1.6)" in markdown


def test_overload_counts(scaleout_run):
    results, markdown = scaleout_run
    ov = results["overload"]
    assert ov["capacity"]["sessions_per_s"] > 0
    assert ov["max_sessions"] >= 8  # never fewer than the server's threads (2 workers, 4 threads)
    assert ov["sessions_started"] == ov["sessions"] > 0
    # Every session either completed or was refused with 503; nothing else.
    assert ov["sessions_ok"] + ov["refused_503"] + ov["errors_not_503"] == ov["sessions"]
    assert ov["refused_with_retry_after"] == ov["refused_503"]
    # Nothing lost: every completed session has its log, outcome ok.
    assert ov["session_logs_ok"] == ov["sessions_ok"]
    assert ov["lost"] == 0
    lat = ov["latency_from_schedule_ms"]
    assert lat["p50"] <= lat["p99"] <= lat["max"]
    assert "### Overload" in markdown and "p99 < 2000" in markdown
