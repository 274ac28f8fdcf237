"""What more than one scenario needs: the stacks to serve on, and a measured closed-loop phase.

The stack rules are kept in one place so that the floor (whose stacks
``bench.run`` collects) and the ACS run on the same ones; ``closed_phase`` so
that the cluster rows and the overload capacity are measured alike.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.backends import Backend
from bench.cli import Options
from bench.cpu import Meter, PgWatch, redis_pids
from bench.loadgen_client import LoadGen
from bench.probe import probe_delta, read_probe
from bench.processes import Managed
from bench.servers import StackSpec


def deployment_stack(opts: Options, backend: Backend) -> StackSpec:
    """What a deployment serves CPEs with: granian WSGI (one process where the store is in memory)."""
    workers = opts.wsgi_workers if backend.multi_process else 1
    return StackSpec("granian", workers, opts.wsgi_threads)


def wsgi_stack(opts: Options, backend: Backend | None) -> list[StackSpec]:
    """The stacks for this backend: one process only where the session store is in memory."""
    out = []
    for s in opts.stacks:
        if s.name != "daphne" and backend is not None and not backend.multi_process:
            out.append(StackSpec(s.name, 1, s.threads))
        else:
            out.append(s)
    return out


def closed_phase(
    lg: LoadGen,
    backend: Backend,
    groups: dict[str, list[Managed]],
    pg: PgWatch | None,
    probe_dirs: list[Path],
    *,
    concurrency: int,
    warmup: float,
    duration: float,
    offset: int = 0,
) -> dict[str, Any]:
    """Warm up, then `concurrency` sessions back to back for `duration` s, measured."""
    warm = lg.call(
        {"cmd": "sessions", "concurrency": concurrency, "duration": warmup, "offset": offset}
    )
    time.sleep(0.3)
    p0 = [read_probe(d) for d in probe_dirs]
    meter = Meter(groups, pg=pg, redis=redis_pids() if backend.redis_url else None)
    meter.start()
    res = lg.call(
        {
            "cmd": "sessions",
            "concurrency": concurrency,
            "duration": duration,
            "offset": warm["next_offset"],
        }
    )
    cpu = meter.stop()
    time.sleep(0.3)
    probes = [probe_delta(a, read_probe(d)) for a, d in zip(p0, probe_dirs, strict=True)]
    return {
        "res": res,
        "cpu": cpu,
        "probes": probes,
        "rss_mb": {name: meter.rss_mb(name) for name in groups},
        "warmup_sessions": warm["sessions_ok"],
    }
