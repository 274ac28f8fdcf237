# ruff: noqa: S603
"""``--profile``: where the server's Python time goes, sampled by py-spy beside the figures.

Sampled from outside like the CPU (nothing changes in the server), and
summarised into inclusive and self shares so that the JSON names the
functions to look at without opening the raw profile.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench.common import BIN, log
from bench.servers import Server


def _frame_key(frame: str) -> str:
    """``func (path/file.py:12)`` -> ``func (path/file.py)``."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def profile_summary(path: Path, top: int = 30) -> dict[str, Any]:
    """Inclusive and self shares of the functions in a py-spy ``raw`` (collapsed) profile.

    Shares are of the samples that hold Python frames (threads running
    Python, or waiting inside a C call from it); samples with no Python
    frame at all (the server's native threads) are counted apart.
    """
    inclusive: dict[str, int] = {}
    self_: dict[str, int] = {}
    python = native = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            native += n
            continue
        python += n
        for key in {_frame_key(f) for f in frames}:
            inclusive[key] = inclusive.get(key, 0) + n
        leaf = _frame_key(frames[-1])
        self_[leaf] = self_.get(leaf, 0) + n

    def share(d: dict[str, int]) -> list[list[Any]]:
        ranked = sorted(d.items(), key=lambda kv: -kv[1])[:top]
        return [[k, round(100 * v / python, 1)] for k, v in ranked] if python else []

    return {
        "python_samples": python,
        "native_samples": native,
        "inclusive_pct": share(inclusive),
        "self_pct": share(self_),
    }


def start_profiler(server: Server, seconds: float, out: Path) -> subprocess.Popen | None:
    """py-spy on the whole server tree, collapsed stacks.

    Non-blocking sampling at 100 Hz of the threads holding the GIL only, so
    the shares are of Python CPU time (waits on sockets, locks and the
    database are left out; C code that keeps the GIL, like lxml, is in).
    """
    pyspy = BIN / "py-spy"
    if not pyspy.exists():
        pyspy = Path(shutil.which("py-spy") or "")
    if not pyspy.name:
        log("py-spy not installed: no profile")
        return None
    return subprocess.Popen(
        [
            str(pyspy),
            "record",
            "--pid",
            str(server.managed.pid),
            "--subprocesses",
            "--nonblocking",
            "--gil",
            "--rate",
            "100",
            "--format",
            "raw",
            "--duration",
            str(max(int(seconds), 1)),
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
