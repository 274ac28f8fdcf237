# ruff: noqa: S603
"""The processes a run starts, each the leader of a session of its own.

Servers and nginx fork workers: a session per command lets ``Managed.stop``
signal the whole group and ``Managed.tree`` find every descendant, so their
CPU is counted and nothing outlives the run. ``base_env`` is what each one
starts from: the caller's environment without its database settings (a run
never touches the developer's databases), the bench secret, the project on
``PYTHONPATH``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench.common import ROOT, SECRET


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Managed:
    """A subprocess this run started (its own session, so its children go with it)."""

    name: str
    proc: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self, timeout: float = 10) -> None:
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def spawn(
    name: str, cmd: list[str], env: dict[str, str], work: Path, *, pipe: bool = False
) -> Managed:
    """Start a process in its own session; output to logs/<name>.log (stdout piped with `pipe`)."""
    log_path = work / "logs" / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sink = log_path.open("ab")
    proc: subprocess.Popen[Any]  # text when piped, bytes otherwise
    if pipe:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=sink,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
    else:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    sink.close()
    return Managed(name, proc, log_path)


def base_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL"))}
    env.update(
        SECRET_KEY=SECRET,
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(ROOT),
        ACS_LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "INFO"),
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env
