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
* ``{"cmd": "open", "rate": R, "duration": D, "arrivals": "poisson"}`` —
  open loop: sessions start on a schedule (R per second for D seconds,
  Poisson or ``uniform`` arrivals, a fixed seed), whatever the answers take,
  each on the next device not already in a session; then waits for all of
  them. Answers the same figures plus the latency counted from each
  session's scheduled start, how late the schedule ran, and the sessions
  refused with 503 (and whether each carried Retry-After) apart from errors.
* ``{"cmd": "watch", "rpc": "SetParameterValues", "timeout": T}`` — devices
  living (connection requests start sessions by themselves): waits until
  every device completed a session in which the ACS sent ``rpc``; answers
  the epoch times of the first and last such session start and end.
* ``{"cmd": "memory"}`` — this process's resident memory now and at its peak
  (``VmRSS``, ``VmHWM``), the devices and the models they share.
* ``{"cmd": "quit"}``.

Config keys besides the fleet's: ``quirks`` (e.g. ``"no-cookies"``) and
``record_header`` (e.g. ``"x-upstream"``: the header is recorded per request
and every summary gains ``upstreams``: how many sessions had their requests
answered by two or more different servers).

Every device authenticates with HTTP Digest the way the simulator always
does: each session starts without credentials, takes the 401 challenge and
answers it, then counts its nonce on the following requests.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
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


def rss_mb() -> dict[str, float]:
    """Resident memory of this process now and at its peak (Linux /proc), MiB."""
    out = {"rss_mb": 0.0, "peak_rss_mb": 0.0}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    out["rss_mb"] = int(line.split()[1]) / 1024
                elif line.startswith("VmHWM:"):
                    out["peak_rss_mb"] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


RSS_AT_START = rss_mb()


def _ms(sorted_values: list[float]) -> dict[str, float]:
    return {
        "p50": _percentile(sorted_values, 0.50) * 1000,
        "p95": _percentile(sorted_values, 0.95) * 1000,
        "p99": _percentile(sorted_values, 0.99) * 1000,
        "max": sorted_values[-1] * 1000 if sorted_values else 0.0,
    }


def upstreams(results: list[SessionResult]) -> dict[str, Any] | None:
    """Which servers answered each session's requests (``record_header``), or None if not recorded."""
    recorded = [r for r in results if r.recorded_headers is not None]
    if not recorded:
        return None
    by_server: Counter[str] = Counter()
    spread: Counter[int] = Counter()
    multi_ok = multi_failed = missing = 0
    for r in recorded:
        values = r.recorded_headers or []
        missing += sum(1 for v in values if not v)
        distinct = {v for v in values if v}
        by_server.update(v for v in values if v)
        spread[len(distinct)] += 1
        if len(distinct) >= 2:
            if r.ok:
                multi_ok += 1
            else:
                multi_failed += 1
    ok = sum(1 for r in recorded if r.ok)
    return {
        "sessions": len(recorded),
        "sessions_on_2plus_servers": multi_ok + multi_failed,
        "sessions_on_2plus_servers_ok": multi_ok,
        "sessions_on_2plus_servers_failed": multi_failed,
        "share_on_2plus_servers": (multi_ok + multi_failed) / len(recorded),
        "share_of_ok_on_2plus_servers": multi_ok / ok if ok else 0.0,
        "sessions_by_distinct_servers": {str(k): v for k, v in sorted(spread.items())},
        "requests_by_server": dict(sorted(by_server.items())),
        "requests_without_header": missing,
    }


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
        **({"upstreams": up} if (up := upstreams(results)) is not None else {}),
    }


class LoadGen:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        cr_port = int(config.get("cr_port") or 0)
        extra: dict[str, Any] = {}
        if config.get("record_header"):
            extra["record_header"] = str(config["record_header"])
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
            quirks=config.get("quirks") or None,
            **extra,
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

    async def open_loop(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Sessions started on a schedule (open loop), not by a fixed number of workers.

        Arrival k is due at a time fixed in advance (Poisson with a fixed
        seed, or evenly spaced); a session starts then whatever the earlier
        ones are doing, on the next device not in a session (a device never
        queues behind itself). Latency counts from the scheduled time, so a
        simulator that falls behind shows as latency, not as a lower load.
        """
        devices = self.fleet.devices
        events = list(cmd.get("events") or ["2 PERIODIC"])
        rate = float(cmd["rate"])
        duration = float(cmd.get("duration", 10))
        poisson = cmd.get("arrivals", "poisson") == "poisson"
        rng = random.Random(int(cmd.get("seed", 5)))
        total = max(1, round(rate * duration))
        loop = asyncio.get_running_loop()
        busy: set[int] = set()
        cursor = int(cmd.get("offset", 0))
        done: list[tuple[SessionResult, float, float]] = []
        lags: list[float] = []
        tasks: list[asyncio.Task] = []
        no_device = 0

        async def one(index: int, due: float) -> None:
            try:
                result = await devices[index].run_session(events)
            finally:
                busy.discard(index)
            done.append((result, due, loop.time()))

        cpu0 = time.process_time()
        t0 = loop.time() + 0.05
        due = t0
        for k in range(total):
            due = due + rng.expovariate(rate) if poisson else t0 + k / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            lags.append(max(loop.time() - due, 0.0))
            for _ in range(len(devices)):
                index = cursor % len(devices)
                cursor += 1
                if index not in busy:
                    break
            else:
                no_device += 1
                continue
            busy.add(index)
            tasks.append(asyncio.create_task(one(index, due)))
        offered_s = max(loop.time() - t0, 1e-9)
        await asyncio.gather(*tasks)
        wall = loop.time() - t0
        results = [r for r, _, _ in done]
        report = summarize(results, offered_s, time.process_time() - cpu0)
        refused = [r for r, _, _ in done if not r.ok and 503 in r.statuses]
        errors = Counter(
            (r.error or "?")[:120] for r, _, _ in done if not r.ok and 503 not in r.statuses
        )
        report.update(
            rate_wanted=rate,
            arrivals="poisson" if poisson else "uniform",
            sessions_scheduled=total,
            sessions_started=len(tasks),
            no_idle_device=no_device,
            offered_per_s=len(tasks) / offered_s,
            accepted_per_s=report["sessions_ok"] / offered_s,
            drain_s=wall - offered_s,
            latency_from_schedule_ms=_ms(sorted(end - d for r, d, end in done if r.ok)),
            schedule_lag_ms=_ms(sorted(lags)),
            refused_503=len(refused),
            refused_with_retry_after=sum(1 for r in refused if r.retry_after is not None),
            retry_after_values=dict(Counter(str(r.retry_after) for r in refused)),
            refused_latency_ms=_ms(sorted(r.duration for r in refused)),
            errors_not_503=sum(errors.values()),
            error_kinds=dict(errors.most_common(5)),
            next_offset=cursor % len(devices),
        )
        return report

    def memory(self) -> dict[str, Any]:
        devices = self.fleet.devices
        models = {id(d.model) for d in devices}
        footprint = sum(d.footprint() for d in devices)
        return {
            **rss_mb(),
            "rss_at_start_mb": RSS_AT_START["rss_mb"],
            "devices": len(devices),
            "models": len(models),
            "dumps": sorted({d.model.name for d in devices}),
            "device_footprint_bytes": footprint / len(devices) if devices else 0.0,
        }

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
        ready = {"event": "ready", "devices": len(self.fleet.devices), **self.memory()}
        print(json.dumps(ready), flush=True)
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
                elif name == "open":
                    out = await self.open_loop(cmd)
                elif name == "memory":
                    out = self.memory()
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
