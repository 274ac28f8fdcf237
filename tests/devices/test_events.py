"""Session steps reach the device and tenant groups of the channel layer."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.test import Client

from devices.events import device_group, tenant_group
from tests.cwmp.cpe import ScriptedCPE, inform_body
from tests.factories import DeviceFactory, TenantFactory

pytestmark = pytest.mark.django_db


def test_a_session_is_published_step_by_step():
    tenant = TenantFactory(slug="isp")
    device = DeviceFactory(tenant=tenant, serial_number="SN1")
    layer = get_channel_layer()
    groups = [tenant_group(tenant.pk), device_group(device.pk)]
    channels = async_to_sync(_subscribe)(layer, groups)
    ScriptedCPE(Client(), "/cwmp/isp/").session(inform_body("SN1", ("1 BOOT",)))
    for received in async_to_sync(_drain)(layer, channels, 2):
        assert [e["kind"] for e in received] == ["started", "ended"]
        assert received[0]["events"] == ["1 BOOT"]
        assert received[0]["device"] == device.pk
        assert received[1]["outcome"] == "ok"
        assert received[1]["rpcs"] == ["Inform", "InformResponse"]


async def _subscribe(layer, groups):
    channels = []
    for group in groups:
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        channels.append(channel)
    return channels


async def _drain(layer, channels, count):
    """Receive in one event loop: the Redis layer's receive is per loop."""
    import asyncio

    out = []
    async with asyncio.timeout(5):
        for channel in channels:
            out.append([await layer.receive(channel) for _ in range(count)])
    return out


def test_publishing_can_be_switched_off(settings):
    settings.ACS_LIVE_EVENTS = False
    tenant = TenantFactory(slug="isp")
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(tenant_group(tenant.pk), channel)
    ScriptedCPE(Client(), "/cwmp/isp/").session(inform_body("SN1"))
    with pytest.raises(TimeoutError):
        async_to_sync(_receive_with_timeout)(layer, channel)


async def _receive_with_timeout(layer, channel):
    import asyncio

    async with asyncio.timeout(0.2):
        return await layer.receive(channel)
