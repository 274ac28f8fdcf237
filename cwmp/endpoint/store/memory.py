"""The store of one server process: dicts under a lock (no ``REDIS_URL``)."""

from __future__ import annotations

import json
import threading
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
from cwmp.protocol.digest import MemoryNonceTracker


class MemorySessionStore(LoadNote):
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
        return retry_seconds(retry) if retry else 0

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
        admission: Admission = NO_LIMITS,
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
                    return "new-devices", str(retry_seconds(left))
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
        return retry_seconds(retry) if retry else 0

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
