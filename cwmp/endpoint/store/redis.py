"""The store every worker process shares: Redis, each compound step one Lua script."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from acsportal.infra import events
from acsportal.infra.events import Event
from cwmp.endpoint.store.base import (
    NEW_DEVICE_WINDOW,
    NO_LIMITS,
    Admission,
    LoadNote,
    NonceUse,
    retry_seconds,
)

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
  -- Entries of sessions gone silent are dropped only when the set looks full:
  -- until then its size alone says there is room (one O(1) command).
  if s[2] > 0 and redis.call('ZCARD', s[1]) >= s[2] and not redis.call('ZSCORE', s[1], ARGV[1]) then
    redis.call('ZREMRANGEBYSCORE', s[1], '-inf', now)
    if redis.call('ZCARD', s[1]) >= s[2] then return {'busy', s[3], live} end
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


class RedisSessionStore(LoadNote):
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
        admission: Admission = NO_LIMITS,
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
            return status, str(retry_seconds(int(detail)))
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
        return retry_seconds(int(retry)) if retry else 0

    def auth_blocked(
        self, device: str, address: str, *, device_limit: int, address_limit: int
    ) -> int:
        retry = self._eval(
            self._auth_blocked,
            keys=[f"{self._p}fd:{device}", f"{self._p}fa:{address}"],
            args=[device_limit, address_limit],
        )
        return retry_seconds(int(retry)) if retry else 0

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
