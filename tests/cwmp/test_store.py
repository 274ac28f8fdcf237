"""Session store semantics, on memory and (when REDIS_URL is set) on Redis."""

from __future__ import annotations

import pytest
from django.conf import settings

from cwmp.endpoint.store import MemorySessionStore, RedisSessionStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _stores():
    yield pytest.param("memory", id="memory")
    yield pytest.param(
        "redis",
        id="redis",
        marks=pytest.mark.skipif(not settings.REDIS_URL, reason="REDIS_URL not set"),
    )


@pytest.fixture(params=list(_stores()))
def store(request):
    if request.param == "memory":
        return MemorySessionStore()
    import redis

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    return RedisSessionStore(settings.REDIS_URL, prefix="acs:test:")


def test_state_round_trip_and_delete(store):
    store.save("s1", {"a": 1}, 30)
    assert store.load("s1") == {"a": 1}
    store.delete("s1")
    assert store.load("s1") is None


def test_connection_binding(store):
    store.bind_connection("1|10.0.0.1|4000", "s1", 30)
    assert store.session_for_connection("1|10.0.0.1|4000") == "s1"
    store.unbind_connection("1|10.0.0.1|4000", "other")
    assert store.session_for_connection("1|10.0.0.1|4000") == "s1"
    store.unbind_connection("1|10.0.0.1|4000", "s1")
    assert store.session_for_connection("1|10.0.0.1|4000") is None


def test_device_lock_is_exclusive_and_reentrant(store):
    assert store.lock_device("d", "s1", 30) is None
    assert store.lock_device("d", "s1", 30) is None
    assert store.lock_device("d", "s2", 30) == "s1"
    assert not store.steal_device("d", "s3", "s2", 30)
    assert store.steal_device("d", "s1", "s2", 30)
    store.unlock_device("d", "s1")  # not the holder: no effect
    assert store.lock_device("d", "s3", 30) == "s2"
    store.unlock_device("d", "s2")
    assert store.lock_device("d", "s3", 30) is None


def test_admission_limit(store):
    assert store.admit("a", 2, 30)
    assert store.admit("b", 2, 30)
    assert not store.admit("c", 2, 30)
    assert store.admit("a", 2, 30)  # already admitted
    store.leave("a")
    assert store.admit("c", 2, 30)
    assert store.active_sessions() == 2


def test_nonce_counts(store):
    assert store.seen("n1", 1, "b1")
    assert store.seen("n1", 2, "b1")
    assert store.seen("n1", 1, "b1")  # reuse within its own binding
    assert not store.seen("n1", 1, "b2")  # replay elsewhere
    assert store.seen("n1", 3, "b2")  # a growing count is fine


def test_memory_entries_expire():
    clock = Clock()
    store = MemorySessionStore(clock=clock)
    store.save("s1", {"a": 1}, 30)
    assert store.lock_device("d", "s1", 30) is None
    assert store.admit("s1", 1, 30)
    clock.now += 31
    assert store.load("s1") is None
    assert store.lock_device("d", "s2", 30) is None
    assert store.admit("s2", 1, 30)


def test_begin_admits_and_locks_in_one_step(store):
    assert store.begin("s1", "dev", limit=2, ttl=30) == ("ok", None)
    assert store.begin("s1", "dev", limit=2, ttl=30) == ("ok", None)  # re-entrant
    assert store.active_sessions() == 1
    # Another session for the same device learns who holds it and is not admitted.
    assert store.begin("s2", "dev", limit=2, ttl=30) == ("locked", "s1")
    assert store.active_sessions() == 1
    assert store.begin("s3", "other", limit=2, ttl=30) == ("ok", None)
    # Full: a new session is refused before it touches any device lock.
    assert store.begin("s4", "third", limit=2, ttl=30) == ("busy", None)
    assert store.lock_device("third", "s5", 30) is None


def test_finish_releases_everything_the_session_held(store):
    store.begin("s1", "dev", limit=5, ttl=30)
    store.save("s1", {"a": 1}, 30, conn="1|10.0.0.1|4000")
    assert store.load_for_connection("1|10.0.0.1|4000") == {"a": 1}
    store.finish("s1", "dev", "1|10.0.0.1|4000")
    assert store.load("s1") is None
    assert store.load_for_connection("1|10.0.0.1|4000") is None
    assert store.active_sessions() == 0
    assert store.begin("s2", "dev", limit=5, ttl=30) == ("ok", None)


def test_finish_leaves_what_another_session_took_over(store):
    store.begin("s1", "dev", limit=5, ttl=30)
    store.save("s1", {"a": 1}, 30, conn="c1")
    assert store.steal_device("dev", "s1", "s2", 30)
    store.bind_connection("c1", "s2", 30)
    store.finish("s1", "dev", "c1")
    assert store.lock_device("dev", "s3", 30) == "s2"
    assert store.session_for_connection("c1") == "s2"


def test_load_for_an_unknown_connection(store):
    assert store.load_for_connection("nobody") is None
    store.bind_connection("c1", "gone", 30)  # bound, but the state expired
    assert store.load_for_connection("c1") is None


def test_begin_checks_the_nonce_first(store):
    from cwmp.endpoint.store import NonceUse

    use = NonceUse("n1", 1, "s1|c")
    assert store.begin("s1", "dev", limit=5, ttl=30, nonce=use) == ("ok", None)
    # The same use within its session is fine (CPEs that repeat nc=1) ...
    assert store.begin("s1", "dev", limit=5, ttl=30, nonce=use) == ("ok", None)
    # ... elsewhere it is a replay, refused before any admission or lock.
    assert store.begin("s2", "dev2", limit=5, ttl=30, nonce=NonceUse("n1", 1, "s2|c")) == (
        "replay",
        None,
    )
    assert store.lock_device("dev2", "s3", 30) is None
    # A higher count moves on, from anywhere.
    assert store.begin("s4", "dev4", limit=5, ttl=30, nonce=NonceUse("n1", 2, "s4|c"))[0] == "ok"


def test_save_and_finish_publish_the_session_event(store, settings):
    import asyncio

    from acsportal.infra import events

    settings.REDIS_URL = settings.REDIS_URL if isinstance(store, RedisSessionStore) else ""
    events.reset_bus()
    started = events.session_event(tenant_id=7, device_pk=9, session_id="s1", kind="started")
    ended = events.session_event(tenant_id=7, device_pk=9, session_id="s1", kind="ended")

    async def main():
        sub = await events.subscribe([events.device_topic(9)])
        try:
            await asyncio.to_thread(store.save, "s1", {"a": 1}, 30, "c1", started)
            first = await sub.get(5)
            await asyncio.to_thread(store.finish, "s1", "dev", "c1", ended)
            second = await sub.get(5)
            return first, second
        finally:
            await sub.close()

    try:
        first, second = asyncio.run(main())
    finally:
        events.reset_bus()
    assert (first["kind"], second["kind"]) == ("started", "ended")
    assert first["session_id"] == "s1" and first["device"] == 9


def test_expired_sessions_are_kept_for_housekeeping_until_taken():
    clock = Clock()
    store = MemorySessionStore(clock=clock)
    assert store.begin("gone", "d1", limit=2, ttl=30) == ("ok", None)
    assert store.begin("done", "d2", limit=2, ttl=30) == ("ok", None)
    store.finish("done", "d2", "")
    clock.now += 31
    # Expired entries no longer count against the limit ...
    assert store.active_sessions() == 0
    assert store.begin("new1", "d3", limit=2, ttl=30)[0] == "ok"
    assert store.begin("new2", "d4", limit=2, ttl=30)[0] == "ok"
    # ... and only the session that never finished is handed over, once.
    assert store.take_expired() == ["gone"]
    assert store.take_expired() == []


@pytest.mark.skipif(not settings.REDIS_URL, reason="REDIS_URL not set")
def test_expired_sessions_on_redis():
    import redis

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    store = RedisSessionStore(settings.REDIS_URL, prefix="acs:test:")
    assert store.begin("gone", "d1", limit=1, ttl=1) == ("ok", None)
    assert store.begin("late", "d2", limit=1, ttl=30) == ("busy", None)
    import time

    time.sleep(1.1)
    assert store.active_sessions() == 0
    assert store.begin("late", "d2", limit=1, ttl=30) == ("ok", None)
    assert store.take_expired() == ["gone"]
    assert store.take_expired() == []
