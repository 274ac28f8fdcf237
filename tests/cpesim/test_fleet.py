"""Many devices at once, the command line, and the synchronous runner end-to-end tests use."""

from __future__ import annotations

import httpx

from cpesim import BackgroundLoop, DeviceModel, Fleet, SimulatedCPE
from cpesim.cli import main
from cpesim.fleet import make_serials

from .fakeacs import FakeACS
from .helpers import async_test


def test_serials_are_distinct_and_stable():
    huawei, tplink = DeviceModel.from_dump("huawei-eg8145v5"), DeviceModel.from_dump("tplink-ex220")
    assert make_serials([huawei], 1, None) == [(huawei, "48575443A94196A5")]
    pairs = make_serials([huawei, tplink], 4, None)
    assert [s for _, s in pairs] == [
        "48575443A94196A500001",
        "222646900052300001",
        "48575443A94196A500002",
        "222646900052300002",
    ]
    assert [m for m, _ in pairs] == [huawei, tplink, huawei, tplink]
    assert [s for _, s in make_serials([huawei, tplink], 3, "SIM")] == [
        "SIM000001",
        "SIM000002",
        "SIM000003",
    ]


@async_test
async def test_fleet_once_over_several_dumps_with_a_concurrency_cap():
    async with FakeACS(auth="digest", username="cpe", password="pw") as acs:
        fleet = Fleet(
            acs_url=acs.url,
            username="cpe",
            password="pw",
            dumps=["huawei-eg8145v5", "tplink-ex220", "zte-h199a"],
            count=30,
            concurrency=4,
        )
        stats = await fleet.run_once()
        await fleet.close()
        assert (stats.sessions_ok, stats.sessions_failed, stats.devices) == (30, 0, 30)
        assert len({s.serial for s in acs.sessions}) == 30
        assert {s.params.get("Device.RootDataModelVersion") for s in acs.sessions} == {None, "2.4"}
        # Every device advertises its own path on the one shared listener.
        urls = {
            v
            for s in acs.sessions
            for k, v in s.params.items()
            if k.endswith("ManagementServer.ConnectionRequestURL")
        }
        assert len(urls) == 30 and len({u.rsplit("/", 1)[0] for u in urls}) == 1
        assert len(fleet.summary_lines()) == 30 and "sessions_ok=1" in fleet.summary_lines()[0]


@async_test
async def test_fleet_run_stops_after_k_sessions_per_device():
    async with FakeACS() as acs:
        fleet = Fleet(
            acs_url=acs.url,
            dumps=["tplink-ec220-v3"],
            count=5,
            serial_prefix="EC",
            periodic_interval=0,
        )
        stats = await fleet.run(sessions=3)
        assert stats.sessions_ok == 15 and stats.sessions_failed == 0
        assert all(d.sessions_completed == 3 for d in fleet.devices)
        assert stats.sessions_per_second > 0


@async_test
async def test_per_device_credentials_from_a_template():
    async with FakeACS() as acs:
        fleet = Fleet(
            acs_url=acs.url,
            username="user-{serial}",
            password="pw-{serial}",
            count=2,
            serial_prefix="S",
        )
        assert [
            d.get("InternetGatewayDevice.ManagementServer.Username") for d in fleet.devices
        ] == [
            "user-S000001",
            "user-S000002",
        ]
        await fleet.close()


def _start_fake(bg: BackgroundLoop, **kwargs) -> FakeACS:
    acs = FakeACS(**kwargs)
    bg.run(acs.__aenter__())
    return acs


def test_cli_once_prints_a_line_per_device_and_totals(capsys):
    with BackgroundLoop() as bg:
        acs = _start_fake(bg, auth="digest", username="u", password="p")
        args = "--count 3 --dump zte-h199a --once --serial-prefix ZTE --quirk no-cookies,prefix=soapenv"
        code = main(["--acs-url", acs.url, "--username", "u", "--password", "p", *args.split()])
        out = capsys.readouterr().out.splitlines()
        assert code == 0
        assert [line.split()[0] for line in out[:3]] == ["ZTE000001", "ZTE000002", "ZTE000003"]
        assert out[-1].startswith("total: devices=3 sessions ok=3 failed=0")
        assert all(b"<soapenv:Envelope" in r.body for r in acs.requests if r.rpc == "Inform")
        bg.run(acs.__aexit__(None, None, None))


def test_cli_once_fails_when_the_acs_refuses(capsys):
    with BackgroundLoop() as bg:
        acs = _start_fake(bg, auth="digest", username="u", password="p")
        code = main(
            [
                "--acs-url",
                acs.url,
                "--username",
                "u",
                "--password",
                "wrong",
                "--once",
                "--retries",
                "0",
            ]
        )
        out = capsys.readouterr().out
        assert code == 1 and "FAILED" in out and "failed=1" in out
        bg.run(acs.__aexit__(None, None, None))


def test_cli_lists(capsys):
    assert main(["--list-dumps"]) == 0
    assert "tplink-ex220" in capsys.readouterr().out
    assert main(["--list-quirks"]) == 0
    assert "resend-inform" in capsys.readouterr().out
    assert main(["--acs-url", "http://127.0.0.1:9/", "--quirk", "bogus"]) == 2


def test_background_loop_drives_a_device_from_plain_synchronous_code():
    """The pattern end-to-end tests use: blocking HTTP calls in the test thread, devices in the loop."""
    with BackgroundLoop() as bg:
        acs = _start_fake(bg)
        cpe = SimulatedCPE("tplink-ex220", acs_url=acs.url, cr_username="acs", cr_password="crpw")
        url = bg.run(cpe.start_cr_listener())
        assert bg.run(cpe.run_session()).ok
        mark = cpe.sessions_completed
        response = httpx.get(
            url, auth=httpx.DigestAuth("acs", "crpw"), trust_env=False
        )  # the "ACS" wakes it
        assert response.status_code == 200
        result = bg.run(cpe.wait_session(5, after=mark))
        assert result.events == ["6 CONNECTION REQUEST"]
        bg.call(cpe.set, "Device.DeviceInfo.ProvisioningCode", "sync")
        assert bg.call(cpe.get, "Device.DeviceInfo.ProvisioningCode") == "sync"
        bg.run(cpe.wait_session(5, after=mark + 1))
        assert acs.sessions[-1].events == ["4 VALUE CHANGE"]
        bg.run(cpe.stop())
        bg.run(acs.__aexit__(None, None, None))
