"""Session events for live views: published by the CWMP path, read by subscribers.

Every step of a CWMP session is published on two topics, ``device.<pk>``
(the device page) and ``tenant.<id>`` (tenant-wide views), so an open page
can show the session as it happens. A live view (a Channels consumer, the
API's event stream) subscribes with :func:`subscribe` and reads events as
they come; nothing is stored, so a page opened later sees only what follows.

Two buses, chosen by settings like the session store:

* with ``REDIS_URL``: Redis pub/sub. Publishing is one pipelined round trip
  on the process's pooled synchronous client (the CWMP view is synchronous),
  and costs the same whether or not anyone listens. The Channels layer's
  ``group_send`` was measured at about 4 ms of CPU per event from a
  synchronous view (an event loop and a Redis connection built per call),
  which alone was most of a periodic session's budget.
* without: an in-process hub (the embedded one-process server), handing each
  event to the subscriber's event loop.

Publishing never breaks a session: a bus that is down costs a log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings

from acsportal.infra.redisclient import Script

log = logging.getLogger("acsportal.events")

CHANNEL_PREFIX = "acs:ev:"
# Events a slow subscriber may fall behind by before newer ones are dropped.
QUEUE_LIMIT = 1000


def device_topic(device_pk: int) -> str:
    return f"device.{device_pk}"


def tenant_topic(tenant_id: int) -> str:
    return f"tenant.{tenant_id}"


class Subscription(Protocol):
    async def get(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next event, or None when ``timeout`` seconds pass without one."""

    async def close(self) -> None: ...


class _MemorySubscription:
    def __init__(self, hub: MemoryBus, topics: Sequence[str]) -> None:
        self._hub = hub
        self.topics = tuple(topics)
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)

    def deliver(self, event: dict[str, Any]) -> None:
        """Called from any thread: hand the event to the subscriber's loop."""
        try:
            self._loop.call_soon_threadsafe(self._put, event)
        except RuntimeError:  # the loop is closed: the subscriber is gone
            self._hub.remove(self)

    def _put(self, event: dict[str, Any]) -> None:
        if not self._queue.full():
            self._queue.put_nowait(event)

    async def get(self, timeout: float | None = None) -> dict[str, Any] | None:
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    async def close(self) -> None:
        self._hub.remove(self)


class MemoryBus:
    """Topics to subscribers, within one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[_MemorySubscription]] = {}

    def publish(self, topics: Sequence[str], event: dict[str, Any]) -> None:
        with self._lock:
            targets = {s for t in topics for s in self._subscribers.get(t, ())}
        for subscriber in targets:
            # Each subscriber gets its own copy: consumers may annotate events.
            subscriber.deliver(dict(event))

    async def subscribe(self, topics: Sequence[str]) -> Subscription:
        sub = _MemorySubscription(self, topics)
        with self._lock:
            for topic in sub.topics:
                self._subscribers.setdefault(topic, set()).add(sub)
        return sub

    def remove(self, sub: _MemorySubscription) -> None:
        with self._lock:
            for topic in sub.topics:
                subs = self._subscribers.get(topic)
                if subs is not None:
                    subs.discard(sub)
                    if not subs:
                        del self._subscribers[topic]


class _RedisSubscription:
    def __init__(self, client: Any, pubsub: Any) -> None:
        self._client = client
        self._pubsub = pubsub

    async def get(self, timeout: float | None = None) -> dict[str, Any] | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
            if message is not None and message.get("type") == "message":
                try:
                    return json.loads(message["data"])
                except ValueError:
                    continue
            if deadline is not None and time.monotonic() >= deadline:
                return None

    async def close(self) -> None:
        await self._pubsub.aclose()
        await self._client.aclose()


# One event to several channels in one round trip (the last argument is the event).
_PUBLISH = Script(
    """
for i = 1, #ARGV - 1 do redis.call('PUBLISH', ARGV[i], ARGV[#ARGV]) end
return 1
"""
)


class RedisBus:
    """Redis pub/sub: every process publishes, any process's subscribers hear."""

    def __init__(self, url: str) -> None:
        import redis

        self.url = url
        # Pub/sub channels are global to a Redis server, not per database:
        # the database number keeps two installations on one server apart.
        db = redis.ConnectionPool.from_url(url).connection_kwargs.get("db", 0)
        self.prefix = f"{CHANNEL_PREFIX}{db}:"

    def channels(self, topics: Sequence[str]) -> list[str]:
        """The Redis channels of ``topics`` (for a store publishing in its own script)."""
        return [self.prefix + t for t in topics]

    def publish(self, topics: Sequence[str], event: dict[str, Any]) -> None:
        from acsportal.infra.redisclient import connection

        payload = json.dumps(event, separators=(",", ":"), default=str)
        connection(self.url).evalsha(_PUBLISH, [], [*(self.prefix + t for t in topics), payload])

    async def subscribe(self, topics: Sequence[str]) -> Subscription:
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(self.url, decode_responses=True)
        pubsub = client.pubsub()
        await pubsub.subscribe(*(self.prefix + t for t in topics))
        return _RedisSubscription(client, pubsub)


_bus: MemoryBus | RedisBus | None = None
_bus_lock = threading.Lock()


def get_bus() -> MemoryBus | RedisBus:
    """The process-wide bus chosen by settings (built once)."""
    global _bus
    if _bus is None:
        with _bus_lock:
            if _bus is None:
                _bus = RedisBus(settings.REDIS_URL) if settings.REDIS_URL else MemoryBus()
    return _bus


def reset_bus() -> None:
    """Forget the bus (tests switch settings between cases)."""
    global _bus
    _bus = None


async def subscribe(topics: Sequence[str]) -> Subscription:
    """Start hearing the events of ``topics`` (call ``close`` when done)."""
    return await get_bus().subscribe(topics)


async def events(topics: Sequence[str]) -> AsyncIterator[dict[str, Any]]:
    """The events of ``topics`` as an async iterator, for consumers that loop."""
    sub = await subscribe(topics)
    try:
        while True:
            event = await sub.get()
            if event is not None:
                yield event
    finally:
        await sub.close()


@dataclass(slots=True, frozen=True)
class Event:
    """One event and the topics it goes to, built before it is published."""

    topics: tuple[str, ...]
    payload: dict[str, Any]

    def encode(self) -> str:
        return json.dumps(self.payload, separators=(",", ":"), default=str)


def session_event(
    *, tenant_id: int, device_pk: int | None, session_id: str, kind: str, **data: Any
) -> Event | None:
    """One step of a session (``kind``: started, message, ended); None when switched off.

    The CWMP view hands it to the session store, which publishes it in the
    same Redis round trip as the session's own write (``publish`` otherwise).
    """
    if not settings.ACS_LIVE_EVENTS:
        return None
    payload = {
        "type": "session.event",
        "kind": kind,
        "session_id": session_id,
        "tenant": tenant_id,
        "device": device_pk,
        "time": time.time(),
        **data,
    }
    topics = [tenant_topic(tenant_id)]
    if device_pk is not None:
        topics.append(device_topic(device_pk))
    return Event(tuple(topics), payload)


def publish(event: Event | None) -> None:
    """Publish on the process's bus; a bus that is down costs a log line, never a session."""
    if event is None:
        return
    try:
        get_bus().publish(event.topics, event.payload)
    except Exception:
        log.warning(
            "could not publish %s for session %s",
            event.payload.get("kind"),
            event.payload.get("session_id"),
            exc_info=True,
        )


def publish_session_event(
    *, tenant_id: int, device_pk: int | None, session_id: str, kind: str, **data: Any
) -> None:
    """Build and publish one step of a session."""
    publish(
        session_event(
            tenant_id=tenant_id, device_pk=device_pk, session_id=session_id, kind=kind, **data
        )
    )
