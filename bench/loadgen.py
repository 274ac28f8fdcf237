"""The load generator: a cpesim ``Fleet`` in its own process, driven over a pipe.

``python -m bench.loadgen '<json config>'`` builds the fleet (one shared
connection-request listener when ``cr_port`` is set) and prints
``{"event": "ready"}``. Then it reads one JSON command per line on stdin and
answers each with one JSON line on stdout (logs go to stderr):

* ``{"cmd": "sessions", "events": [...], "concurrency": C, "duration": D,
  "once": false}`` — C workers run sessions back to back, each taking the
  next device round-robin, until D seconds passed (no new session starts
  after that; running ones finish) or, with ``once``, until every device
  had one session. Answers latency percentiles (``SessionResult.duration``),
  HTTP requests, connections and RPCs per session, failures, wall time and
  this process's own CPU time.
* ``{"cmd": "watch", "rpc": "SetParameterValues", "timeout": T}`` — devices
  living (connection requests start sessions by themselves): waits until
  every device completed a session in which the ACS sent ``rpc``; answers
  the epoch times of the first and last such session start and end.
* ``{"cmd": "quit"}``.

Every device authenticates with HTTP Digest the way the simulator always
does: each session starts without credentials, takes the 401 challenge and
answers it, then counts its nonce on the following requests.
"""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import sys
import time
from collections import Counter
from typing import Any

from cpesim import Fleet
from cpesim.cpe import SessionResult, SimulatedCPE


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    k = (len(sorted_values) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def summarize(results: list[SessionResult], wall: float, cpu: float) -> dict[str, Any]:
    ok = [r for r in results if r.ok]
    durations = sorted(r.duration for r in ok)
    errors = Counter((r.error or "?")[:120] for r in results if not r.ok)
    statuses = Counter(s for r in ok for s in r.statuses)
    n = len(ok)
    return {
        "sessions": len(results),
        "sessions_ok": n,
        "sessions_failed": len(results) - n,
        "errors": dict(errors.most_common(5)),
        "wall_s": wall,
        "sessions_per_s": n / wall if wall > 0 else 0.0,
        "latency_ms": {
            "mean": statistics.fmean(durations) * 1000 if durations else 0.0,
            "p50": _percentile(durations, 0.50) * 1000,
            "p95": _percentile(durations, 0.95) * 1000,
            "p99": _percentile(durations, 0.99) * 1000,
            "max": durations[-1] * 1000 if durations else 0.0,
        },
        "http_requests_per_session": sum(len(r.statuses) for r in ok) / n if n else 0.0,
        "http_statuses": {str(k): v for k, v in sorted(statuses.items())},
        "connections_per_session": sum(r.connections for r in ok) / n if n else 0.0,
        "rpcs_per_session": sum(len(r.rpcs) for r in ok) / n if n else 0.0,
        "loadgen_cpu_s": cpu,
        "loadgen_cpu_ms_per_session": cpu * 1000 / n if n else 0.0,
    }


class LoadGen:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        cr_port = int(config.get("cr_port") or 0)
        self.fleet = Fleet(
            acs_url=config["acs_url"],
            username=config["username"],
            password=config["password"],
            dumps=config["dumps"],
            count=int(config["count"]),
            serial_prefix=config["serial_prefix"],
            concurrency=int(config.get("fleet_concurrency", 10_000)),
            cr_port=cr_port,
            cr_username=config.get("cr_username"),
            cr_password=config.get("cr_password"),
            timeout=float(config.get("timeout", 30)),
            auto_sessions=bool(config.get("auto_sessions", False)),
        )
        self.cr = bool(cr_port)
        self.fleet.options.on_session = self._on_session
        self._watch: dict[str, Any] | None = None

    def _on_session(self, cpe: SimulatedCPE, result: SessionResult) -> None:
        w = self._watch
        if w is None:
            return
        w["results"].append(result)
        if result.ok and w["rpc"] in result.rpcs:
            w["done"].add(cpe.serial)
            if len(w["done"]) >= w["want"] and not w["event"].is_set():
                w["event"].set()

    async def setup(self) -> None:
        if self.cr:
            await self.fleet.start_cr()

    async def sessions(self, cmd: dict[str, Any]) -> dict[str, Any]:
        devices = self.fleet.devices
        events = list(cmd.get("events") or ["2 PERIODIC"])
        concurrency = max(1, int(cmd.get("concurrency", 8)))
        duration = float(cmd.get("duration", 10))
        once = bool(cmd.get("once", False))
        results: list[SessionResult] = []
        cursor = {"i": int(cmd.get("offset", 0))}
        started = time.perf_counter()
        deadline = started + duration
        cpu0 = time.process_time()

        async def worker() -> None:
            while True:
                if once:
                    if cursor["i"] >= len(devices):
                        return
                elif time.perf_counter() >= deadline:
                    return
                cpe = devices[cursor["i"] % len(devices)]
                cursor["i"] += 1
                results.append(await cpe.run_session(events))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
        report = summarize(results, wall, time.process_time() - cpu0)
        report["next_offset"] = cursor["i"] % len(devices)
        return report

    async def watch(self, cmd: dict[str, Any]) -> dict[str, Any]:
        want = int(cmd.get("want") or len(self.fleet.devices))
        w: dict[str, Any] = {
            "rpc": cmd.get("rpc", "SetParameterValues"),
            "want": want,
            "done": set(),
            "results": [],
            "event": asyncio.Event(),
        }
        self._watch = w
        self.fleet.options.auto_sessions = True
        started = time.time()
        cpu0 = time.process_time()
        print(json.dumps({"event": "watching", "at": started}), flush=True)
        timed_out = False
        try:
            await asyncio.wait_for(w["event"].wait(), float(cmd.get("timeout", 600)))
        except TimeoutError:
            timed_out = True
        # Let the sessions already running finish before counting.
        await asyncio.sleep(0.2)
        self._watch = None
        results: list[SessionResult] = w["results"]
        matching = [r for r in results if r.ok and w["rpc"] in r.rpcs]
        report = summarize(results, time.time() - started, time.process_time() - cpu0)
        report.update(
            devices_done=len(w["done"]),
            devices_wanted=want,
            timed_out=timed_out,
            first_start=min((r.started_at for r in matching), default=None),
            last_start=max((r.started_at for r in matching), default=None),
            last_end=max((r.started_at + r.duration for r in matching), default=None),
            cr_sessions=sum(1 for r in results if "6 CONNECTION REQUEST" in r.events),
        )
        return report

    async def serve(self) -> None:
        await self.setup()
        print(json.dumps({"event": "ready", "devices": len(self.fleet.devices)}), flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            cmd = json.loads(line)
            name = cmd.get("cmd")
            if name == "quit":
                break
            try:
                if name == "sessions":
                    out = await self.sessions(cmd)
                elif name == "watch":
                    out = await self.watch(cmd)
                else:
                    out = {"error": f"unknown command {name!r}"}
            except Exception as exc:  # report, do not die: the orchestrator decides
                logging.exception("loadgen command failed")
                out = {"error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps({"event": "result", **out}), flush=True)
        await self.fleet.close()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    config = json.loads(sys.argv[1])
    asyncio.run(LoadGen(config).serve())


if __name__ == "__main__":
    main()
