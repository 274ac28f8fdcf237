"""Session steps reach subscribers of the device and tenant topics.

Runs on the in-process bus and, when REDIS_URL is set, on Redis pub/sub.
The subscriber lives on an event loop in a thread of its own, as a
WebSocket consumer would, while the CPE's session runs synchronously here.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from django.test import Client

from acsportal.infra import events
from tests.cwmp.cpe import ScriptedCPE, inform_body
from tests.factories import DeviceFactory, TenantFactory

pytestmark = pytest.mark.django_db


class Listener:
    """A subscription on a background event loop, read from sync test code."""

    def __init__(self, topics: list[str]) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sub = self._run(events.subscribe(topics))

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def get(self, timeout: float = 5.0):
        return self._run(self.sub.get(timeout))

    def close(self) -> None:
        self._run(self.sub.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def listen():
    events.reset_bus()
    opened = []

    def make(*topics: str) -> Listener:
        listener = Listener(list(topics))
        opened.append(listener)
        return listener

    yield make
    for listener in opened:
        listener.close()
    events.reset_bus()


def test_a_session_is_published_step_by_step(listen):
    tenant = TenantFactory(slug="isp")
    device = DeviceFactory(tenant=tenant, serial_number="SN1")
    on_tenant = listen(events.tenant_topic(tenant.pk))
    on_device = listen(events.device_topic(device.pk))
    ScriptedCPE(Client(), "/cwmp/isp/").session(inform_body("SN1", ("1 BOOT",)))
    for listener in (on_tenant, on_device):
        received = [listener.get(), listener.get()]
        assert [e["kind"] for e in received] == ["started", "ended"]
        assert received[0]["events"] == ["1 BOOT"]
        assert received[0]["device"] == device.pk
        assert received[0]["tenant"] == tenant.pk
        assert received[0]["session_id"] == received[1]["session_id"]
        assert received[1]["outcome"] == "ok"
        assert received[1]["rpcs"] == ["Inform", "InformResponse"]


def test_subscribers_hear_only_their_topics(listen):
    tenant = TenantFactory(slug="isp")
    other = TenantFactory(slug="other")
    DeviceFactory(tenant=tenant, serial_number="SN1")
    elsewhere = listen(events.tenant_topic(other.pk))
    here = listen(events.tenant_topic(tenant.pk))
    ScriptedCPE(Client(), "/cwmp/isp/").session(inform_body("SN1"))
    assert here.get()["kind"] == "started"
    assert elsewhere.get(timeout=0.3) is None


def test_publishing_can_be_switched_off(settings, listen):
    settings.ACS_LIVE_EVENTS = False
    tenant = TenantFactory(slug="isp")
    listener = listen(events.tenant_topic(tenant.pk))
    ScriptedCPE(Client(), "/cwmp/isp/").session(inform_body("SN1"))
    assert listener.get(timeout=0.3) is None


def test_a_bus_that_is_down_never_breaks_a_session(settings, listen):
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    events.reset_bus()
    TenantFactory(slug="isp")
    # The session store is built separately and keeps its own setting.
    from cwmp.endpoint import store

    store._store = store.MemorySessionStore()
    responses = ScriptedCPE(Client(), "/cwmp/isp/").session(inform_body("SN1"))
    assert responses[-1].status_code == 204


def test_closed_subscribers_are_forgotten():
    bus = events.MemoryBus()

    async def main():
        sub = await bus.subscribe(["tenant.1"])
        bus.publish(["tenant.1"], {"kind": "x"})
        assert (await sub.get(1))["kind"] == "x"
        await sub.close()

    asyncio.run(main())
    assert bus._subscribers == {}
    bus.publish(["tenant.1"], {"kind": "y"})  # nobody listens: nothing happens
