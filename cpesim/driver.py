"""A living device's loop: when to start a session, and how long to back off after a failed one.

A device driven by hand (`run_session()`) never creates one, so idle
devices of a large fleet cost no task. The loop runs a session whenever
something is pending (events, TransferComplete…), adds `2 PERIODIC` when
the PeriodicInformInterval runs out (re-read as soon as the ACS changes
it), and retries failures with the back-off of TR-069 3.2.1.1.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from typing import Protocol

from .session import SessionResult
from .tree import DeviceTree


class LivingDevice(Protocol):
    """What the loop needs from its device (a `SimulatedCPE` has it)."""

    def has_work(self) -> bool: ...

    def add_event(self, code: str, command_key: str = "") -> None: ...

    def periodic_wait(self) -> float | None: ...

    def retry_wait(self, failures: int, retry_after: float | None = None) -> float: ...

    async def run_session(self, events: Iterable[str] | None = None) -> SessionResult: ...


def periodic_wait(tree: DeviceTree, jitter: float) -> float | None:
    """Seconds to the next periodic inform per ManagementServer.PeriodicInform*, None when off."""
    ms = tree.root + "ManagementServer."
    if tree.get_or(ms + "PeriodicInformEnable", "true").lower() not in ("1", "true"):
        return None
    try:
        interval = float(tree.get_or(ms + "PeriodicInformInterval", "3600"))
    except ValueError:
        interval = 3600.0
    return max(interval, 0.0) + (random.uniform(0, jitter) if jitter else 0.0)


def retry_wait(
    failures: int,
    retry_after: float | None,
    *,
    min_wait: float,
    multiplier: float,
    max_wait: float,
) -> float:
    """Seconds before retry number `failures` (TR-069 3.2.1.1), or the ACS's Retry-After."""
    if retry_after is not None:
        return min(retry_after, max_wait) + random.uniform(0, 1)
    k = min(failures, 10)
    low = min_wait * multiplier ** (k - 1)
    return min(random.uniform(low, low * multiplier), max_wait)


class Driver:
    """The loop of one device and what wakes it; it outlives its task (halt, then trigger)."""

    __slots__ = ("device", "periodic", "periodic_dirty", "task", "wake")

    def __init__(self, device: LivingDevice) -> None:
        self.device = device
        self.wake = asyncio.Event()
        self.task: asyncio.Task | None = None
        #: Periodic informs on (once switched on, a restarted loop keeps them).
        self.periodic = False
        #: The interval changed: the running loop computes the next inform time again.
        self.periodic_dirty = False

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self, *, periodic: bool) -> None:
        if periodic and not self.periodic:
            self.periodic = True
            self.periodic_dirty = True
            self.wake.set()
        if not self.running:
            self.task = asyncio.get_running_loop().create_task(self._drive())
        if self.device.has_work():
            self.wake.set()

    def reschedule(self) -> None:
        """PeriodicInformInterval or -Enable changed: the next inform time is due again."""
        self.periodic_dirty = True
        self.wake.set()

    def detach(self) -> asyncio.Task | None:
        """Forget the running loop (it stops at its next check) and return it to cancel or await."""
        task, self.task = self.task, None
        return task

    async def _drive(self) -> None:
        device = self.device
        loop = asyncio.get_running_loop()
        wake = self.wake
        failures = 0
        wait = device.periodic_wait() if self.periodic else None
        next_periodic = None if wait is None else loop.time() + wait
        self.periodic_dirty = False
        me = asyncio.current_task()
        # Checking `self.task is me` (not only relying on cancel()) matters: in
        # Python 3.11 asyncio.timeout() can swallow a cancel() that arrived just
        # before it expired.
        while self.task is me:
            if not device.has_work():
                timeout = None if next_periodic is None else max(next_periodic - loop.time(), 0)
                expired = timeout == 0
                if not expired:
                    try:
                        async with asyncio.timeout(timeout):
                            await wake.wait()
                    except TimeoutError:
                        expired = True
                if expired:
                    device.add_event("2 PERIODIC")
                    wait = device.periodic_wait()
                    next_periodic = None if wait is None else loop.time() + wait
            if self.task is not me:
                return
            wake.clear()
            if self.periodic and self.periodic_dirty:
                self.periodic_dirty = False
                wait = device.periodic_wait()
                next_periodic = None if wait is None else loop.time() + wait
            if not device.has_work():
                continue
            result = await device.run_session()
            if result.ok:
                failures = 0
                continue
            failures += 1
            delay = device.retry_wait(failures, result.retry_after)
            await asyncio.sleep(delay)  # back-off; stop() and halt() cancel it
