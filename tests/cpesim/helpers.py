"""Helpers shared by the simulator's tests."""

from __future__ import annotations

import asyncio
import functools


def async_test(func):
    """Run an `async def` test in a fresh event loop with a hard time limit."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        async def bounded():
            async with asyncio.timeout(15):
                return await func(*args, **kwargs)

        return asyncio.run(bounded())

    return wrapper
