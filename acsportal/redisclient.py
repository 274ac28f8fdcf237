"""A synchronous Redis client per thread, shared by the CWMP path's users.

The session store and the event bus talk to Redis several times in every
CWMP session. Through redis-py's shared connection pool a command cost
about 45 us of CPU on the benchmark machine; on a connection of the
thread's own (no pool lock, no checkout and return) about 22 us, and the
hot path sends eight of them per session. Server threads are few and long
lived (granian's blocking threads, daphne's executor), so a connection per
thread is a handful of connections per process. A fork (servers that fork
workers after import) gets fresh clients: the process id is part of the key.
"""

from __future__ import annotations

import os
import threading
from typing import Any

_local = threading.local()


def get_redis(url: str) -> Any:
    """This thread's client for ``url`` (strings decoded), built on first use."""
    clients = getattr(_local, "clients", None)
    pid = os.getpid()
    if clients is None or getattr(_local, "pid", None) != pid:
        clients = _local.clients = {}
        _local.pid = pid
    client = clients.get(url)
    if client is None:
        import redis

        client = redis.Redis.from_url(url, decode_responses=True, single_connection_client=True)
        clients[url] = client
    return client
