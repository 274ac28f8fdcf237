"""What both stores share: the interface, the admission's limits, the nonce use, the load note."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from acsportal.infra.events import Event


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


NO_LIMITS = Admission()


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
        admission: Admission = NO_LIMITS,
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


class LoadNote:
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


def retry_seconds(left: float) -> int:
    """Seconds for a Retry-After: whole, and at least one."""
    return max(1, int(left + 0.999))
