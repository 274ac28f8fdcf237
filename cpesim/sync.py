"""Synchronous access for plain (non-async) pytest tests.

End-to-end tests are ordinary functions that call the real server over HTTP
and block. Devices must keep living meanwhile (a connection request from the
server has to be answered while the test thread waits), so `BackgroundLoop`
runs an asyncio loop in a daemon thread and the test hands it coroutines.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to completion in a fresh loop (for one-shot use)."""
    return asyncio.run(coro)


class BackgroundLoop:
    """An event loop in a daemon thread; `run()` a coroutine in it and block for the result.

    Everything touching a device (including `cpe.set()`) must happen in this
    loop: use `bg.run(coro)` or `bg.call(func, *args)`.
    """

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> BackgroundLoop:
        if self.loop is not None:
            return self
        ready = threading.Event()
        loop = asyncio.new_event_loop()

        def main() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=main, name="cpesim-loop", daemon=True)
        self._thread.start()
        ready.wait()
        self.loop = loop
        return self

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule a coroutine; returns a concurrent Future (e.g. to wait for a session later)."""
        if self.loop is None:
            self.start()
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 60.0) -> T:
        """Run a coroutine in the loop and wait for its result."""
        return self.submit(coro).result(timeout)

    def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call a plain function in the loop thread (device methods are not thread-safe)."""

        async def wrapper() -> T:
            return func(*args, **kwargs)

        return self.run(wrapper())

    def stop(self) -> None:
        """Cancel what still runs in the loop, then stop and close it."""
        loop = self.loop
        if loop is None:
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            assert self._thread is not None
            self._thread.join(10)
            loop.close()
            self.loop = None

    def __enter__(self) -> BackgroundLoop:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
