"""Where CWMP session state lives between the HTTP requests of one session.

Every HTTP request of a session may reach a different worker process (no
sticky sessions), so state, the per-device lock, the admission count and the
Digest nonce counts live in a store every process shares: Redis when
``REDIS_URL`` is set, else process memory (the embedded single-process
default). Both implement the same small interface; the Redis one does each
compound step in one Lua script so two workers can never both win a race.

What guards the CPE door between tenants is counted here too, inside the
round trips a session already makes (``begin``, ``save``, ``finish``), so a
periodic session pays nothing for it: each tenant's and each source
address's share of the open sessions, the rate at which a tenant gains
devices by first contact, and the failed authentications of a device
identity and of an address (``Admission``). Only failures cost a round trip
of their own (``auth_failed``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
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


#: The window of ``Admission.new_devices_per_minute``, in seconds.
NEW_DEVICE_WINDOW = 60


def shares(tenant: str, address: str) -> tuple[str, ...]:
    """The share keys a session of ``tenant`` from ``address`` is counted in (``Admission``)."""
    return (f"t:{tenant}", f"a:{address}")


@dataclass(slots=True, frozen=True)
class Admission:
    """What a new session is checked against besides ``CWMP_MAX_SESSIONS``, all in ``begin``.

    Every limit is off at 0.

    * ``tenant_limit``, ``address_limit``: the open sessions of one tenant,
      and of one source address, so that neither can take every session the
      server holds. (Counted per share key, ``shares``; ``save`` and
      ``finish`` keep those entries alive and release them.)
    * ``new_devices_per_minute``: set when the session would create a device
      (first contact): the tenant's creations in the current minute.
    * ``device_failures``, ``address_failures``: the failed authentications
      (``auth_failed``) after which ``begin``'s device identity, or the
      address, is refused even with the right credentials until its window
      ends; a session admitted clears the identity's count.
    """

    tenant: str = ""
    address: str = ""
    tenant_limit: int = 0
    address_limit: int = 0
    new_devices_per_minute: int = 0
    device_failures: int = 0
    address_failures: int = 0

    @property
    def shares(self) -> tuple[str, ...]:
        return shares(self.tenant, self.address)


_OPEN = Admission()


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
    """The store's interface; ``begin`` is the one admission step.

    ``begin`` answers ``(status, detail)``: ``ok``; ``replay`` (the nonce);
    ``backoff`` with the seconds left (too many failed authentications of
    the identity or the address); ``busy`` with ``None`` (the server's
    limit), ``"tenant"`` or ``"address"`` (that share is full); ``locked``
    with the session holding the device; ``new-devices`` with the seconds
    left (the tenant's rate of first contacts).
    """

    def load(self, sid: str) -> dict[str, Any] | None: ...
    def load_for_connection(self, conn: str) -> dict[str, Any] | None: ...
    def save(
        self,
        sid: str,
        state: dict[str, Any],
        ttl: int,
        conn: str = "",
        event: Event | None = None,
        shares: Sequence[str] = (),
    ) -> None: ...
    def begin(
        self,
        sid: str,
        device: str,
        limit: int,
        ttl: int,
        nonce: NonceUse | None = None,
        admission: Admission = _OPEN,
    ) -> tuple[str, str | None]: ...
    def finish(
        self,
        sid: str,
        device: str,
        conn: str,
        event: Event | None = None,
        shares: Sequence[str] = (),
    ) -> None: ...
    def auth_failed(
        self, device: str, address: str, *, window: int, device_limit: int, address_limit: int
    ) -> int: ...
    def auth_blocked(
        self, device: str, address: str, *, device_limit: int, address_limit: int
    ) -> int: ...
    def delete(self, sid: str) -> None: ...
    def bind_connection(self, conn: str, sid: str, ttl: int) -> None: ...
    def session_for_connection(self, conn: str) -> str | None: ...
    def unbind_connection(self, conn: str, sid: str) -> None: ...
    def lock_device(self, device: str, sid: str, ttl: int) -> str | None: ...
    def steal_device(self, device: str, old_sid: str, sid: str, ttl: int) -> bool: ...
    def unlock_device(self, device: str, sid: str) -> None: ...
    def admit(self, sid: str, limit: int, ttl: int) -> bool: ...
    def leave(self, sid: str, shares: Sequence[str] = ()) -> None: ...
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
        # Share key -> {sid: expiry}, as the global _active (Admission).
        self._shares: dict[str, dict[str, float]] = {}
        # Fixed-window counters: key -> [window end, count].
        self._counters: dict[str, list[float]] = {}
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
            for k in [k for k, (end, _) in self._counters.items() if end < now]:
                del self._counters[k]
            for k, members in list(self._shares.items()):
                for sid in [sid for sid, exp in members.items() if exp < now]:
                    del members[sid]
                if not members:
                    del self._shares[k]

    def _count(self, key: str) -> tuple[int, float]:
        """A counter's value and the seconds left in its window."""
        entry = self._counters.get(key)
        now = self._clock()
        if entry is None or entry[0] < now:
            return 0, 0.0
        return int(entry[1]), entry[0] - now

    def _incr(self, key: str, window: int) -> tuple[int, float]:
        now = self._clock()
        entry = self._counters.get(key)
        if entry is None or entry[0] < now:
            entry = self._counters[key] = [now + window, 0]
        entry[1] += 1
        return int(entry[1]), entry[0] - now

    def _share_full(self, key: str, sid: str, limit: int, now: float) -> bool:
        if limit <= 0:
            return False
        members = self._shares.get(key, {})
        live = sum(1 for exp in members.values() if exp >= now)
        return sid not in members and live >= limit

    def _blocked(self, device: str, address: str, device_limit: int, address_limit: int) -> int:
        retry = 0.0
        for key, limit in ((f"fd:{device}", device_limit), (f"fa:{address}", address_limit)):
            if limit > 0:
                count, left = self._count(key)
                if count >= limit:
                    retry = max(retry, left)
        return _seconds(retry) if retry else 0

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
        shares: Sequence[str] = (),
    ) -> None:
        # Stored serialized, as in Redis, so no caller can mutate shared state.
        raw = json.dumps(state, separators=(",", ":"))
        with self._lock:
            self._put(f"s:{sid}", raw, ttl)
            if conn:
                self._put(f"c:{conn}", sid, ttl)
            if sid in self._active:
                self._active[sid] = self._clock() + ttl
            for key in shares:
                members = self._shares.get(key)
                if members is not None and sid in members:
                    members[sid] = self._clock() + ttl
        events.publish(event)

    def begin(
        self,
        sid: str,
        device: str,
        limit: int,
        ttl: int,
        nonce: NonceUse | None = None,
        admission: Admission = _OPEN,
    ) -> tuple[str, str | None]:
        a = admission
        with self._lock:
            retry = self._blocked(device, a.address, a.device_failures, a.address_failures)
        if retry:
            return "backoff", str(retry)
        if nonce is not None and not self.seen(nonce.nonce, nonce.nc, nonce.binding):
            return "replay", None
        with self._lock:
            now = self._clock()
            live = self._live(now)
            self._note_load(live)
            if sid not in self._active and live >= limit:
                return "busy", None
            tenant_key, address_key = a.shares
            if self._share_full(tenant_key, sid, a.tenant_limit, now):
                return "busy", "tenant"
            if self._share_full(address_key, sid, a.address_limit, now):
                return "busy", "address"
            holder = self._get(f"d:{device}")
            if holder is not None and holder != sid:
                return "locked", holder
            if a.new_devices_per_minute > 0:
                count, left = self._count(f"nd:{a.tenant}")
                if count >= a.new_devices_per_minute:
                    return "new-devices", str(_seconds(left))
                self._incr(f"nd:{a.tenant}", NEW_DEVICE_WINDOW)
            self._put(f"d:{device}", sid, ttl)
            self._active[sid] = now + ttl
            for key, share_limit in ((tenant_key, a.tenant_limit), (address_key, a.address_limit)):
                if share_limit > 0:
                    self._shares.setdefault(key, {})[sid] = now + ttl
            if a.device_failures > 0:
                self._counters.pop(f"fd:{device}", None)
            self._note_load(live + 1)
            return "ok", None

    def finish(
        self,
        sid: str,
        device: str,
        conn: str,
        event: Event | None = None,
        shares: Sequence[str] = (),
    ) -> None:
        with self._lock:
            self._data.pop(f"s:{sid}", None)
            self._active.pop(sid, None)
            self._leave_shares(sid, shares)
            self._note_load(self._live(self._clock()))
            for key in (f"d:{device}", f"c:{conn}"):
                if self._get(key) == sid:
                    del self._data[key]
        events.publish(event)

    def _leave_shares(self, sid: str, shares: Sequence[str]) -> None:
        for key in shares:
            members = self._shares.get(key)
            if members is not None:
                members.pop(sid, None)

    def auth_failed(
        self, device: str, address: str, *, window: int, device_limit: int, address_limit: int
    ) -> int:
        retry = 0.0
        with self._lock:
            for key, limit in ((f"fd:{device}", device_limit), (f"fa:{address}", address_limit)):
                if limit > 0:
                    count, left = self._incr(key, window)
                    if count >= limit:
                        retry = max(retry, left)
        return _seconds(retry) if retry else 0

    def auth_blocked(
        self, device: str, address: str, *, device_limit: int, address_limit: int
    ) -> int:
        with self._lock:
            return self._blocked(device, address, device_limit, address_limit)

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

    def leave(self, sid: str, shares: Sequence[str] = ()) -> None:
        with self._lock:
            self._active.pop(sid, None)
            self._leave_shares(sid, shares)

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


def _seconds(left: float) -> int:
    """Seconds for a Retry-After: whole, and at least one."""
    return max(1, int(left + 0.999))


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
# (the start of every session), with everything Admission adds: the auth
# backoff first (a refused identity learns nothing else), then the server's
# limit, the tenant's and the address's shares, the lock, the tenant's rate
# of new devices; nothing is written unless all of them pass.
# KEYS: active set, device lock, nonce, tenant share, address share, the
# tenant's new-device counter, the identity's and the address's failures.
# ARGV: sid, now, limit, ttl, nc ('' for no nonce), binding, nonce ttl,
# tenant limit, address limit, new devices a minute, the two failure limits,
# the new-device window. A limit of 0 is off.
_BEGIN = (
    """
local now, ttl = tonumber(ARGV[2]), tonumber(ARGV[4])
local failures = {{KEYS[7], tonumber(ARGV[11])}, {KEYS[8], tonumber(ARGV[12])}}
for _, f in ipairs(failures) do
  if f[2] > 0 and tonumber(redis.call('GET', f[1]) or '0') >= f[2] then
    return {'backoff', redis.call('TTL', f[1])}
  end
end
if ARGV[5] ~= '' then
  local key, nc, binding, ttl = KEYS[3], ARGV[5], ARGV[6], ARGV[7]
  local fresh
"""
    + _NONCE_RULE
    + """
  if not fresh then return {'replay', false} end
end
local live = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
if (not redis.call('ZSCORE', KEYS[1], ARGV[1])) and live >= tonumber(ARGV[3]) then
  return {'busy', false, live}
end
local shares = {{KEYS[4], tonumber(ARGV[8]), 'tenant'}, {KEYS[5], tonumber(ARGV[9]), 'address'}}
for _, s in ipairs(shares) do
  if s[2] > 0 then
    redis.call('ZREMRANGEBYSCORE', s[1], '-inf', now)
    if (not redis.call('ZSCORE', s[1], ARGV[1])) and redis.call('ZCARD', s[1]) >= s[2] then
      return {'busy', s[3], live}
    end
  end
end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then return {'locked', holder, live} end
local rate = tonumber(ARGV[10])
if rate > 0 then
  if tonumber(redis.call('GET', KEYS[6]) or '0') >= rate then
    return {'new-devices', redis.call('TTL', KEYS[6]), live}
  end
  if redis.call('INCR', KEYS[6]) == 1 then redis.call('EXPIRE', KEYS[6], ARGV[13]) end
end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ttl)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
for _, s in ipairs(shares) do
  if s[2] > 0 then
    redis.call('ZADD', s[1], now + ttl, ARGV[1])
    if redis.call('TTL', s[1]) < ttl then redis.call('EXPIRE', s[1], ttl) end
  end
end
if failures[1][2] > 0 then redis.call('DEL', KEYS[7]) end
return {'ok', false, live + 1}
"""
)
# Everything a session held, released in one round trip (its end), and its
# last event published; the sessions still open. KEYS: state, active set,
# device lock, connection, share keys... ARGV: sid, event ('' for none), now,
# channels...
_FINISH = """
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
if redis.call('GET', KEYS[4]) == ARGV[1] then redis.call('DEL', KEYS[4]) end
for i = 5, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
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
# The state, the connection binding and the admission entries' lifetime (the
# server's set and the shares the session is in), and the session's event.
# KEYS: state, active set, connection, share keys... ARGV: state, ttl, sid,
# expiry, conn ('' for none), event ('' for none), channels...
_SAVE = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('ZADD', KEYS[2], 'XX', ARGV[4], ARGV[3])
if ARGV[5] ~= '' then redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[2]) end
local ttl = tonumber(ARGV[2])
for i = 4, #KEYS do
  if redis.call('ZADD', KEYS[i], 'XX', 'CH', ARGV[4], ARGV[3]) > 0 and
     redis.call('TTL', KEYS[i]) < ttl then
    redis.call('EXPIRE', KEYS[i], ttl)
  end
end
if ARGV[6] ~= '' then
  for i = 7, #ARGV do redis.call('PUBLISH', ARGV[i], ARGV[6]) end
end
return 1
"""
# A failed authentication: count it for the identity and the address, each in
# a fixed window from its first failure; the seconds left in the longer
# window of a count that reached its limit (0: neither did). KEYS: identity,
# address. ARGV: window, identity limit, address limit (0: not counted).
_AUTH_FAILED = """
local retry = 0
for i = 1, 2 do
  local limit = tonumber(ARGV[i + 1])
  if limit > 0 then
    local count = redis.call('INCR', KEYS[i])
    if count == 1 then redis.call('EXPIRE', KEYS[i], ARGV[1]) end
    if count >= limit then retry = math.max(retry, redis.call('TTL', KEYS[i])) end
  end
end
return retry
"""
_AUTH_BLOCKED = """
local retry = 0
for i = 1, 2 do
  local limit = tonumber(ARGV[i])
  if limit > 0 and tonumber(redis.call('GET', KEYS[i]) or '0') >= limit then
    retry = math.max(retry, redis.call('TTL', KEYS[i]))
  end
end
return retry
"""
_LEAVE = """
for i = 1, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
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
        self._auth_failed = Script(_AUTH_FAILED)
        self._auth_blocked = Script(_AUTH_BLOCKED)
        self._leave = Script(_LEAVE)

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
        shares: Sequence[str] = (),
    ) -> None:
        self._eval(
            self._save,
            keys=[
                f"{self._p}s:{sid}",
                f"{self._p}active",
                f"{self._p}c:{conn}",
                *(self._p + key for key in shares),
            ],
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
        self,
        sid: str,
        device: str,
        limit: int,
        ttl: int,
        nonce: NonceUse | None = None,
        admission: Admission = _OPEN,
    ) -> tuple[str, str | None]:
        a = admission
        tenant_key, address_key = a.shares
        status, detail, *live = self._eval(
            self._begin,
            keys=[
                f"{self._p}active",
                f"{self._p}d:{device}",
                f"{self._p}n:{nonce.nonce if nonce else ''}",
                self._p + tenant_key,
                self._p + address_key,
                f"{self._p}nd:{a.tenant}",
                f"{self._p}fd:{device}",
                f"{self._p}fa:{a.address}",
            ],
            args=[
                sid,
                time.time(),
                limit,
                ttl,
                nonce.nc if nonce else "",
                nonce.binding if nonce else "",
                self._nonce_ttl,
                a.tenant_limit,
                a.address_limit,
                a.new_devices_per_minute,
                a.device_failures,
                a.address_failures,
                NEW_DEVICE_WINDOW,
            ],
        )
        if live:
            self._note_load(int(live[0]))
        if status in ("backoff", "new-devices"):
            return status, str(_seconds(int(detail)))
        return status, detail or None

    def finish(
        self,
        sid: str,
        device: str,
        conn: str,
        event: Event | None = None,
        shares: Sequence[str] = (),
    ) -> None:
        payload, *channels = self._event_args(event)
        live = self._eval(
            self._finish,
            keys=[
                f"{self._p}s:{sid}",
                f"{self._p}active",
                f"{self._p}d:{device}",
                f"{self._p}c:{conn}",
                *(self._p + key for key in shares),
            ],
            args=[sid, payload, time.time(), *channels],
        )
        self._note_load(int(live))

    def auth_failed(
        self, device: str, address: str, *, window: int, device_limit: int, address_limit: int
    ) -> int:
        retry = self._eval(
            self._auth_failed,
            keys=[f"{self._p}fd:{device}", f"{self._p}fa:{address}"],
            args=[max(1, window), device_limit, address_limit],
        )
        return _seconds(int(retry)) if retry else 0

    def auth_blocked(
        self, device: str, address: str, *, device_limit: int, address_limit: int
    ) -> int:
        retry = self._eval(
            self._auth_blocked,
            keys=[f"{self._p}fd:{device}", f"{self._p}fa:{address}"],
            args=[device_limit, address_limit],
        )
        return _seconds(int(retry)) if retry else 0

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

    def leave(self, sid: str, shares: Sequence[str] = ()) -> None:
        keys = [f"{self._p}active", *(self._p + key for key in shares)]
        self._eval(self._leave, keys=keys, args=[sid])

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
