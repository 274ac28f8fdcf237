"""Per-process request and SQL statement counters for the benchmark.

Installed by ``bench.settings`` (the project's settings plus this), so the
application code carries no benchmark hook. Each server process counts

* HTTP requests (Django's ``request_started`` signal; ``bench.wsgi`` counts
  the ``/cwmp/`` requests, which skip Django's handler and its signals) and
* database connections opened (Django's ``connection_created`` signal) and
* SQL statements (an ``execute_wrapper`` appended to every database
  connection when it is created, so every thread's connection counts,
  whatever the server runs the view in),

and a daemon thread writes ``{pid, requests, queries, connections, by_kind}`` to
``$ACS_BENCH_PROBE_DIR/<pid>.json`` every 100 ms (atomic rename). The
orchestrator sums the files before and after a measured phase
(``read_probe``, ``probe_delta``: kept here, beside the writer, so the
file's format is defined in one module). Cost: one signal receiver per
request and one Python call per statement, a few microseconds, next to
milliseconds per session.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_counts: dict[str, int] = {"requests": 0, "queries": 0, "connections": 0}
_kinds: dict[str, int] = {}
_started_pid: int | None = None
_dir = os.environ.get("ACS_BENCH_PROBE_DIR", "")


def _count_query(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    kind = sql.lstrip()[:6].upper()
    with _lock:
        _counts["queries"] += 1
        _kinds[kind] = _kinds.get(kind, 0) + 1
    return execute(sql, params, many, context)


def _flush() -> None:
    path = os.path.join(_dir, f"{os.getpid()}.json")
    tmp = path + ".tmp"
    last = None
    while True:
        with _lock:
            snapshot = {"pid": os.getpid(), **_counts, "by_kind": dict(_kinds)}
        if snapshot != last:
            with open(tmp, "w") as fh:
                json.dump(snapshot, fh)
            os.replace(tmp, path)
            last = snapshot
        time.sleep(0.1)


def _ensure_thread() -> None:
    global _started_pid
    pid = os.getpid()
    if _started_pid == pid or not _dir:
        return
    with _lock:
        if _started_pid == pid:
            return
        _started_pid = pid
    threading.Thread(target=_flush, name="bench-probe", daemon=True).start()


def count_request() -> None:
    """One HTTP request (``bench.wsgi`` calls it for the paths that fire no signal)."""
    _ensure_thread()
    with _lock:
        _counts["requests"] += 1


def _on_request(**_: Any) -> None:
    count_request()


def _on_connection(connection: Any, **_: Any) -> None:
    _ensure_thread()
    with _lock:
        _counts["connections"] += 1
    if _count_query not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count_query)


def install() -> None:
    """Connect the receivers (idempotent: signals dedupe by dispatch_uid)."""
    from django.core.signals import request_started
    from django.db.backends.signals import connection_created

    request_started.connect(_on_request, dispatch_uid="bench.probe.request")
    connection_created.connect(_on_connection, dispatch_uid="bench.probe.connection")


def read_probe(probe_dir: Path) -> dict[str, Any]:
    total: dict[str, Any] = {
        "requests": 0,
        "queries": 0,
        "connections": 0,
        "by_kind": {},
        "processes": 0,
    }
    for path in probe_dir.glob("*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        total["processes"] += 1
        total["requests"] += data.get("requests", 0)
        total["queries"] += data.get("queries", 0)
        total["connections"] += data.get("connections", 0)
        for k, v in data.get("by_kind", {}).items():
            total["by_kind"][k] = total["by_kind"].get(k, 0) + v
    return total


def probe_delta(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    kinds = {k: b["by_kind"].get(k, 0) - a["by_kind"].get(k, 0) for k in b["by_kind"]}
    return {
        "requests": b["requests"] - a["requests"],
        "queries": b["queries"] - a["queries"],
        "connections": b["connections"] - a["connections"],
        "by_kind": {k: v for k, v in kinds.items() if v},
    }
