"""A device keeps what the ACS configured across restarts, like a real CPE (cpesim.state)."""

from __future__ import annotations

import asyncio
import json
import logging
import os

import pytest

from cpesim import Fleet, SimulatedCPE, StateStore
from cpesim.cli import main

from .fakeacs import FakeACS, text_of
from .helpers import async_test

IGD = "InternetGatewayDevice."
MS = IGD + "ManagementServer."
SSID = IGD + "LANDevice.1.WLANConfiguration.1.SSID"
TABLE = IGD + "WANDevice.1.WANConnectionDevice."


def spv(*pairs: tuple[str, str], key: str = "k1") -> str:
    items = "".join(
        f'<ParameterValueStruct><Name>{n}</Name><Value xsi:type="xsd:string">{v}</Value></ParameterValueStruct>'
        for n, v in pairs
    )
    return f"<cwmp:SetParameterValues><ParameterList>{items}</ParameterList><ParameterKey>{key}</ParameterKey></cwmp:SetParameterValues>"


PROVISION = spv(
    (MS + "ConnectionRequestUsername", "acs-SIM1"), (MS + "ConnectionRequestPassword", "s3cret")
)
NOTIFY_SSID = (
    "<cwmp:SetParameterAttributes><ParameterList><SetParameterAttributesStruct>"
    f"<Name>{SSID}</Name><NotificationChange>1</NotificationChange><Notification>1</Notification>"
    "<AccessListChange>0</AccessListChange><AccessList></AccessList>"
    "</SetParameterAttributesStruct></ParameterList></cwmp:SetParameterAttributes>"
)


def device(acs: FakeACS, store: StateStore | None, **kwargs) -> SimulatedCPE:
    kwargs.setdefault("acs_url", acs.url)
    return SimulatedCPE(
        "huawei-eg8145v5",
        serial="SIM1",
        cr_username="dump-user",
        cr_password="dump-pw",
        auto_sessions=False,
        state_store=store,
        **kwargs,
    )


@async_test
async def test_a_restarted_device_is_the_device_the_acs_configured(tmp_path):
    store = StateStore(tmp_path)
    async with FakeACS() as acs:
        acs.queue(
            PROVISION,
            spv((SSID, "home"), key="k2"),
            f"<cwmp:AddObject><ObjectName>{TABLE}</ObjectName><ParameterKey>k3</ParameterKey></cwmp:AddObject>",
            f"<cwmp:DeleteObject><ObjectName>{TABLE}1.</ObjectName><ParameterKey>k4</ParameterKey></cwmp:DeleteObject>",
            NOTIFY_SSID,
        )
        first = device(acs, store)
        assert (await first.boot()).ok
        assert acs.sessions[0].events == ["0 BOOTSTRAP", "1 BOOT"]  # factory-fresh
        await first.stop()

        again = device(acs, store)  # the same serial, started anew
        assert again.connection_request_credentials() == ("acs-SIM1", "s3cret")
        assert again.get(SSID) == "home"
        assert again.get(MS + "ParameterKey") == "k4"
        assert again.tree.exists(f"{TABLE}6.") and not again.tree.exists(f"{TABLE}1.")
        assert again.tree.attributes(SSID)[0] == 1
        assert (await again.boot()).ok
        assert acs.sessions[1].events == ["1 BOOT"]  # bootstrapped already
        # The ACS sees the restarted device as the one it knows.
        assert acs.sessions[1].params[MS + "ParameterKey"] == "k4"
        # The next AddObject numbers on from the saved instances.
        acs.queue(
            f"<cwmp:AddObject><ObjectName>{TABLE}</ObjectName><ParameterKey>k5</ParameterKey></cwmp:AddObject>"
        )
        assert (await again.run_session(["2 PERIODIC"])).ok
        assert text_of(acs.sessions[2].response(), "InstanceNumber") == "7"


@async_test
async def test_without_a_store_nothing_is_written_and_the_first_boot_is_1_boot(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    async with FakeACS() as acs:
        acs.queue(PROVISION)
        cpe = device(acs, None)
        assert (await cpe.boot()).ok
        await cpe.stop()
        assert acs.sessions[0].events == ["1 BOOT"]
        assert device(acs, None).connection_request_credentials() == ("dump-user", "dump-pw")
        fleet = Fleet(acs_url=acs.url, count=3, serial_prefix="F")  # as bench builds fleets
        await fleet.run_once()
        await fleet.close()
    assert list(tmp_path.iterdir()) == []


@async_test
async def test_a_device_bootstraps_until_the_acs_acknowledges_it(tmp_path):
    store = StateStore(tmp_path)
    async with FakeACS(inform_status=503) as down:
        assert not (await device(down, store).boot()).ok
    async with FakeACS() as acs:
        cpe = device(acs, store, acs_url=acs.url)
        assert cpe.boot_events() == ["0 BOOTSTRAP", "1 BOOT"]
        assert (await cpe.boot()).ok
        assert acs.sessions[0].events == ["0 BOOTSTRAP", "1 BOOT"]
        assert device(acs, store).boot_events() == ["1 BOOT"]


@async_test
async def test_bootstrap_option_forces_0_bootstrap_and_another_acs_gets_one(tmp_path):
    store = StateStore(tmp_path)
    async with FakeACS() as acs:
        assert (await device(acs, store).boot()).ok
        forced = device(acs, store, bootstrap=True)
        assert forced.boot_events() == ["0 BOOTSTRAP", "1 BOOT"]
        assert (await forced.boot()).ok
        assert device(acs, store).boot_events() == ["1 BOOT"]
        # TR-069: a CPE pointed at another ACS bootstraps with it, keeping its configuration.
        elsewhere = device(acs, store, acs_url=acs.url + "/other")
        assert elsewhere.boot_events() == ["0 BOOTSTRAP", "1 BOOT"]
        assert elsewhere.get(MS + "URL") == acs.url + "/other"


@async_test
async def test_factory_reset_forgets_the_saved_configuration(tmp_path):
    store = StateStore(tmp_path)
    async with FakeACS() as acs:
        acs.queue(PROVISION, spv((SSID, "home")))
        assert (await device(acs, store).boot()).ok
        acs.queue("<cwmp:FactoryReset/>")
        cpe = device(acs, store)
        assert (await cpe.run_session(["1 BOOT"])).ok  # the reset follows the session
        fresh = device(acs, store)
        assert fresh.get(SSID) != "home"
        assert fresh.connection_request_credentials() == ("dump-user", "dump-pw")
        assert fresh.boot_events() == ["0 BOOTSTRAP", "1 BOOT"]
        assert json.loads(store.path_for("SIM1").read_text())["bootstrapped"] is False


@async_test
async def test_factory_reset_store_option_starts_fresh_and_replaces_the_state(tmp_path):
    async with FakeACS() as acs:
        acs.queue(PROVISION)
        assert (await device(acs, StateStore(tmp_path)).boot()).ok
        fresh = device(acs, StateStore(tmp_path, factory_reset=True))
        assert fresh.connection_request_credentials() == ("dump-user", "dump-pw")
        assert (await fresh.boot()).ok
        assert acs.sessions[1].events == ["0 BOOTSTRAP", "1 BOOT"]
        saved = json.loads(StateStore(tmp_path).path_for("SIM1").read_text())
        assert MS + "ConnectionRequestPassword" not in saved["tree"].get("values", {})


@async_test
async def test_a_reboot_in_progress_and_an_unsent_transfer_complete_survive_a_restart(tmp_path):
    store = StateStore(tmp_path)
    async with FakeACS() as acs:
        acs.files["cfg"] = f"{SSID}=from-file\n".encode()
        acs.queue(
            "<cwmp:Download><CommandKey>dl</CommandKey><FileType>3 Vendor Configuration File</FileType>"
            f"<URL>{acs.file_url('cfg')}</URL><Username></Username><Password></Password>"
            "<FileSize>0</FileSize><TargetFileName></TargetFileName><DelaySeconds>0</DelaySeconds>"
            "<SuccessURL></SuccessURL><FailureURL></FailureURL></cwmp:Download>",
            "<cwmp:Reboot><CommandKey>rb</CommandKey></cwmp:Reboot>",
        )
        cpe = device(acs, store, reboot_delay=60)
        assert (await cpe.boot()).ok
        for _ in range(100):  # the download runs after the session
            if cpe.pending_requests:
                break
            await asyncio.sleep(0.02)
        await cpe.stop()  # power cut while rebooting, TransferComplete not yet sent

        again = device(acs, store)
        assert again.get(SSID) == "from-file"
        assert again.pending_requests == ["TransferComplete"]
        assert (await again.boot()).ok
        assert acs.sessions[1].event_keys == [
            ("1 BOOT", ""),
            ("7 TRANSFER COMPLETE", ""),
            ("M Reboot", "rb"),
            ("M Download", "dl"),
        ]
        assert [name for name, _ in acs.sessions[1].cpe_requests] == ["TransferComplete"]
        # Delivered: a third start owes nothing.
        assert device(acs, store).pending_events == []
        assert device(acs, store).pending_requests == []


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '{"format": 1, "dump": "huawei-eg8145v5", "acs_url": "x", "bootstrapped": "yes"}',
        json.dumps(
            {
                "format": 1,
                "dump": "huawei-eg8145v5",
                "acs_url": "x",
                "bootstrapped": True,
                "tree": {"values": {SSID: 5}},
            }
        ),
        '{"format": 99}',
        "\udcff",
    ],
    ids=["not-json", "bad-flag", "bad-value", "other-format", "not-utf8"],
)
def test_an_unreadable_state_is_reported_and_the_device_starts_fresh(tmp_path, caplog, content):
    store = StateStore(tmp_path)
    store.path_for("SIM1").write_bytes(content.encode("utf-8", "surrogateescape"))
    with caplog.at_level(logging.WARNING, logger="cpesim.state"):
        cpe = SimulatedCPE(
            "huawei-eg8145v5", serial="SIM1", acs_url="http://127.0.0.1:9/", state_store=store
        )
    assert "SIM1" in caplog.text and "factory-fresh" in caplog.text
    assert cpe.boot_events() == ["0 BOOTSTRAP", "1 BOOT"]
    assert cpe.tree.values is None


def test_another_dumps_state_is_not_taken(tmp_path, caplog):
    store = StateStore(tmp_path)
    cpe = SimulatedCPE("huawei-eg8145v5", serial="X1", acs_url="http://a/", state_store=store)
    cpe.set(SSID, "mine")
    cpe.save_state()
    with caplog.at_level(logging.WARNING, logger="cpesim.state"):
        other = SimulatedCPE("tplink-ex220", serial="X1", acs_url="http://a/", state_store=store)
    assert "huawei-eg8145v5" in caplog.text and other.tree.values is None


def test_a_failed_write_leaves_the_previous_state_and_no_temporary_file(tmp_path, monkeypatch):
    store = StateStore(tmp_path)
    cpe = SimulatedCPE("huawei-eg8145v5", serial="SIM1", acs_url="http://a/", state_store=store)
    cpe.set(SSID, "one")
    cpe.save_state()
    before = store.path_for("SIM1").read_text()

    def killed(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", killed)
    cpe.set(SSID, "two")
    cpe.save_state()  # reported, not raised
    assert store.path_for("SIM1").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["SIM1.json"]
    monkeypatch.undo()
    cpe.save_state()  # the change is still unsaved: written once the disk is back
    assert json.loads(store.path_for("SIM1").read_text())["tree"]["values"][SSID] == "two"


def test_an_unchanged_device_writes_nothing(tmp_path):
    store = StateStore(tmp_path)
    cpe = SimulatedCPE("huawei-eg8145v5", serial="SIM1", acs_url="http://a/", state_store=store)
    cpe.save_state()
    path = store.path_for("SIM1")
    path.write_text(path.read_text() + " ")  # marks the file: a rewrite would undo it
    cpe.save_state()
    SimulatedCPE("huawei-eg8145v5", serial="SIM1", acs_url="http://a/", state_store=store)
    restarted = SimulatedCPE(
        "huawei-eg8145v5", serial="SIM1", acs_url="http://a/", state_store=store
    )
    restarted.save_state()
    assert path.read_text().endswith(" ")


def test_serials_make_safe_file_names(tmp_path):
    store = StateStore(tmp_path)
    assert store.path_for("../a b/c").name == "..%2Fa%20b%2Fc.json"
    assert store.path_for("../a b/c").parent == tmp_path


@async_test
async def test_cli_saves_state_in_state_dir_and_no_state_saves_none(tmp_path, capsys):
    state_dir = tmp_path / "devices"
    async with FakeACS() as acs:
        acs.queue(PROVISION)
        base = ["--acs-url", acs.url, "--serial-prefix", "CLI", "--count", "2", "--quiet"]
        loop = asyncio.get_running_loop()
        code = await loop.run_in_executor(
            None, main, [*base, "--once", "--state-dir", str(state_dir)]
        )
        assert code == 0
        assert sorted(p.name for p in state_dir.iterdir()) == ["CLI000001.json", "CLI000002.json"]
        saved = [json.loads(p.read_text()) for p in sorted(state_dir.iterdir())]
        assert [s["serial"] for s in saved] == ["CLI000001", "CLI000002"]
        assert all(s["bootstrapped"] for s in saved)
        passwords = [
            s["tree"].get("values", {}).get(MS + "ConnectionRequestPassword") for s in saved
        ]
        assert passwords.count("s3cret") == 1  # the one device the ACS configured
        assert [s.events for s in acs.sessions] == [["0 BOOTSTRAP", "1 BOOT"]] * 2

        code = await loop.run_in_executor(
            None, main, [*base, "--once", "--state-dir", str(state_dir)]
        )
        assert code == 0 and [s.events for s in acs.sessions[2:]] == [["1 BOOT"]] * 2
        code = await loop.run_in_executor(
            None, main, [*base, "--once", "--state-dir", str(state_dir), "--factory-reset"]
        )
        assert code == 0 and [s.events for s in acs.sessions[4:]] == [["0 BOOTSTRAP", "1 BOOT"]] * 2

        code = await loop.run_in_executor(
            None, main, [*base, "--once", "--no-state", "--serial-prefix", "NONE"]
        )
        assert code == 0 and [s.events for s in acs.sessions[6:]] == [["1 BOOT"]] * 2
        assert not any(p.name.startswith("NONE") for p in state_dir.iterdir())
        assert main([*base, "--no-state", "--factory-reset"]) == 2
    capsys.readouterr()


def test_cli_default_state_dir_is_var_cpesim_or_the_environment(tmp_path, monkeypatch):
    from cpesim.state import default_dir

    monkeypatch.delenv("CPESIM_STATE_DIR")
    assert str(default_dir()) == os.path.join("var", "cpesim")
    monkeypatch.setenv("CPESIM_STATE_DIR", str(tmp_path))
    assert default_dir() == tmp_path
