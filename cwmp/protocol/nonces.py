"""Digest nonce replay protection (RFC 7616 sections 5.5 and 5.9): the rule, in process.

The rule: a nonce's first use is recorded with its binding (what the shell
chose: session and connection on the CWMP endpoint, client address on the
file server); a later use must raise ``nc``, or come from that first
binding. Some CPEs resend their first nonce with ``nc=00000001`` on every
request of one session. :class:`MemoryNonceTracker` is its one in-process
implementation; the session store's Redis scripts carry the same rule in
Lua (``cwmp.endpoint.store``).
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol


class NonceTracker(Protocol):
    """Replay protection store shared by the workers (RFC 7616 §5.5 / §5.9)."""

    def seen(self, nonce: str, nc: int, binding: str) -> bool:
        """Record use of ``(nonce, nc)`` by ``binding``; return False on a replay.

        ``nc`` must grow for a nonce.  A repeated or lower ``nc`` is accepted
        only from the binding (session + connection key chosen by the view)
        that first used the nonce: some CPEs resend the first nonce with
        ``nc=00000001`` on every request of one CWMP session.
        """
        ...


class MemoryNonceTracker:
    """In-process :class:`NonceTracker`: dict + lock, TTL expiry, bounded size.

    Entries live ``ttl`` seconds after first use, which is at least as long as
    the nonce itself stays valid (its age is checked before the tracker), so an
    expired entry can never re-admit a replay.  When ``max_entries`` is reached,
    expired entries are purged and then the oldest are evicted; only clients
    that already proved knowledge of the password reach the tracker, so this
    cannot be used by strangers to flush the store.
    """

    def __init__(
        self,
        ttl: float = 300.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl <= 0 or max_entries <= 0:
            raise ValueError("ttl and max_entries must be positive")
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        # nonce -> (first binding, highest nc, expiry); insertion order = age.
        self._entries: OrderedDict[str, tuple[str, int, float]] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            self._purge(self._clock())
            return len(self._entries)

    def _purge(self, now: float) -> None:
        # Entries are inserted in expiry order (constant ttl), so stop at the first live one.
        while self._entries:
            nonce, (_, _, expires) = next(iter(self._entries.items()))
            if expires > now:
                break
            del self._entries[nonce]

    def seen(self, nonce: str, nc: int, binding: str) -> bool:
        now = self._clock()
        with self._lock:
            self._purge(now)
            entry = self._entries.get(nonce)
            if entry is None:
                while len(self._entries) >= self._max:
                    self._entries.popitem(last=False)
                self._entries[nonce] = (binding, nc, now + self._ttl)
                return True
            first_binding, highest, expires = entry
            if nc > highest:
                self._entries[nonce] = (first_binding, nc, expires)
                return True
            return hmac.compare_digest(first_binding.encode(), binding.encode())
