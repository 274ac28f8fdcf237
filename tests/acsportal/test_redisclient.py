"""The hot path's Redis connection: scripts by SHA, recovery from a lost connection."""

from __future__ import annotations

import threading

import pytest
from django.conf import settings

from acsportal.infra import redisclient

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="REDIS_URL not set")


def test_scripts_load_themselves_after_redis_forgot_them():
    conn = redisclient.connection(settings.REDIS_URL)
    script = redisclient.Script("return ARGV[1] .. KEYS[1]")
    conn.execute("SCRIPT", "FLUSH")
    assert conn.evalsha(script, ["k"], ["v-"]) == "v-k"
    assert conn.evalsha(script, ["k2"], ["w-"]) == "w-k2"


def test_a_killed_connection_is_replaced_on_the_next_command():
    conn = redisclient.connection(settings.REDIS_URL)
    conn.execute("SET", "acs:test:x", "1")
    my_id = conn.execute("CLIENT", "ID")
    redisclient.get_redis(settings.REDIS_URL).execute_command("CLIENT", "KILL", "ID", my_id)
    assert conn.execute("GET", "acs:test:x") == "1"
    assert conn.execute("CLIENT", "ID") != my_id


def test_each_thread_has_its_own_connection():
    ids = []

    def work():
        ids.append(redisclient.connection(settings.REDIS_URL).execute("CLIENT", "ID"))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 3
    assert redisclient.connection(settings.REDIS_URL) is redisclient.connection(settings.REDIS_URL)
