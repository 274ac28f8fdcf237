"""The connection-request listener: Digest from the ACS wakes the device."""

from __future__ import annotations

import httpx

from cpesim import ConnectionRequestServer, SimulatedCPE

from .fakeacs import FakeACS
from .helpers import async_test

CR_URL = "InternetGatewayDevice.ManagementServer.ConnectionRequestURL"


@async_test
async def test_digest_connection_request_starts_a_session_and_bad_credentials_get_401():
    async with FakeACS() as acs, httpx.AsyncClient(trust_env=False) as client:
        cpe = SimulatedCPE(
            "huawei-eg8145v5", acs_url=acs.url, cr_username="acs", cr_password="crpw"
        )
        url = await cpe.start_cr_listener()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/cr/48575443A94196A5")
        assert (await cpe.run_session()).ok
        assert acs.sessions[0].params[CR_URL] == url
        mark = cpe.sessions_completed

        anonymous = await client.get(url)
        assert anonymous.status_code == 401
        challenge = anonymous.headers["www-authenticate"]
        assert (
            challenge.startswith("Digest ")
            and 'qop="auth"' in challenge
            and "algorithm=MD5" in challenge
        )
        assert (await client.get(url, auth=httpx.DigestAuth("acs", "wrong"))).status_code == 401
        assert (await client.get(url, auth=httpx.DigestAuth("other", "crpw"))).status_code == 401
        assert len(acs.sessions) == 1

        ok = await client.get(url, auth=httpx.DigestAuth("acs", "crpw"))
        assert ok.status_code == 200
        result = await cpe.wait_session(5, after=mark)
        assert result.ok and result.events == ["6 CONNECTION REQUEST"]
        unknown = await client.get(
            url.rsplit("/", 1)[0] + "/nobody", auth=httpx.DigestAuth("acs", "crpw")
        )
        assert unknown.status_code == 404
        await cpe.stop()


@async_test
async def test_credentials_changed_by_the_acs_apply_at_once():
    async with FakeACS() as acs, httpx.AsyncClient(trust_env=False) as client:
        acs.queue(
            "<cwmp:SetParameterValues><ParameterList><ParameterValueStruct>"
            "<Name>InternetGatewayDevice.ManagementServer.ConnectionRequestPassword</Name>"
            '<Value xsi:type="xsd:string">rotated</Value></ParameterValueStruct></ParameterList>'
            "<ParameterKey>cr</ParameterKey></cwmp:SetParameterValues>"
        )
        cpe = SimulatedCPE("huawei-eg8145v5", acs_url=acs.url, cr_password="initial")
        url = await cpe.start_cr_listener()
        assert (await cpe.run_session()).ok
        user = cpe.connection_request_credentials()[0]
        assert user == "anlix"  # the dump's username, kept
        assert (await client.get(url, auth=httpx.DigestAuth(user, "initial"))).status_code == 401
        assert (await client.get(url, auth=httpx.DigestAuth(user, "rotated"))).status_code == 200
        await cpe.wait_session(5, after=1)
        await cpe.stop()


@async_test
async def test_one_shared_listener_routes_by_serial():
    server = ConnectionRequestServer()
    async with FakeACS() as acs, httpx.AsyncClient(trust_env=False) as client:
        devices = [
            SimulatedCPE(
                "tplink-ec220-v3",
                serial=f"EC{i}",
                acs_url=acs.url,
                cr_username="u",
                cr_password="p",
                cr_server=server,
            )
            for i in range(3)
        ]
        urls = [await d.start_cr_listener() for d in devices]
        assert len({u.rsplit("/", 1)[0] for u in urls}) == 1  # one port
        response = await client.get(urls[1], auth=httpx.DigestAuth("u", "p"))
        assert response.status_code == 200
        await devices[1].wait_session(5)
        assert [s.serial for s in acs.sessions] == ["EC1"]
        assert acs.sessions[0].events == ["1 BOOT", "6 CONNECTION REQUEST"]  # first contact
        for d in devices:
            await d.stop()
        await server.stop()


@async_test
async def test_a_connection_request_during_a_session_is_queued():
    async with FakeACS() as acs:
        cpe = SimulatedCPE("huawei-eg8145v5", acs_url=acs.url, history=3)
        handle = acs._handle

        def handle_and_poke(req):
            if req.rpc == "" and req.body == b"" and len(acs.sessions) == 1:
                cpe.connection_request()  # arrives while the first session runs
            return handle(req)

        acs._handle = handle_and_poke
        first = await cpe.run_session()
        assert first.events == ["1 BOOT"]
        second = await cpe.wait_session(5, after=1)
        assert second.events == ["6 CONNECTION REQUEST"]
        await cpe.stop()
