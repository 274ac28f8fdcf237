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

import threading

from cwmp.endpoint.store.base import (
    NEW_DEVICE_WINDOW,
    Admission,
    DeferredNonceCheck,
    NonceUse,
    SessionStore,
    shares,
)
from cwmp.endpoint.store.memory import MemorySessionStore
from cwmp.endpoint.store.redis import RedisSessionStore

__all__ = [
    "NEW_DEVICE_WINDOW",
    "Admission",
    "DeferredNonceCheck",
    "MemorySessionStore",
    "NonceUse",
    "RedisSessionStore",
    "SessionStore",
    "get_store",
    "reset_store",
    "shares",
]

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
