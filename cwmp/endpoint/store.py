"""Where CWMP session state lives between the HTTP requests of one session.

Every HTTP request of a session may reach a different worker process (no
sticky sessions), so state, the per-device lock, the admission count and the
Digest nonce counts live in a store every process shares: Redis when
``REDIS_URL`` is set, else process memory (the embedded single-process
default). Both implement the same small interface; the Redis one does each
compound step in one Lua script so two workers can never both win a race.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from acsportal.infra import events
from acsportal.infra.events import Event
from cwmp.protocol.digest import MemoryNonceTracker


@dataclass(slots=True, frozen=True)
class NonceUse:
    """A Digest nonce use to check for replay (``seen``) as part of ``begin``."""

    nonce: str
    nc: int
    binding: str


class DeferredNonceCheck:
    """A nonce tracker for ``DigestAuthority.verify`` that checks nothing yet.

    It records the use so the caller can check it in the same store round
    trip that opens the session (``begin(..., nonce=...)``). A caller that
    uses it must pass ``use`` to ``begin`` and refuse on ``"replay"``.
    """

    __slots__ = ("use",)

    def __init__(self) -> None:
        self.use: NonceUse | None = None

    def seen(self, nonce: str, nc: int, binding: str) -> bool:
        self.use = NonceUse(nonce, nc, binding)
        return True


class SessionStore(Protocol):
    def load(self, sid: str) -> dict[str, Any] | None: ...
    def load_for_connection(self, conn: str) -> dict[str, Any] | None: ...
    def save(
        self,
        sid: str,
        state: dict[str, Any],
        ttl: int,
        conn: str = "",
        event: Event | None = None,
    ) -> None: ...
    def begin(
        self, sid: str, device: str, limit: int, ttl: int, nonce: NonceUse | None = None
    ) -> tuple[str, str | None]: ...
    def finish(self, sid: str, device: str, conn: str, event: Event | None = None) -> None: ...
    def delete(self, sid: str) -> None: ...
    def bind_connection(self, conn: str, sid: str, ttl: int) -> None: ...
    def session_for_connection(self, conn: str) -> str | None: ...
    def unbind_connection(self, conn: str, sid: str) -> None: ...
    def lock_device(self, device: str, sid: str, ttl: int) -> str | None: ...
    def steal_device(self, device: str, old_sid: str, sid: str, ttl: int) -> bool: ...
    def unlock_device(self, device: str, sid: str) -> None: ...
    def admit(self, sid: str, limit: int, ttl: int) -> bool: ...
    def leave(self, sid: str) -> None: ...
    def active_sessions(self) -> int: ...
    def take_expired(self, limit: int = 1000) -> list[str]: ...
    def recent_load(self, max_age: float = 1.0) -> int | None: ...
    def seen(self, nonce: str, nc: int, binding: str) -> bool: ...


class _LoadNote:
    """The open-session count this process last saw, for refusing early under overload.

    ``begin`` learns the count in its own round trip; the view asks
    ``recent_load`` before spending anything on a new session (its 401
    challenge, its device query), so that refusing one costs next to nothing
    when the server is past ``CWMP_MAX_SESSIONS``. A stale note (no session
    began for a while) says nothing, and the next session that gets as far
    as ``begin`` refreshes it.
    """

    _load: tuple[int, float] = (0, 0.0)

    def _note_load(self, count: int) -> None:
        self._load = (count, time.monotonic())

    def recent_load(self, max_age: float = 1.0) -> int | None:
        count, when = self._load
        return count if time.monotonic() - when <= max_age else None


class MemorySessionStore(_LoadNote):
    """One process's store: dicts under a lock, entries expiring lazily."""

    def __init__(self, clock: Any = time.monotonic, nonce_ttl: int = 600) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._nonce_ttl = nonce_ttl
        self._data: dict[str, tuple[float, Any]] = {}
        # The replay rule's one in-process implementation (cwmp.protocol.digest).
        self._nonces = MemoryNonceTracker(ttl=nonce_ttl, clock=clock)
        self._active: dict[str, float] = {}
        self._last_sweep = 0.0

    def _get(self, key: str) -> Any:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[0] < self._clock():
            del self._data[key]
            return None
        return entry[1]

    def _put(self, key: str, value: Any, ttl: int) -> None:
        now = self._clock()
        self._data[key] = (now + ttl, value)
        if now - self._last_sweep > 60:
            self._last_sweep = now
            for k in [k for k, (exp, _) in self._data.items() if exp < now]:
                del self._data[k]

    def load(self, sid: str) -> dict[str, Any] | None:
        with self._lock:
            raw = self._get(f"s:{sid}")
        return json.loads(raw) if raw else None

    def load_for_connection(self, conn: str) -> dict[str, Any] | None:
        with self._lock:
            sid = self._get(f"c:{conn}")
            raw = self._get(f"s:{sid}") if sid else None
        return json.loads(raw) if raw else None

    def save(
        self,
        sid: str,
        state: dict[str, Any],
        ttl: int,
        conn: str = "",
        event: Event | None = None,
    ) -> None:
        # Stored serialized, as in Redis, so no caller can mutate shared state.
        raw = json.dumps(state, separators=(",", ":"))
        with self._lock:
            self._put(f"s:{sid}", raw, ttl)
            if conn:
                self._put(f"c:{conn}", sid, ttl)
            if sid in self._active:
                self._active[sid] = self._clock() + ttl
        events.publish(event)

    def begin(
        self, sid: str, device: str, limit: int, ttl: int, nonce: NonceUse | None = None
    ) -> tuple[str, str | None]:
        if nonce is not None and not self.seen(nonce.nonce, nonce.nc, nonce.binding):
            return "replay", None
        with self._lock:
            now = self._clock()
            live = self._live(now)
            self._note_load(live)
            if sid not in self._active and live >= limit:
                return "busy", None
            holder = self._get(f"d:{device}")
            if holder is not None and holder != sid:
                return "locked", holder
            self._put(f"d:{device}", sid, ttl)
            self._active[sid] = now + ttl
            self._note_load(live + 1)
            return "ok", None

    def finish(self, sid: str, device: str, conn: str, event: Event | None = None) -> None:
        with self._lock:
            self._data.pop(f"s:{sid}", None)
            self._active.pop(sid, None)
            self._note_load(self._live(self._clock()))
            for key in (f"d:{device}", f"c:{conn}"):
                if self._get(key) == sid:
                    del self._data[key]
        events.publish(event)

    def delete(self, sid: str) -> None:
        with self._lock:
            self._data.pop(f"s:{sid}", None)

    def bind_connection(self, conn: str, sid: str, ttl: int) -> None:
        with self._lock:
            self._put(f"c:{conn}", sid, ttl)

    def session_for_connection(self, conn: str) -> str | None:
        with self._lock:
            return self._get(f"c:{conn}")

    def unbind_connection(self, conn: str, sid: str) -> None:
        with self._lock:
            if self._get(f"c:{conn}") == sid:
                del self._data[f"c:{conn}"]

    def lock_device(self, device: str, sid: str, ttl: int) -> str | None:
        with self._lock:
            holder = self._get(f"d:{device}")
            if holder is None or holder == sid:
                self._put(f"d:{device}", sid, ttl)
                return None
            return holder

    def steal_device(self, device: str, old_sid: str, sid: str, ttl: int) -> bool:
        with self._lock:
            holder = self._get(f"d:{device}")
            if holder not in (None, old_sid):
                return False
            self._put(f"d:{device}", sid, ttl)
            return True

    def unlock_device(self, device: str, sid: str) -> None:
        with self._lock:
            if self._get(f"d:{device}") == sid:
                del self._data[f"d:{device}"]

    def _live(self, now: float) -> int:
        return sum(1 for exp in self._active.values() if exp >= now)

    def admit(self, sid: str, limit: int, ttl: int) -> bool:
        with self._lock:
            now = self._clock()
            if sid not in self._active and self._live(now) >= limit:
                return False
            self._active[sid] = now + ttl
            return True

    def leave(self, sid: str) -> None:
        with self._lock:
            self._active.pop(sid, None)

    def active_sessions(self) -> int:
        with self._lock:
            return self._live(self._clock())

    def take_expired(self, limit: int = 1000) -> list[str]:
        with self._lock:
            now = self._clock()
            expired = [sid for sid, exp in self._active.items() if exp < now][:limit]
            for sid in expired:
                del self._active[sid]
            return expired

    def seen(self, nonce: str, nc: int, binding: str) -> bool:
        return self._nonces.seen(nonce, nc, binding)


# The Digest replay rule (RFC 7616 section 5.5, as MemoryNonceTracker has it in
# Python): a nonce's first use is recorded with its binding; a later use must
# raise nc, or come from that first binding (CPEs that resend their first
# nonce with nc=00000001 in one session). Sets the caller's local `fresh`;
# reads its locals key, nc, binding and ttl. Redis's Lua interns every string, so
# `==` compares two pointers: the binding is compared in constant time.
_NONCE_RULE = """
  local entry = redis.call('HMGET', key, 'nc', 'b')
  local count = tonumber(nc)
  fresh = true
  if not entry[1] then
    redis.call('HSET', key, 'nc', count, 'b', binding)
    redis.call('EXPIRE', key, ttl)
  elseif count > tonumber(entry[1]) then
    redis.call('HSET', key, 'nc', count)
  elseif entry[2] ~= binding then
    fresh = false
  end
"""
_LOCK_DEVICE = """
local holder = redis.call('GET', KEYS[1])
if (not holder) or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return false
end
return holder
"""
_STEAL_DEVICE = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""
_DELETE_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""
# Sessions whose entry expired stay in the set, uncounted, until housekeeping
# takes them (take_expired): they are the abandoned ones.
_ADMIT = """
local now = tonumber(ARGV[2])
if (not redis.call('ZSCORE', KEYS[1], ARGV[1])) and
   redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf') >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[1])
return 1
"""
# The nonce's replay check, admission and the device lock in one round trip
# (the start of every session). KEYS: active set, device lock, nonce.
# ARGV: sid, now, limit, ttl, nc ('' for no nonce), binding, nonce ttl.
_BEGIN = (
    """
if ARGV[5] ~= '' then
  local key, nc, binding, ttl = KEYS[3], ARGV[5], ARGV[6], ARGV[7]
  local fresh
"""
    + _NONCE_RULE
    + """
  if not fresh then return {'replay', false} end
end
local now = tonumber(ARGV[2])
local live = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
if (not redis.call('ZSCORE', KEYS[1], ARGV[1])) and live >= tonumber(ARGV[3]) then
  return {'busy', false, live}
end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then return {'locked', holder, live} end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[4])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[1])
return {'ok', false, live + 1}
"""
)
# Everything a session held, released in one round trip (its end), and its
# last event published; the sessions still open. ARGV: sid, event ('' for
# none), now, channels...
_FINISH = """
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
if redis.call('GET', KEYS[4]) == ARGV[1] then redis.call('DEL', KEYS[4]) end
if ARGV[2] ~= '' then
  for i = 4, #ARGV do redis.call('PUBLISH', ARGV[i], ARGV[2]) end
end
return redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[3], '+inf')
"""
_TAKE_EXPIRED = """
local sids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
if #sids > 0 then redis.call('ZREM', KEYS[1], unpack(sids)) end
return sids
"""
_LOAD_FOR_CONNECTION = """
local sid = redis.call('GET', KEYS[1])
if not sid then return false end
return redis.call('GET', ARGV[1] .. sid)
"""
# The state, the connection binding and the admission entry's lifetime, and
# the session's event. ARGV: state, ttl, sid, expiry, conn ('' for none),
# event ('' for none), channels...
_SAVE = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('ZADD', KEYS[2], 'XX', ARGV[4], ARGV[3])
if ARGV[5] ~= '' then redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[2]) end
if ARGV[6] ~= '' then
  for i = 7, #ARGV do redis.call('PUBLISH', ARGV[i], ARGV[6]) end
end
return 1
"""
_SEEN = (
    """
local key, nc, binding, ttl = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local fresh
"""
    + _NONCE_RULE
    + """
if fresh then return 1 end
return 0
"""
)


class RedisSessionStore(_LoadNote):
    """The shared store for several worker processes or machines."""

    def __init__(self, url: str, prefix: str = "acs:cwmp:", nonce_ttl: int = 600) -> None:
        from acsportal.infra.redisclient import Script

        self._url = url
        self._p = prefix
        self._nonce_ttl = nonce_ttl
        self._lock_device = Script(_LOCK_DEVICE)
        self._steal_device = Script(_STEAL_DEVICE)
        self._delete_if = Script(_DELETE_IF)
        self._admit = Script(_ADMIT)
        self._seen = Script(_SEEN)
        self._begin = Script(_BEGIN)
        self._finish = Script(_FINISH)
        self._load_for_connection = Script(_LOAD_FOR_CONNECTION)
        self._save = Script(_SAVE)
        self._take_expired = Script(_TAKE_EXPIRED)

    @property
    def _r(self) -> Any:
        """This thread's redis-py client, for the commands off the hot path."""
        from acsportal.infra.redisclient import get_redis

        return get_redis(self._url)

    def _eval(self, script: Any, keys: list[Any], args: list[Any]) -> Any:
        """Run a script on this thread's lean connection (acsportal.infra.redisclient)."""
        from acsportal.infra.redisclient import connection

        return connection(self._url).evalsha(script, keys, args)

    def load(self, sid: str) -> dict[str, Any] | None:
        from acsportal.infra.redisclient import connection

        raw = connection(self._url).execute("GET", f"{self._p}s:{sid}")
        return json.loads(raw) if raw else None

    def load_for_connection(self, conn: str) -> dict[str, Any] | None:
        # The session key is built from the sid inside the script; fine on a
        # single Redis, which is what the CWMP store runs on.
        raw = self._eval(
            self._load_for_connection, keys=[f"{self._p}c:{conn}"], args=[f"{self._p}s:"]
        )
        return json.loads(raw) if raw else None

    def _event_args(self, event: Event | None) -> list[str]:
        """Script arguments that publish ``event`` on the bus's channels, if that bus is ours."""
        if event is None:
            return [""]
        bus = events.get_bus()
        if isinstance(bus, events.RedisBus) and bus.url == self._url:
            return [event.encode(), *bus.channels(event.topics)]
        events.publish(event)  # another bus: publish it there
        return [""]

    def save(
        self,
        sid: str,
        state: dict[str, Any],
        ttl: int,
        conn: str = "",
        event: Event | None = None,
    ) -> None:
        self._eval(
            self._save,
            keys=[f"{self._p}s:{sid}", f"{self._p}active", f"{self._p}c:{conn}"],
            args=[
                json.dumps(state, separators=(",", ":")),
                ttl,
                sid,
                time.time() + ttl,
                conn,
                *self._event_args(event),
            ],
        )

    def begin(
        self, sid: str, device: str, limit: int, ttl: int, nonce: NonceUse | None = None
    ) -> tuple[str, str | None]:
        status, holder, *live = self._eval(
            self._begin,
            keys=[
                f"{self._p}active",
                f"{self._p}d:{device}",
                f"{self._p}n:{nonce.nonce if nonce else ''}",
            ],
            args=[
                sid,
                time.time(),
                limit,
                ttl,
                nonce.nc if nonce else "",
                nonce.binding if nonce else "",
                self._nonce_ttl,
            ],
        )
        if live:
            self._note_load(int(live[0]))
        return status, holder or None

    def finish(self, sid: str, device: str, conn: str, event: Event | None = None) -> None:
        payload, *channels = self._event_args(event)
        live = self._eval(
            self._finish,
            keys=[
                f"{self._p}s:{sid}",
                f"{self._p}active",
                f"{self._p}d:{device}",
                f"{self._p}c:{conn}",
            ],
            args=[sid, payload, time.time(), *channels],
        )
        self._note_load(int(live))

    def delete(self, sid: str) -> None:
        self._r.delete(f"{self._p}s:{sid}")

    def bind_connection(self, conn: str, sid: str, ttl: int) -> None:
        self._r.set(f"{self._p}c:{conn}", sid, ex=ttl)

    def session_for_connection(self, conn: str) -> str | None:
        sid = self._r.get(f"{self._p}c:{conn}")
        return sid if isinstance(sid, str) else None  # decode_responses=True

    def unbind_connection(self, conn: str, sid: str) -> None:
        self._eval(self._delete_if, keys=[f"{self._p}c:{conn}"], args=[sid])

    def lock_device(self, device: str, sid: str, ttl: int) -> str | None:
        holder = self._eval(self._lock_device, keys=[f"{self._p}d:{device}"], args=[sid, ttl])
        return holder or None

    def steal_device(self, device: str, old_sid: str, sid: str, ttl: int) -> bool:
        return bool(
            self._eval(self._steal_device, keys=[f"{self._p}d:{device}"], args=[old_sid, sid, ttl])
        )

    def unlock_device(self, device: str, sid: str) -> None:
        self._eval(self._delete_if, keys=[f"{self._p}d:{device}"], args=[sid])

    def admit(self, sid: str, limit: int, ttl: int) -> bool:
        return bool(
            self._eval(self._admit, keys=[f"{self._p}active"], args=[sid, time.time(), limit, ttl])
        )

    def leave(self, sid: str) -> None:
        self._r.zrem(f"{self._p}active", sid)

    def active_sessions(self) -> int:
        return int(self._r.zcount(f"{self._p}active", f"({time.time()}", "+inf"))

    def take_expired(self, limit: int = 1000) -> list[str]:
        found = self._eval(self._take_expired, keys=[f"{self._p}active"], args=[time.time(), limit])
        return list(found or [])

    def seen(self, nonce: str, nc: int, binding: str) -> bool:
        return bool(
            self._eval(
                self._seen, keys=[f"{self._p}n:{nonce}"], args=[nc, binding, self._nonce_ttl]
            )
        )


_store: SessionStore | None = None
_store_lock = threading.Lock()


def get_store() -> SessionStore:
    """The process-wide store chosen by settings (built once)."""
    global _store
    if _store is None:
        with _store_lock:
            if _store is None:
                from django.conf import settings

                ttl = max(settings.CWMP_NONCE_TTL * 2, 600)
                if settings.REDIS_URL:
                    _store = RedisSessionStore(settings.REDIS_URL, nonce_ttl=ttl)
                else:
                    _store = MemorySessionStore(nonce_ttl=ttl)
    return _store


def reset_store() -> None:
    """Forget the store (tests switch settings between cases)."""
    global _store
    _store = None
