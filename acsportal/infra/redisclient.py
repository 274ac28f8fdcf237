"""Redis for the CWMP hot path: one connection per thread, commands sent straight on it.

The session store and the event bus talk to Redis five times in every CWMP
session. Through a redis-py client a command cost about 45 us of CPU on the
benchmark machine with the shared pool, 22-30 us on a connection of the
thread's own, and 16 us sent straight on redis-py's ``Connection`` (its
packer and hiredis parser, without the client's pool, retry and argument
wrappers): over a session that is most of the difference between Redis
costing 0.9 ms and 0.25 ms. Server threads are few and long lived
(granian's blocking threads, daphne's executor), so a connection per thread
is a handful per process. A fork (servers that fork workers after import)
starts afresh: the process id is part of the key.
"""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any

_local = threading.local()


def _clients() -> dict[str, Any]:
    clients = getattr(_local, "clients", None)
    pid = os.getpid()
    if clients is None or getattr(_local, "pid", None) != pid:
        clients = _local.clients = {}
        _local.pid = pid
    return clients


def get_redis(url: str) -> Any:
    """This thread's redis-py client for ``url`` (strings decoded), built on first use."""
    clients = _clients()
    client = clients.get(url)
    if client is None:
        import redis

        client = redis.Redis.from_url(url, decode_responses=True, single_connection_client=True)
        clients[url] = client
    return client


class Connection:
    """This thread's connection to one Redis: ``execute`` and ``evalsha`` only.

    A command that meets a broken connection is sent once more on a new one;
    the CWMP store's commands are all safe to repeat (its scripts re-enter).
    """

    def __init__(self, url: str) -> None:
        import redis

        self._pool = redis.ConnectionPool.from_url(url, decode_responses=True)
        self._conn: Any = None
        self._errors = (redis.ConnectionError, redis.TimeoutError, OSError)
        self._noscript = redis.exceptions.NoScriptError

    def execute(self, *args: Any) -> Any:
        for attempt in (1, 2):
            conn = self._conn
            if conn is None:
                conn = self._conn = self._pool.make_connection()
            try:
                conn.send_command(*args)
                return conn.read_response()
            except self._errors:
                conn.disconnect()
                self._conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def evalsha(self, script: Script, keys: list[Any], args: list[Any]) -> Any:
        try:
            return self.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except self._noscript:  # a restarted or flushed Redis forgot it
            self.execute("SCRIPT", "LOAD", script.source)
            return self.execute("EVALSHA", script.sha, len(keys), *keys, *args)


class Script:
    """A Lua script run by its SHA1, loaded on first use by any connection."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


def connection(url: str) -> Connection:
    """This thread's ``Connection`` to ``url``."""
    clients = _clients()
    key = "conn:" + url
    conn = clients.get(key)
    if conn is None:
        conn = clients[key] = Connection(url)
    return conn
