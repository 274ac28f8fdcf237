"""CPU and memory of every process of a run, read from /proc, from outside the processes.

Reading from outside keeps benchmark code out of the servers and counts what
a deployment pays for: forked workers, short-lived PostgreSQL backends, Redis.
``cpu_block`` and ``cpu_split`` turn a phase's seconds into milliseconds per
session, the figure that carries from one machine to another.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any

import psutil

from bench.backends import Backend
from bench.processes import Managed

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float | None:
    """utime + stime of one process, seconds (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def _cluster_cpu(postmaster: int) -> float:
    """All CPU the PostgreSQL server has used: the postmaster, its reaped children, the live ones.

    A backend's CPU moves from the live sum into the postmaster's cutime/cstime
    when it exits and is reaped, so the total only grows and its difference
    over a phase counts short-lived connections too (and the fork itself).
    """
    try:
        with open(f"/proc/{postmaster}/stat") as fh:
            f = fh.read().rsplit(")", 1)[1].split()
        total = sum(int(x) for x in f[11:15]) / CLK_TCK
        parent = psutil.Process(postmaster)
        for child in parent.children():
            cpu = _proc_cpu(child.pid)
            if cpu is not None:
                total += cpu
        return total
    except (OSError, psutil.Error, ValueError):
        return 0.0


class PgWatch:
    """CPU of the PostgreSQL server spent on the bench database during a phase.

    PostgreSQL is shared (other databases, other people's tests), so:

    * ``cluster``: every PostgreSQL process (postmaster, its reaped children
      through cutime/cstime, the live ones), which also counts backends that
      connected and left within the phase, and their fork;
    * a thread polls ``pg_stat_activity`` every 200 ms and keeps each
      process's last CPU reading, by kind: client backends of the bench
      database (``bench``), of other databases (``others``), and background
      processes (``background``: WAL writer, checkpointer, autovacuum…);
    * ``db`` = cluster - others - background - this watcher's own backend:
      the bench database's share, short-lived backends included. A backend
      of another database that lived less than a poll is missed (counted as
      ours); ``others`` and ``background`` are reported so a polluted phase
      shows.
    """

    def __init__(self, admin_url: str, dbname: str) -> None:
        import psycopg

        self.dbname = dbname
        self.conn = psycopg.connect(admin_url, autocommit=True)
        row = self.conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None  # a SELECT without FROM has its one row
        self.own_pid = row[0]
        self.postmaster = psutil.Process(self.own_pid).ppid()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.base: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.kind: dict[int, str] = {}
        self.cluster0 = 0.0
        self.own0 = 0.0
        self.stats0: tuple[int, int] = (0, 0)

    def _db_stats(self) -> tuple[int, int]:
        """(connections ever opened, transactions committed) of the bench database.

        Cumulative statistics are flushed by backends about once a second, so
        these are approximate over short phases.
        """
        row = self.conn.execute(
            "SELECT sessions, xact_commit FROM pg_stat_database WHERE datname = %s",
            (self.dbname,),
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def _poll(self, first: bool = False) -> None:
        rows = self.conn.execute(
            "SELECT pid, CASE WHEN backend_type <> 'client backend' THEN 'background'"
            " WHEN datname = %s THEN 'bench' ELSE 'others' END"
            " FROM pg_stat_activity WHERE pid <> %s",
            (self.dbname, self.own_pid),
        ).fetchall()
        for pid, kind in rows:
            cpu = _proc_cpu(int(pid))
            if cpu is None:
                continue
            with self._lock:
                if pid not in self.base:
                    self.base[pid] = cpu if first else 0.0
                    self.kind[pid] = kind
                self.last[pid] = cpu

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            with contextlib.suppress(Exception):
                self._poll()

    def start(self) -> None:
        self.base, self.last, self.kind = {}, {}, {}
        self._poll(first=True)
        self.stats0 = self._db_stats()
        self.own0 = _proc_cpu(self.own_pid) or 0.0
        self.cluster0 = _cluster_cpu(self.postmaster)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, float]:
        cluster = _cluster_cpu(self.postmaster) - self.cluster0
        own = (_proc_cpu(self.own_pid) or 0.0) - self.own0
        self._poll()
        self._stop.set()
        if self._thread:
            self._thread.join()
        kinds = {"bench": 0.0, "others": 0.0, "background": 0.0}
        with self._lock:
            for pid, last in self.last.items():
                kinds[self.kind[pid]] += max(last - self.base[pid], 0.0)
            seen = sum(1 for k in self.kind.values() if k == "bench")
        time.sleep(1.1)  # let the backends flush their cumulative statistics
        sessions, commits = self._db_stats()
        return {
            "cluster": cluster,
            "db": max(cluster - kinds["others"] - kinds["background"] - own, 0.0),
            "bench_backends_seen_cpu": kinds["bench"],
            "others": kinds["others"],
            "background": kinds["background"],
            "backends_seen": seen,
            "connections_opened": sessions - self.stats0[0],
            "commits": commits - self.stats0[1],
        }

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()


def redis_pids() -> list[int]:
    return [
        p.pid
        for p in psutil.process_iter(["name"])
        if (p.info.get("name") or "").startswith("redis-server")
    ]


def _busy(t: Any) -> float:
    return (
        t.user
        + t.nice
        + t.system
        + getattr(t, "irq", 0)
        + getattr(t, "softirq", 0)
        + getattr(t, "steal", 0)
    )


class Meter:
    """CPU seconds of each group of processes over one measured phase."""

    def __init__(
        self,
        groups: dict[str, list[Managed]],
        pg: PgWatch | None = None,
        redis: list[int] | None = None,
    ) -> None:
        self.groups = groups
        self.pg = pg
        self.redis = redis or []
        self.t0: dict[str, dict[int, float]] = {}
        self.machine0 = 0.0
        self.wall0 = 0.0

    def _snap(self) -> dict[str, dict[int, float]]:
        snap: dict[str, dict[int, float]] = {}
        for name, members in self.groups.items():
            pids: dict[int, float] = {}
            for m in members:
                for p in m.tree():
                    cpu = _proc_cpu(p.pid)
                    if cpu is not None:
                        pids[p.pid] = cpu
            snap[name] = pids
        snap["redis"] = {pid: c for pid in self.redis if (c := _proc_cpu(pid)) is not None}
        return snap

    def start(self) -> None:
        if self.pg:
            self.pg.start()
        self.t0 = self._snap()
        self.machine0 = _busy(psutil.cpu_times())
        self.wall0 = time.monotonic()

    def stop(self) -> dict[str, Any]:
        snap = self._snap()
        machine = _busy(psutil.cpu_times()) - self.machine0
        wall = time.monotonic() - self.wall0
        out: dict[str, Any] = {}
        for name, pids in snap.items():
            before = self.t0.get(name, {})
            out[name] = sum(max(c - before.get(pid, 0.0), 0.0) for pid, c in pids.items())
        if self.pg:
            pg = self.pg.stop()
            out["postgres"] = pg["db"]
            out["postgres_cluster"] = pg["cluster"]
            out["postgres_other_databases"] = pg["others"]
            out["postgres_background"] = pg["background"]
            out["postgres_bench_backends_polled"] = pg["bench_backends_seen_cpu"]
            out["postgres_backends_seen"] = pg["backends_seen"]
            out["postgres_connections_opened"] = pg["connections_opened"]
            out["postgres_commits"] = pg["commits"]
        out["machine_busy"] = machine
        out["wall"] = wall
        out["machine_busy_pct"] = 100 * machine / (wall * (psutil.cpu_count() or 1)) if wall else 0
        return out

    def rss_mb(self, name: str) -> float:
        total = 0
        for m in self.groups.get(name, []):
            for p in m.tree():
                with contextlib.suppress(psutil.NoSuchProcess):
                    total += p.memory_info().rss
        return total / 2**20


def _per(value: float, n: int, scale: float = 1000.0) -> float:
    return value * scale / n if n else 0.0


def cpu_block(cpu: dict[str, Any], n: int, backend: Backend | None) -> dict[str, Any]:
    """CPU milliseconds per session (or device) by group, and how loud the machine was.

    ``other_load_cores``: CPU the machine spent outside everything measured
    (other people's processes, the kernel's own threads), in cores over the
    phase: above ~0.2 the absolute figures of that row are disturbed.
    """
    server = _per(cpu.get("server", 0.0), n)
    db = _per(cpu.get("postgres", 0.0), n)
    redis = _per(cpu.get("redis", 0.0), n) if backend and backend.redis_url else 0.0
    workers = _per(cpu.get("workers", 0.0), n)
    accounted = sum(
        cpu.get(k, 0.0)
        for k in ("server", "postgres", "postgres_background", "redis", "workers", "loadgen")
    )
    wall = cpu.get("wall", 0.0)
    return {
        "server_ms": server,
        "db_ms": db,
        "redis_ms": redis,
        "workers_ms": workers,
        "total_ms": server + db + redis + workers,
        "loadgen_ms": _per(cpu.get("loadgen", 0.0), n),
        "postgres_background_ms": _per(cpu.get("postgres_background", 0.0), n),
        "machine_busy_pct": cpu.get("machine_busy_pct", 0.0),
        "other_load_cores": (cpu.get("machine_busy", 0.0) - accounted) / wall if wall else 0.0,
    }


def cpu_split(cpu: dict[str, Any], n: int) -> dict[str, Any]:
    """CPU ms per session and cores used, by group, nginx included; what the machine had left."""
    wall = cpu.get("wall", 0.0) or 1e-9
    keys = ("server", "nginx", "postgres", "redis", "loadgen", "postgres_background")
    ms = {k: _per(cpu.get(k, 0.0), n) for k in keys}
    accounted = sum(cpu.get(k, 0.0) for k in keys)
    cores = psutil.cpu_count() or 1
    return {
        "server_ms": ms["server"],
        "nginx_ms": ms["nginx"],
        "db_ms": ms["postgres"],
        "redis_ms": ms["redis"],
        "total_ms": ms["server"] + ms["nginx"] + ms["postgres"] + ms["redis"],
        "loadgen_ms": ms["loadgen"],
        "postgres_background_ms": ms["postgres_background"],
        "all_ms": sum(ms.values()),
        "cores_used": {k: cpu.get(k, 0.0) / wall for k in keys},
        "machine_cores": cores,
        "machine_busy_pct": cpu.get("machine_busy_pct", 0.0),
        "other_load_cores": (cpu.get("machine_busy", 0.0) - accounted) / wall,
    }
