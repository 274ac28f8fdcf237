"""Session mechanics: HTTP transport details, retries, events, periodic informs, value changes."""

from __future__ import annotations

import asyncio

import pytest

from cpesim import SimulatedCPE

from .fakeacs import FakeACS, find, text_of
from .helpers import async_test

GPV = (
    "<cwmp:GetParameterValues><ParameterNames><string>Device.DeviceInfo.UpTime</string>"
    "</ParameterNames></cwmp:GetParameterValues>"
)


@pytest.mark.parametrize(
    "acs_kwargs",
    [
        {"chunked": True},
        {"gzip_responses": True},
        {"end_with_200": True},
        {"close_after_inform": True},
    ],
    ids=["chunked", "gzip", "end-200", "server-closes"],
)
@async_test
async def test_transport_variants_of_the_acs(acs_kwargs):
    async with FakeACS(**acs_kwargs) as acs:
        acs.queue(GPV)
        cpe = SimulatedCPE(
            "tplink-ex220",
            acs_url=acs.url,
            quirks="gzip" if "gzip_responses" in acs_kwargs else None,
        )
        result = await cpe.run_session()
        assert result.ok, result.error
        assert result.rpcs == ["GetParameterValues"]
        assert acs.sessions[0].responses[0][0] == "GetParameterValuesResponse"
        if "close_after_inform" in acs_kwargs:
            # The ACS closed the connection: the CPE reconnects and the cookie carries the session.
            assert result.connections == 2
            assert acs.requests[1].connection != acs.requests[0].connection
            assert acs.requests[1].header("Cookie") == "acs_session=1"
        else:
            assert result.connections == 1


@async_test
async def test_tr181_inform_contents():
    async with FakeACS() as acs:
        cpe = SimulatedCPE("tplink-ex220", serial="EX-1", acs_url=acs.url, bootstrap=True)
        assert (await cpe.run_session()).ok
        s = acs.sessions[0]
        assert s.events == ["0 BOOTSTRAP", "1 BOOT"]
        assert s.serial == "EX-1"
        assert text_of(s.inform, "DeviceId", "OUI") == "1C61B4"
        assert text_of(s.inform, "DeviceId", "Manufacturer") == "TP-Link"
        assert text_of(s.inform, "MaxEnvelopes") == "1" and text_of(s.inform, "RetryCount") == "0"
        params = s.params
        assert params["Device.RootDataModelVersion"] == "2.4"
        assert params["Device.IP.Interface.1.IPv4Address.1.IPAddress"] == "192.168.0.1"
        assert params["Device.ManagementServer.ConnectionRequestURL"].startswith(
            "http://127.0.0.1:"
        )
        assert (
            "Device.DeviceInfo.SoftwareVersion" in params
            and "Device.ManagementServer.ParameterKey" in params
        )


@async_test
async def test_503_with_retry_after_fails_the_session_and_counts_retries():
    async with FakeACS(inform_status=503, retry_after="7") as acs:
        cpe = SimulatedCPE("huawei-eg8145v5", acs_url=acs.url)
        result = await cpe.run_session()
        assert not result.ok and result.retry_after == 7.0 and result.statuses == [503]
        assert 7 <= cpe.retry_wait(1, result.retry_after) <= 8
        acs.inform_status = None
        assert (await cpe.run_session()).ok
        # The events were kept and the retry was counted.
        assert acs.sessions[1].events == ["1 BOOT"]
        assert text_of(acs.sessions[1].inform, "RetryCount") == "1"


@async_test
async def test_unreachable_acs():
    cpe = SimulatedCPE("huawei-eg8145v5", acs_url="http://127.0.0.1:9/acs", timeout=2)
    result = await cpe.run_session()
    assert not result.ok and "Error" in result.error
    assert cpe.retry_count == 1 and cpe.sessions_failed == 1


def test_retry_back_off_grows_per_tr069():
    cpe = SimulatedCPE(
        "huawei-eg8145v5", acs_url="http://127.0.0.1:9/", retry_min_wait=5, retry_multiplier=2
    )
    for k, (low, high) in enumerate([(5, 10), (10, 20), (20, 40)], start=1):
        assert all(low <= cpe.retry_wait(k) <= high for _ in range(20))


@async_test
async def test_driver_retries_until_the_acs_answers():
    async with FakeACS(inform_status=503) as acs:
        cpe = SimulatedCPE("huawei-eg8145v5", acs_url=acs.url, retry_min_wait=0.01, history=5)
        await cpe.start(periodic=False)
        await acs.wait_sessions(2)
        acs.inform_status = None
        result = await cpe.wait_session(5, after=2)
        while not result.ok:
            result = await cpe.wait_session(5)
        assert result.events == ["1 BOOT"]
        await cpe.stop()


@async_test
async def test_periodic_informs():
    async with FakeACS() as acs:
        cpe = SimulatedCPE("zte-h199a", acs_url=acs.url, periodic_interval=0, history=3)
        await cpe.start()
        await acs.wait_sessions(3)
        await cpe.stop()
        assert acs.sessions[0].events == ["1 BOOT"]
        assert acs.sessions[1].events == ["2 PERIODIC"] and acs.sessions[2].events == ["2 PERIODIC"]


@async_test
async def test_periodic_interval_change_by_the_acs_takes_effect():
    path = "InternetGatewayDevice.ManagementServer.PeriodicInformInterval"
    async with FakeACS() as acs:
        acs.queue(
            "<cwmp:SetParameterValues><ParameterList><ParameterValueStruct>"
            f'<Name>{path}</Name><Value xsi:type="xsd:unsignedInt">0</Value>'
            "</ParameterValueStruct></ParameterList><ParameterKey>p</ParameterKey></cwmp:SetParameterValues>"
        )
        cpe = SimulatedCPE("huawei-eg8145v5", acs_url=acs.url, periodic_interval=3600)
        await cpe.start()
        await acs.wait_sessions(3)  # would take an hour with the old interval
        await cpe.stop()
        assert acs.sessions[2].events == ["2 PERIODIC"]


@async_test
async def test_active_notification_triggers_a_value_change_session():
    ssid = "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.SSID"
    code = "InternetGatewayDevice.DeviceInfo.ProvisioningCode"
    async with FakeACS() as acs:
        acs.queue(
            "<cwmp:SetParameterAttributes><ParameterList><SetParameterAttributesStruct>"
            f"<Name>{ssid}</Name><NotificationChange>true</NotificationChange><Notification>1</Notification>"
            "<AccessListChange>false</AccessListChange><AccessList/>"
            "</SetParameterAttributesStruct></ParameterList></cwmp:SetParameterAttributes>"
        )
        cpe = SimulatedCPE("huawei-eg8145v5", acs_url=acs.url)
        assert (await cpe.run_session()).ok
        cpe.set(ssid, "passive-change")  # notification 1: waits for the next session
        await asyncio.sleep(0.05)
        assert len(acs.sessions) == 1
        cpe.set(code, "gold")  # notification 2 (forced active): a session now
        result = await cpe.wait_session(5, after=1)
        assert result.ok and result.events == ["4 VALUE CHANGE"]
        params = acs.sessions[1].params
        assert params[ssid] == "passive-change" and params[code] == "gold"
        await cpe.stop()


@async_test
async def test_acs_faulting_the_inform_fails_the_session():
    async with FakeACS() as acs:
        cpe = SimulatedCPE("huawei-eg8145v5", acs_url=acs.url)

        # An ACS that answers the Inform with something else.
        def bad_handle(req):
            return 200, [], acs._envelope("<cwmp:GetRPCMethods/>", "x"), False

        acs._handle = bad_handle
        result = await cpe.run_session()
        assert not result.ok and "expected InformResponse" in result.error
        assert cpe.pending_events == [("1 BOOT", "")]  # kept for the retry


@async_test
async def test_wait_session_does_not_miss_a_session_that_already_ended():
    async with FakeACS() as acs:
        acs.queue(
            "<cwmp:ScheduleInform><DelaySeconds>0</DelaySeconds><CommandKey>k</CommandKey></cwmp:ScheduleInform>"
        )
        cpe = SimulatedCPE("huawei-eg8145v5", acs_url=acs.url, history=4)
        mark = cpe.sessions_completed
        await cpe.run_session()
        await acs.wait_sessions(2)
        await asyncio.sleep(0.01)
        first = await cpe.wait_session(1, after=mark)
        second = await cpe.wait_session(1, after=mark + 1)
        assert first.events == ["1 BOOT"] and second.events == ["3 SCHEDULED", "M ScheduleInform"]
        with pytest.raises(TimeoutError):
            await cpe.wait_session(0.05)
        await cpe.stop()


@async_test
async def test_transcript_records_the_exchange():
    async with FakeACS(auth="digest") as acs:
        acs.queue(GPV)
        cpe = SimulatedCPE("tplink-ex220", acs_url=acs.url, username="cpe", password="secret")
        result = await cpe.run_session()
        assert result.transcript == [
            ("->", "Inform", 401),
            ("->", "Inform", 200),
            ("<-", "InformResponse", 200),
            ("->", "empty", 200),
            ("<-", "GetParameterValues", 200),
            ("->", "GetParameterValuesResponse", 204),
            ("<-", "end", 204),
        ]
        assert result.duration > 0 and result.cookies == {"acs_session": "1"}
        assert find(acs.sessions[0].envelope, "Header", "ID") is not None
