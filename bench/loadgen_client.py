"""The orchestrator's end of the pipe to the load generator (``bench.loadgen``).

The simulator runs in a process of its own so that its CPU is measured apart
and it never competes for the orchestrator's GIL; each command is one JSON
line out and one JSON line back.
"""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path
from typing import Any

from bench.common import CREDENTIALS, PYTHON
from bench.processes import base_env, spawn
from bench.servers import Cluster, Server


class LoadGen:
    """The simulator process (``bench.loadgen``), one JSON line per command."""

    def __init__(self, work: Path, tag: str, config: dict[str, Any]) -> None:
        env = base_env(work)
        self.managed = spawn(
            f"loadgen-{tag}",
            [PYTHON, "-m", "bench.loadgen", json.dumps(config)],
            env,
            work,
            pipe=True,
        )
        ready = self.read(timeout=300)
        if ready.get("event") != "ready":
            raise RuntimeError(f"loadgen did not start: {ready}\n{self.managed.tail()}")

    def read(self, timeout: float = 900) -> dict[str, Any]:
        stdout = self.managed.proc.stdout
        assert stdout is not None
        result: dict[str, Any] = {}

        def reader() -> None:
            line = stdout.readline()
            if line:
                result.update(json.loads(line))

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        t.join(timeout)
        if not result:
            raise RuntimeError(f"loadgen gave no answer:\n{self.managed.tail()}")
        return result

    def send(self, cmd: dict[str, Any]) -> None:
        proc = self.managed.proc
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(cmd) + "\n")
        proc.stdin.flush()

    def call(self, cmd: dict[str, Any], timeout: float = 900) -> dict[str, Any]:
        self.send(cmd)
        out = self.read(timeout)
        if "error" in out:
            raise RuntimeError(f"loadgen: {out['error']}")
        return out

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send({"cmd": "quit"})
            self.managed.proc.wait(10)
        self.managed.stop()


def loadgen_config(
    server: Server | Cluster, dump: str, count: int, prefix: str, **extra: Any
) -> dict[str, Any]:
    return {
        "acs_url": server.acs_url(),
        **CREDENTIALS,
        "dumps": [dump],
        "count": count,
        "serial_prefix": prefix,
        **extra,
    }
