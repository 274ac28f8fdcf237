"""Smoke test of `make bench`: the quick periodic scenario on SQLite, a few seconds.

Runs the real orchestrator (``python -m bench``) as a subprocess: daphne
serving the ACS and the floor app, the simulator in its own process, the
probe counting queries. Asserts the shape of the JSON and the counts that
do not depend on the machine; timings are never asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench-out")
    work = tmp_path_factory.mktemp("bench-work")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--databases",
            "sqlite",
            "--scenarios",
            "periodic",
            "--stacks",
            "daphne",
            "--concurrency",
            "4",
            "--devices",
            "20",
            "--duration",
            "2",
            "--warmup",
            "0.5",
            "--out",
            str(out),
            "--work",
            str(work),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=220,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    (json_path,) = out.glob("*.json")
    (md_path,) = out.glob("*.md")
    assert json_path.stem == md_path.stem
    return json.loads(json_path.read_text()), md_path.read_text()


def _row(results: dict, app: str) -> dict:
    rows = [r for r in results["periodic"] if r["app"] == app]
    assert len(rows) == 1, rows
    return rows[0]


def test_results_have_the_expected_shape(bench_run):
    results, _ = bench_run
    for key in ("started", "duration_s", "machine", "config", "targets", "periodic"):
        assert key in results
    assert results["quick"] is True
    assert results["targets"]["cpu_ms_per_session"] == 4.5
    assert results["targets"]["queries_per_session"] == 6
    for row in results["periodic"]:
        for key in (
            "sessions_per_s",
            "latency_ms",
            "cpu_ms_per_session",
            "queries_per_session",
            "http_requests_per_session",
            "server_rss_mb",
            "loadgen_cpu_ms_per_session",
        ):
            assert key in row, key
        for key in ("p50", "p95", "p99"):
            assert key in row["latency_ms"]
        for key in ("server_ms", "db_ms", "redis_ms", "total_ms", "loadgen_ms"):
            assert key in row["cpu_ms_per_session"]


def test_acs_periodic_session_counts(bench_run):
    results, _ = bench_run
    row = _row(results, "acs")
    assert row["backend"] == "sqlite"
    assert row["stack"] == "daphne"
    assert row["sessions_ok"] > 0
    assert row["sessions_failed"] == 0
    # Digest as CPEs do it: Inform -> 401, Inform with credentials -> 200, empty POST -> 204.
    assert row["http_requests_per_session"] == 3.0
    assert row["server_requests_per_session"] == 3.0
    assert row["http_statuses"] == {
        "200": row["sessions_ok"],
        "204": row["sessions_ok"],
        "401": row["sessions_ok"],
    }
    assert row["connections_per_session"] == 1.0
    assert row["rpcs_per_session"] == 0.0
    assert 0 < row["queries_per_session"] <= 6
    # Sane, not timed: positive CPU and memory, ordered percentiles.
    lat = row["latency_ms"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
    assert row["cpu_ms_per_session"]["server_ms"] > 0
    assert row["cpu_ms_per_session"]["total_ms"] >= row["cpu_ms_per_session"]["server_ms"]
    assert row["server_rss_mb"] > 10
    assert row["loadgen_cpu_s"] > 0


def test_floor_is_measured_beside_it(bench_run):
    results, markdown = bench_run
    floor = _row(results, "floor")
    assert floor["stack_label"] == _row(results, "acs")["stack_label"]
    assert floor["sessions_ok"] > 0
    assert floor["sessions_failed"] == 0
    assert floor["http_requests_per_session"] == 3.0
    assert floor["queries_per_session"] == 0
    assert floor["cpu_ms_per_session"]["server_ms"] > 0
    assert "÷ floor" in markdown
    assert "| acs | sqlite | daphne" in markdown
    assert "| floor | — | daphne" in markdown
