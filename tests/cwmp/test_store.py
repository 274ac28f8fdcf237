"""Session store semantics, on memory and (when REDIS_URL is set) on Redis."""

from __future__ import annotations

import pytest
from django.conf import settings

from cwmp.endpoint.store import Admission, MemorySessionStore, RedisSessionStore


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


@pytest.mark.parametrize("topic", ["device", "tenant"])
def test_save_and_finish_publish_the_session_event(store, settings, topic):
    import asyncio

    from acsportal.infra import events

    settings.REDIS_URL = settings.REDIS_URL if isinstance(store, RedisSessionStore) else ""
    events.reset_bus()
    started = events.session_event(tenant_id=7, device_pk=9, session_id="s1", kind="started")
    ended = events.session_event(tenant_id=7, device_pk=9, session_id="s1", kind="ended")

    async def main():
        on = events.device_topic(9) if topic == "device" else events.tenant_topic(7)
        sub = await events.subscribe([on])
        held = ("t:7", "a:192.0.2.1")  # the session's shares: more keys, the same channels
        try:
            await asyncio.to_thread(store.save, "s1", {"a": 1}, 30, "c1", started, held)
            first = await sub.get(5)
            await asyncio.to_thread(store.finish, "s1", "dev", "c1", ended, held)
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


# ------------------------------------------------ issue 10: what begin also admits


def _tenant(tenant: str, address: str = "192.0.2.1", **limits) -> Admission:
    return Admission(tenant=tenant, address=address, **limits)


def test_each_tenant_has_its_own_share_of_the_sessions(store):
    a = _tenant("1", tenant_limit=2)
    assert store.begin("a1", "1|d1", limit=10, ttl=30, admission=a) == ("ok", None)
    assert store.begin("a2", "1|d2", limit=10, ttl=30, admission=a) == ("ok", None)
    assert store.begin("a1", "1|d1", limit=10, ttl=30, admission=a) == ("ok", None)  # re-entrant
    # The tenant's share is full: refused before it touches the device's lock ...
    assert store.begin("a3", "1|d3", limit=10, ttl=30, admission=a) == ("busy", "tenant")
    assert store.lock_device("1|d3", "x", 30) is None
    # ... while another tenant's devices still get in.
    b = _tenant("2", tenant_limit=2)
    assert store.begin("b1", "2|d1", limit=10, ttl=30, admission=b) == ("ok", None)
    # A session that ends gives its place back.
    store.finish("a1", "1|d1", "", shares=a.shares)
    assert store.begin("a3", "1|d4", limit=10, ttl=30, admission=a) == ("ok", None)


def test_each_address_has_its_own_share_of_the_sessions(store):
    here = _tenant("1", "198.51.100.9", address_limit=1)
    there = _tenant("2", "198.51.100.10", address_limit=1)
    assert store.begin("s1", "1|d1", limit=10, ttl=30, admission=here) == ("ok", None)
    # The address is full whatever tenant the next session is for.
    other_tenant_same_address = _tenant("2", "198.51.100.9", address_limit=1)
    assert store.begin("s2", "2|d2", limit=10, ttl=30, admission=other_tenant_same_address) == (
        "busy",
        "address",
    )
    assert store.begin("s3", "2|d3", limit=10, ttl=30, admission=there) == ("ok", None)
    store.leave("s1", here.shares)  # a session taken over leaves its shares too
    assert store.begin("s2", "2|d2", limit=10, ttl=30, admission=other_tenant_same_address)[0] == (
        "ok"
    )


def test_the_servers_limit_still_comes_first(store):
    a = _tenant("1", tenant_limit=5)
    assert store.begin("s1", "1|d1", limit=1, ttl=30, admission=a) == ("ok", None)
    assert store.begin("s2", "1|d2", limit=1, ttl=30, admission=a) == ("busy", None)


def test_new_devices_are_rate_limited_per_tenant(store):
    new = _tenant("1", new_devices_per_minute=2)
    assert store.begin("n1", "1|d1", limit=10, ttl=30, admission=new) == ("ok", None)
    assert store.begin("n2", "1|d2", limit=10, ttl=30, admission=new) == ("ok", None)
    status, retry = store.begin("n3", "1|d3", limit=10, ttl=30, admission=new)
    assert status == "new-devices" and retry is not None and 1 <= int(retry) <= 60
    assert store.lock_device("1|d3", "x", 30) is None  # nothing taken
    # Known devices of the tenant, and new devices of another, are not held back.
    known = _tenant("1")
    assert store.begin("k1", "1|known", limit=10, ttl=30, admission=known) == ("ok", None)
    assert (
        store.begin(
            "m1", "2|d1", limit=10, ttl=30, admission=_tenant("2", new_devices_per_minute=2)
        )[0]
        == "ok"
    )
    # A refusal does not use up the minute: the count is of devices let in.
    assert store.begin("n4", "1|d4", limit=10, ttl=30, admission=new)[0] == "new-devices"


def test_a_refusal_for_another_reason_does_not_count_as_a_new_device(store):
    new = _tenant("1", new_devices_per_minute=1)
    store.begin("holder", "1|d1", limit=10, ttl=30)
    assert store.begin("n1", "1|d1", limit=10, ttl=30, admission=new) == ("locked", "holder")
    assert store.begin("n2", "1|d2", limit=10, ttl=30, admission=new) == ("ok", None)


def test_failed_authentications_back_off_the_identity(store):
    limits = {"window": 300, "device_limit": 3, "address_limit": 100}
    assert store.auth_failed("1|dev", "192.0.2.1", **limits) == 0
    assert store.auth_failed("1|dev", "192.0.2.2", **limits) == 0
    retry = store.auth_failed("1|dev", "192.0.2.3", **limits)  # the third, from anywhere
    assert 1 <= retry <= 300
    a = _tenant("1", "192.0.2.4", device_failures=3, address_failures=100)
    # Even the right credentials are refused until the window ends, and
    # nothing is admitted or locked.
    status, left = store.begin("s1", "1|dev", limit=10, ttl=30, admission=a)
    assert status == "backoff" and 1 <= int(left or 0) <= 300
    assert store.active_sessions() == 0 and store.lock_device("1|dev", "x", 30) is None
    assert 1 <= store.auth_blocked("1|dev", "192.0.2.4", device_limit=3, address_limit=100) <= 300
    # Another device is not held back.
    assert store.begin("s2", "1|other", limit=10, ttl=30, admission=a) == ("ok", None)


def test_failed_authentications_back_off_the_address(store):
    limits = {"window": 300, "device_limit": 100, "address_limit": 3}
    for n in range(2):
        assert store.auth_failed(f"1|dev{n}", "203.0.113.7", **limits) == 0
    assert store.auth_failed("1|dev2", "203.0.113.7", **limits) > 0
    here = _tenant("1", "203.0.113.7", device_failures=100, address_failures=3)
    assert store.begin("s1", "1|fresh", limit=10, ttl=30, admission=here)[0] == "backoff"
    there = _tenant("1", "203.0.113.8", device_failures=100, address_failures=3)
    assert store.begin("s2", "1|fresh", limit=10, ttl=30, admission=there) == ("ok", None)


def test_a_session_admitted_resets_the_identitys_failures(store):
    limits = {"window": 300, "device_limit": 3, "address_limit": 0}
    a = _tenant("1", device_failures=3)
    store.auth_failed("1|dev", "192.0.2.1", **limits)
    store.auth_failed("1|dev", "192.0.2.1", **limits)
    assert store.begin("s1", "1|dev", limit=10, ttl=30, admission=a) == ("ok", None)
    store.finish("s1", "1|dev", "", shares=a.shares)
    assert store.auth_failed("1|dev", "192.0.2.1", **limits) == 0  # counting from 1 again
    assert store.auth_failed("1|dev", "192.0.2.1", **limits) == 0
    assert store.auth_blocked("1|dev", "192.0.2.1", device_limit=3, address_limit=0) == 0


def test_limits_of_zero_are_off(store):
    assert store.auth_failed("1|dev", "192.0.2.1", window=300, device_limit=0, address_limit=0) == 0
    off = _tenant("1")
    for n in range(5):
        assert store.begin(f"s{n}", f"1|d{n}", limit=10, ttl=30, admission=off) == ("ok", None)


def test_memory_shares_and_counters_expire():
    clock = Clock()
    store = MemorySessionStore(clock=clock)
    a = _tenant("1", tenant_limit=1, new_devices_per_minute=1, device_failures=1)
    assert store.begin("s1", "1|d1", limit=10, ttl=30, admission=a) == ("ok", None)
    clock.now += 20
    store.save("s1", {"a": 1}, 30, shares=a.shares)  # a message keeps its share alive
    clock.now += 20
    assert store.begin("s2", "1|d2", limit=10, ttl=30, admission=_tenant("1", tenant_limit=1)) == (
        "busy",
        "tenant",
    )
    store.auth_failed("1|d9", "192.0.2.1", window=300, device_limit=1, address_limit=0)
    clock.now += 301  # the session went silent; the minute and the window are over
    assert store.begin("s3", "1|d3", limit=10, ttl=30, admission=a) == ("ok", None)
    assert (
        store.begin("s4", "1|d9", limit=10, ttl=30, admission=_tenant("2", device_failures=1))[0]
        == "ok"
    )


@pytest.mark.skipif(not settings.REDIS_URL, reason="REDIS_URL not set")
def test_redis_shares_follow_the_sessions_lifetime():
    import time

    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    store = RedisSessionStore(settings.REDIS_URL, prefix="acs:test:")
    a = _tenant("1", tenant_limit=1)
    assert store.begin("s1", "1|d1", limit=10, ttl=1, admission=a) == ("ok", None)
    store.save("s1", {"a": 1}, 3, shares=a.shares)  # a message: three more seconds
    time.sleep(1.2)
    assert store.begin("s2", "1|d2", limit=10, ttl=1, admission=a) == ("busy", "tenant")
    assert 0 < client.ttl("acs:test:t:1") <= 3  # the share's key dies with its sessions
    store.finish("s1", "1|d1", "", shares=a.shares)
    assert store.begin("s2", "1|d2", limit=10, ttl=1, admission=a) == ("ok", None)
