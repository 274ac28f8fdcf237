# ruff: noqa: S105
"""What every part of the orchestrator shares, so that no part imports another for it.

The bench tenant and its credentials are seeded by ``bench.ops``, sent by the
simulator and expected by the servers: one definition keeps them in step.
Every subprocess starts from ``ROOT`` with this interpreter. Issue 5's targets
are printed beside the measurements, never asserted. ``SERVER_ENV`` is filled
once from ``--env`` and read whenever a server or job worker starts; it is
mutated in place, never rebound, so every importer sees the same dict.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
TENANT = "bench"
USERNAME = "cpe"
PASSWORD = "bench-password"
CR_USERNAME = "acs"
CR_PASSWORD = "bench-cr-password"
# What the tenant ``bench`` accepts and its devices' connection-request login:
# every ops step and simulator fleet takes the same four.
CREDENTIALS = {
    "username": USERNAME,
    "password": PASSWORD,
    "cr_username": CR_USERNAME,
    "cr_password": CR_PASSWORD,
}
SECRET = "bench-secret-key-not-for-production-0123456789abcdefghij"


# --env KEY=VALUE: extra environment of the servers and job workers (experiments).
SERVER_ENV: dict[str, str] = {}

# Issue 5's targets, printed beside the measurements (never asserted).
TARGETS = {
    "cpu_ms_per_session": 4.5,  # server + database, PostgreSQL, durable, with auth
    "sessions_per_s": 280,  # this machine, load generator beside it
    "queries_per_session": 6,
    "genieacs_cpu_ms_per_session": "4.6-6 (in-memory DB), 3-4 ms of its own CPU",
    "floor_granian_wsgi_cpu_ms": "0.9-1.2",
    "floor_daphne_cpu_ms": "5-8",
    "cluster_ratio_2w_1w": 1.6,  # throughput, 2 web workers / 1, through nginx
    "overload_p99_ms": 2000,  # accepted sessions at twice the capacity
    "overload_errors": 0,  # every session completes or gets 503 + Retry-After
    "simulator_rss_mb_10000_devices": 1024,
}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
