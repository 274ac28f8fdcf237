"""Every ACS RPC answered like a real CPE, over real HTTP against the fake ACS."""

from __future__ import annotations

import asyncio

import pytest

from cpesim import SimulatedCPE

from .fakeacs import FakeACS, find, findall, text_of
from .helpers import async_test

IGD = "InternetGatewayDevice."
GPV_ONE = (
    "<cwmp:GetParameterValues><ParameterNames><string>"
    "InternetGatewayDevice.DeviceInfo.SoftwareVersion</string></ParameterNames>"
    "</cwmp:GetParameterValues>"
)
SSID = "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.SSID"


async def exchange(*bodies: str, dump: str = "huawei-eg8145v5", **kwargs):
    """One session in which the ACS sends `bodies`; returns (cpe, result, fake session)."""
    async with FakeACS() as acs:
        acs.queue(*bodies)
        cpe = SimulatedCPE(dump, acs_url=acs.url, auto_sessions=False, **kwargs)
        result = await cpe.run_session(["1 BOOT"])
        assert result.ok, result
        return cpe, result, acs.sessions[0]


def fault(el) -> tuple[int, list[tuple[str, int]]]:
    detail = find(el, "detail", "Fault")
    spv = [
        (text_of(f, "ParameterName"), int(text_of(f, "FaultCode")))
        for f in findall(detail, "SetParameterValuesFault")
    ]
    return int(text_of(detail, "FaultCode")), spv


def gpn(path: str, next_level: bool) -> str:
    return (
        f"<cwmp:GetParameterNames><ParameterPath>{path}</ParameterPath>"
        f"<NextLevel>{'true' if next_level else 'false'}</NextLevel></cwmp:GetParameterNames>"
    )


def gpv(*names: str) -> str:
    items = "".join(f"<string>{n}</string>" for n in names)
    return f'<cwmp:GetParameterValues><ParameterNames soapenc:arrayType="xsd:string[{len(names)}]">{items}</ParameterNames></cwmp:GetParameterValues>'


def spv(*pairs: tuple[str, str, str], key: str = "k1") -> str:
    items = "".join(
        f'<ParameterValueStruct><Name>{n}</Name><Value xsi:type="{t}">{v}</Value></ParameterValueStruct>'
        for n, v, t in pairs
    )
    return f"<cwmp:SetParameterValues><ParameterList>{items}</ParameterList><ParameterKey>{key}</ParameterKey></cwmp:SetParameterValues>"


def names_of(el) -> list[str]:
    return [text_of(s, "Name") for s in findall(find(el, "ParameterList"), "ParameterInfoStruct")]


def values_of(el) -> dict[str, str]:
    return {
        text_of(s, "Name"): text_of(s, "Value")
        for s in findall(find(el, "ParameterList"), "ParameterValueStruct")
    }


@async_test
async def test_get_rpc_methods_lists_what_is_supported():
    _, result, session = await exchange("<cwmp:GetRPCMethods/>", unsupported={"Reboot"})
    methods = [s.text for s in find(session.response(), "MethodList")]
    assert "GetParameterValues" in methods and "Download" in methods and "Reboot" not in methods
    assert result.rpcs == ["GetRPCMethods"]


@async_test
async def test_get_parameter_names_levels_and_faults():
    _, result, s = await exchange(
        gpn("", True),
        gpn(IGD + "LANDevice.1.WLANConfiguration.", True),
        gpn(IGD + "DeviceInfo.", False),
        gpn(SSID, False),
        gpn(IGD + "NoSuchThing.", False),
        gpn(SSID, True),
    )
    assert names_of(s.response(0)) == [IGD]
    assert names_of(s.response(1))[:2] == [
        IGD + "LANDevice.1.WLANConfiguration.1.",
        IGD + "LANDevice.1.WLANConfiguration.5.",  # the Huawei numbers its 5 GHz radio 5
    ]
    deep = names_of(s.response(2))
    assert deep[0] == IGD + "DeviceInfo." and IGD + "DeviceInfo.SoftwareVersion" in deep
    writable = {
        text_of(x, "Name"): text_of(x, "Writable")
        for x in findall(find(s.response(2), "ParameterList"), "ParameterInfoStruct")
    }
    assert writable[IGD + "DeviceInfo.ProvisioningCode"] == "true"
    assert writable[IGD + "DeviceInfo.SoftwareVersion"] == "false"
    assert names_of(s.response(3)) == [SSID]
    assert s.responses[4][0] == "Fault" and fault(s.response(4))[0] == 9005
    assert fault(s.response(5))[0] == 9003  # NextLevel true on a parameter
    assert result.faults_sent == [("GetParameterNames", 9005), ("GetParameterNames", 9003)]


@async_test
async def test_get_parameter_values_expands_partial_paths():
    cpe, _, s = await exchange(
        gpv(SSID, IGD + "DeviceInfo."),
        gpv(SSID, IGD + "Nope"),
    )
    values = values_of(s.response(0))
    assert values[SSID] == cpe.get(SSID)
    assert values[IGD + "DeviceInfo.SerialNumber"] == "48575443A94196A5"
    assert len(values) > 10
    types = {
        text_of(x, "Name"): find(x, "Value").get("{http://www.w3.org/2001/XMLSchema-instance}type")
        for x in findall(find(s.response(0), "ParameterList"), "ParameterValueStruct")
    }
    assert types[IGD + "DeviceInfo.UpTime"] == "xsd:unsignedInt"
    assert fault(s.response(1))[0] == 9005


@async_test
async def test_set_parameter_values_updates_the_tree_and_parameter_key():
    enable = IGD + "LANDevice.1.WLANConfiguration.1.Enable"
    cpe, _, s = await exchange(
        spv((SSID, "sim-net", "xsd:string"), (enable, "0", "xsd:boolean"), key="pk-42"),
        gpv(IGD + "ManagementServer.ParameterKey", SSID),
    )
    assert s.responses[0][0] == "SetParameterValuesResponse"
    assert text_of(s.response(0), "Status") == "0"
    assert cpe.get(SSID) == "sim-net"
    assert cpe.get(enable) == "0"
    assert values_of(s.response(1)) == {
        IGD + "ManagementServer.ParameterKey": "pk-42",
        SSID: "sim-net",
    }


@async_test
async def test_set_parameter_values_faults_are_per_parameter_and_atomic():
    interval = IGD + "ManagementServer.PeriodicInformInterval"
    cpe, result, s = await exchange(
        spv(
            (SSID, "changed", "xsd:string"),
            (IGD + "Bogus.Param", "1", "xsd:string"),
            (IGD + "DeviceInfo.SoftwareVersion", "x", "xsd:string"),
            (interval, "soon", "xsd:unsignedInt"),
            (interval + "X", "1", "xsd:unsignedInt"),
        ),
        spv((IGD + "LANDevice.1.WLANConfiguration.1.Enable", "maybe", "xsd:boolean")),
    )
    code, entries = fault(s.response(0))
    assert code == 9003
    assert entries == [
        (IGD + "Bogus.Param", 9005),
        (IGD + "DeviceInfo.SoftwareVersion", 9008),
        (interval, 9007),
        (interval + "X", 9005),
    ]
    assert cpe.get(SSID) != "changed"  # nothing applied
    assert fault(s.response(1)) == (9003, [(IGD + "LANDevice.1.WLANConfiguration.1.Enable", 9007)])
    assert [c for _, c in result.faults_sent] == [9003, 9003]


@async_test
async def test_parameter_attributes_round_trip():
    name = IGD + "DeviceInfo.ProvisioningCode"
    body = (
        "<cwmp:SetParameterAttributes><ParameterList><SetParameterAttributesStruct>"
        f"<Name>{SSID}</Name><NotificationChange>1</NotificationChange><Notification>1</Notification>"
        "<AccessListChange>1</AccessListChange><AccessList><string>Subscriber</string></AccessList>"
        "</SetParameterAttributesStruct></ParameterList></cwmp:SetParameterAttributes>"
    )
    ask = f"<cwmp:GetParameterAttributes><ParameterNames><string>{SSID}</string><string>{name}</string></ParameterNames></cwmp:GetParameterAttributes>"
    bad = body.replace("<Notification>1</Notification>", "<Notification>7</Notification>")
    missing = ask.replace(SSID, IGD + "Nope")
    _, _, s = await exchange(body, ask, bad, missing)
    assert s.responses[0][0] == "SetParameterAttributesResponse"
    attrs = {
        text_of(x, "Name"): (text_of(x, "Notification"), [a.text for a in find(x, "AccessList")])
        for x in findall(find(s.response(1), "ParameterList"), "ParameterAttributeStruct")
    }
    assert attrs == {
        SSID: ("1", ["Subscriber"]),
        name: ("2", []),
    }  # ProvisioningCode: forced active
    assert fault(s.response(2))[0] == 9003
    assert fault(s.response(3))[0] == 9005


@async_test
async def test_add_and_delete_object():
    table = IGD + "WANDevice.1.WANConnectionDevice."
    add = f"<cwmp:AddObject><ObjectName>{table}</ObjectName><ParameterKey>a1</ParameterKey></cwmp:AddObject>"
    cpe, _, s = await exchange(
        add,
        f"<cwmp:AddObject><ObjectName>{table}5.WANIPConnection.</ObjectName><ParameterKey>a2</ParameterKey></cwmp:AddObject>",
        f"<cwmp:DeleteObject><ObjectName>{table}1.</ObjectName><ParameterKey>d1</ParameterKey></cwmp:DeleteObject>",
        f"<cwmp:AddObject><ObjectName>{IGD}DeviceInfo.</ObjectName><ParameterKey>x</ParameterKey></cwmp:AddObject>",
        f"<cwmp:DeleteObject><ObjectName>{table}99.</ObjectName><ParameterKey>x</ParameterKey></cwmp:DeleteObject>",
        gpn(table, True),
    )
    assert (text_of(s.response(0), "InstanceNumber"), text_of(s.response(0), "Status")) == (
        "6",
        "0",
    )
    assert text_of(s.response(1), "InstanceNumber") == "2"
    assert text_of(s.response(2), "Status") == "0"
    assert fault(s.response(3))[0] == 9005
    assert fault(s.response(4))[0] == 9005
    instances = names_of(s.response(5))
    assert f"{table}1." not in instances and f"{table}6." in instances
    assert cpe.get(f"{table}5.WANIPConnection.2.ConnectionType") == ""
    assert cpe.get(IGD + "ManagementServer.ParameterKey") == "d1"


@async_test
async def test_unknown_and_refused_methods_get_fault_9000():
    _, result, s = await exchange(
        "<cwmp:X_ACME_Frobnicate/>",
        "<cwmp:FactoryReset/>",
        "<cwmp:GetOptions><OptionName>x</OptionName></cwmp:GetOptions>",
        "<cwmp:SetVouchers><VoucherList/></cwmp:SetVouchers>",
        unsupported="Reboot,FactoryReset",
    )
    assert fault(s.response(0))[0] == 9000
    assert fault(s.response(1))[0] == 9000
    assert s.responses[2][0] == "GetOptionsResponse"
    assert s.responses[3][0] == "SetVouchersResponse"
    assert result.faults_sent == [("X_ACME_Frobnicate", 9000), ("FactoryReset", 9000)]


@async_test
async def test_responses_echo_the_id_and_namespace_of_the_request():
    async with FakeACS(ns="urn:dslforum-org:cwmp-1-2") as acs:
        acs.queue(gpv(SSID))
        cpe = SimulatedCPE("huawei-eg8145v5", acs_url=acs.url)
        assert (await cpe.run_session()).ok
        inform, reply = acs.requests[0], acs.requests[2]
        assert (
            b'xmlns:cwmp="urn:dslforum-org:cwmp-1-0"' in inform.body
        )  # own requests: configured ns
        assert b'xmlns:cwmp="urn:dslforum-org:cwmp-1-2"' in reply.body  # answers: the ACS's ns
        assert text_of(reply.root, "Header", "ID") == "acs-1"


@async_test
async def test_tr181_device_answers_in_its_own_tree():
    _, _, s = await exchange(
        gpv("Device.DeviceInfo.SoftwareVersion"), gpn("", True), dump="tplink-ex220"
    )
    assert values_of(s.response(0)) == {
        "Device.DeviceInfo.SoftwareVersion": "0.14.0 2.0.0 v605f.0 Build 221227 Rel.55257n"
    }
    assert names_of(s.response(1)) == ["Device."]
    assert s.params["Device.RootDataModelVersion"] == "2.4"


@async_test
async def test_reboot_ends_the_session_then_boots_with_m_reboot():
    async with FakeACS() as acs:
        acs.queue("<cwmp:Reboot><CommandKey>rb-1</CommandKey></cwmp:Reboot>")
        cpe = SimulatedCPE("zte-h199a", acs_url=acs.url)
        first = await cpe.run_session(["1 BOOT"])
        assert first.ok and first.rpcs == ["Reboot"]
        second = await cpe.wait_session(5, after=1)
        assert second.ok
        assert acs.sessions[1].event_keys == [("1 BOOT", ""), ("M Reboot", "rb-1")]
        await cpe.stop()


@async_test
async def test_factory_reset_restores_the_dump_and_bootstraps():
    async with FakeACS() as acs:
        acs.queue(spv((SSID, "custom", "xsd:string")), "<cwmp:FactoryReset/>")
        cpe = SimulatedCPE("huawei-eg8145v5", acs_url=acs.url, username="u1", password="p1")
        assert (await cpe.run_session(["1 BOOT"])).ok
        await cpe.wait_session(5, after=1)
        assert acs.sessions[1].events == ["0 BOOTSTRAP", "1 BOOT"]
        assert cpe.get(SSID) != "custom"
        assert cpe.get(IGD + "ManagementServer.Username") == "u1"  # identity survives the reset
        await cpe.stop()


@async_test
async def test_schedule_inform_starts_a_scheduled_session():
    async with FakeACS() as acs:
        acs.queue(
            "<cwmp:ScheduleInform><DelaySeconds>0</DelaySeconds><CommandKey>si</CommandKey></cwmp:ScheduleInform>"
        )
        cpe = SimulatedCPE("tplink-ec220-v3", acs_url=acs.url)
        assert (await cpe.run_session(["1 BOOT"])).ok
        await cpe.wait_session(5, after=1)
        assert acs.sessions[1].event_keys == [("3 SCHEDULED", ""), ("M ScheduleInform", "si")]
        await cpe.stop()


@async_test
async def test_change_du_state_reports_completion_in_a_new_session():
    async with FakeACS() as acs:
        acs.queue(
            "<cwmp:ChangeDUState><Operations><InstallOpStruct><URL>http://127.0.0.1/du</URL>"
            "<UUID>u-1</UUID></InstallOpStruct></Operations><CommandKey>du</CommandKey></cwmp:ChangeDUState>"
        )
        cpe = SimulatedCPE("tplink-ex220", acs_url=acs.url)
        assert (await cpe.run_session(["1 BOOT"])).ok
        await cpe.wait_session(5, after=1)
        session = acs.sessions[1]
        assert session.events == ["11 DU STATE CHANGE COMPLETE", "M ChangeDUState"]
        name, element = session.cpe_requests[0]
        assert name == "DUStateChangeComplete"
        assert text_of(element, "Results", "OpResultStruct", "CurrentState") == "Installed"
        await cpe.stop()


def _download(
    url: str,
    key: str = "dl",
    file_type: str = "1 Firmware Upgrade Image",
    size: int = 0,
    user: str = "",
    pw: str = "",
) -> str:
    return (
        f"<cwmp:Download><CommandKey>{key}</CommandKey><FileType>{file_type}</FileType><URL>{url}</URL>"
        f"<Username>{user}</Username><Password>{pw}</Password><FileSize>{size}</FileSize>"
        "<TargetFileName></TargetFileName><DelaySeconds>0</DelaySeconds>"
        "<SuccessURL></SuccessURL><FailureURL></FailureURL></cwmp:Download>"
    )


@async_test
async def test_download_fetches_over_loopback_and_reports_transfer_complete():
    async with FakeACS(file_auth=("fw", "fwpass")) as acs:
        image = b"CPESIM-FIRMWARE version=V9.9.9\n" + b"\0" * 1000
        acs.files["fw.bin"] = image
        acs.queue(
            _download(acs.file_url("fw.bin"), size=len(image), user="fw", pw="fwpass"),
            "<cwmp:GetQueuedTransfers/>",
        )
        cpe = SimulatedCPE("huawei-eg8145v5", acs_url=acs.url)
        first = await cpe.run_session(["1 BOOT"])
        assert first.ok
        reply = acs.sessions[0].response(0)
        assert text_of(reply, "Status") == "1"
        queued = acs.sessions[0].response(1)
        assert text_of(queued, "TransferList", "QueuedTransferStruct", "CommandKey") == "dl"
        await cpe.wait_session(5, after=1)
        session = acs.sessions[1]
        assert session.event_keys == [
            ("1 BOOT", ""),
            ("7 TRANSFER COMPLETE", ""),
            ("M Download", "dl"),
        ]
        name, tc = session.cpe_requests[0]
        assert name == "TransferComplete"
        assert (text_of(tc, "CommandKey"), text_of(tc, "FaultStruct", "FaultCode")) == ("dl", "0")
        assert text_of(tc, "CompleteTime") != "0001-01-01T00:00:00Z"
        assert session.params[IGD + "DeviceInfo.SoftwareVersion"] == "V9.9.9"
        assert cpe.transfers == []
        await cpe.stop()


@pytest.mark.parametrize(
    ("where", "size", "message"),
    [
        ("loopback", 5, "size mismatch"),
        ("missing", 0, "HTTP 404"),
        ("remote", 0, "not a loopback host"),
    ],
)
@async_test
async def test_download_failures_report_9010(where, size, message):
    async with FakeACS() as acs:
        acs.files["cfg.txt"] = b"abc"
        url = {
            "loopback": acs.file_url("cfg.txt"),
            "missing": acs.file_url("nope.bin"),
            "remote": "http://acs.invalid/fw.bin",  # refused before any connection is made
        }[where]
        acs.queue(_download(url, key="bad", file_type="3 Vendor Configuration File", size=size))
        cpe = SimulatedCPE("nokia-g1425ga", acs_url=acs.url)
        assert (await cpe.run_session(["1 BOOT"])).ok
        await cpe.wait_session(5, after=1)
        _, tc = acs.sessions[1].cpe_requests[0]
        assert text_of(tc, "FaultStruct", "FaultCode") == "9010"
        assert message in text_of(tc, "FaultStruct", "FaultString")
        assert acs.sessions[1].events == [
            "7 TRANSFER COMPLETE",
            "M Download",
        ]  # no reboot on failure
        await cpe.stop()


@async_test
async def test_upload_puts_the_configuration_and_a_config_download_applies_it():
    async with FakeACS() as acs:
        acs.queue(
            "<cwmp:Upload><CommandKey>up</CommandKey><FileType>1 Vendor Configuration File</FileType>"
            f"<URL>{acs.upload_url('cfg')}</URL><Username></Username><Password></Password>"
            "<DelaySeconds>0</DelaySeconds></cwmp:Upload>"
        )
        cpe = SimulatedCPE("huawei-eg8145v5", acs_url=acs.url)
        assert (await cpe.run_session(["1 BOOT"])).ok
        await cpe.wait_session(5, after=1)
        assert acs.sessions[1].event_keys == [("7 TRANSFER COMPLETE", ""), ("M Upload", "up")]
        config = acs.uploads["cfg"].decode()
        assert f"{SSID}={cpe.get(SSID)}" in config
        # Restore onto another device through a Download of type 3.
        acs.files["cfg"] = config.replace(f"{SSID}={cpe.get(SSID)}", f"{SSID}=restored").encode()
        other = SimulatedCPE("huawei-eg8145v5", serial="OTHER1", acs_url=acs.url)
        acs.queue(_download(acs.file_url("cfg"), key="r", file_type="3 Vendor Configuration File"))
        assert (await other.run_session(["1 BOOT"])).ok
        await other.wait_session(5, after=1)
        assert other.get(SSID) == "restored"
        await cpe.stop()
        await other.stop()


@async_test
async def test_queued_transfers_and_cancel():
    async with FakeACS() as acs:
        url = acs.file_url("later.bin")
        acs.queue(
            _download(url, key="k1"),
            "<cwmp:GetAllQueuedTransfers/>",
            "<cwmp:CancelTransfer><CommandKey>k1</CommandKey></cwmp:CancelTransfer>",
            "<cwmp:CancelTransfer><CommandKey>k1</CommandKey></cwmp:CancelTransfer>",
            "<cwmp:GetQueuedTransfers/>",
        )
        cpe = SimulatedCPE("huawei-eg8145v5", acs_url=acs.url)
        assert (await cpe.run_session(["1 BOOT"])).ok
        await asyncio.sleep(0.1)
        assert len(acs.sessions) == 1  # the cancelled download never runs nor reports
        s = acs.sessions[0]
        entry = find(s.response(1), "TransferList", "AllQueuedTransferStruct")
        assert (
            text_of(entry, "CommandKey"),
            text_of(entry, "State"),
            text_of(entry, "IsDownload"),
        ) == ("k1", "1", "true")
        assert s.responses[2][0] == "CancelTransferResponse"
        assert fault(s.response(3))[0] == 9003  # nothing left to cancel
        assert len(find(s.response(4), "TransferList")) == 0
        assert cpe.transfers == []
        await cpe.stop()


@async_test
async def test_schedule_download_reports_with_m_schedule_download():
    async with FakeACS() as acs:
        acs.files["fw2.bin"] = b"firmware"
        acs.queue(
            "<cwmp:ScheduleDownload><CommandKey>sd</CommandKey><FileType>1 Firmware Upgrade Image</FileType>"
            f"<URL>{acs.file_url('fw2.bin')}</URL><Username></Username><Password></Password><FileSize>8</FileSize>"
            "<TargetFileName>V2.0.1.bin</TargetFileName><TimeWindowList><TimeWindowStruct><WindowStart>0</WindowStart>"
            "<WindowEnd>60</WindowEnd><WindowMode>1 At Any Time</WindowMode><UserMessage></UserMessage>"
            "<MaxRetries>0</MaxRetries></TimeWindowStruct></TimeWindowList></cwmp:ScheduleDownload>"
        )
        cpe = SimulatedCPE("tplink-ex220", acs_url=acs.url)
        assert (await cpe.run_session(["1 BOOT"])).ok
        assert acs.sessions[0].responses[0][0] == "ScheduleDownloadResponse"
        await cpe.wait_session(5, after=1)
        assert acs.sessions[1].event_keys == [
            ("1 BOOT", ""),
            ("7 TRANSFER COMPLETE", ""),
            ("M ScheduleDownload", "sd"),
        ]
        assert cpe.get("Device.DeviceInfo.SoftwareVersion") == "V2.0.1"  # from the target file name
        await cpe.stop()


@async_test
async def test_download_no_fetch_claims_status_0():
    async with FakeACS() as acs:
        acs.files["fw.bin"] = b"CPESIM-FIRMWARE version=V9\n"
        acs.queue(_download(acs.file_url("fw.bin")))
        cpe = SimulatedCPE("huawei-eg8145v5", acs_url=acs.url, quirks="download-no-fetch")
        assert (await cpe.run_session(["1 BOOT"])).ok
        reply = acs.sessions[0].response(0)
        assert text_of(reply, "Status") == "0"
        assert text_of(reply, "CompleteTime") != "0001-01-01T00:00:00Z"
        with pytest.raises(TimeoutError):
            await cpe.wait_session(0.5, after=1)
        assert [r.target for r in acs.requests if r.method == "GET"] == []
        assert cpe.transfers == [] and cpe.pending_requests == []
        await cpe.stop()


@async_test
async def test_transfer_complete_without_its_event_waits_for_the_next_session():
    async with FakeACS() as acs:
        acs.files["cfg"] = b"x"
        acs.queue(_download(acs.file_url("cfg"), key="k", file_type="3 Vendor Configuration File"))
        cpe = SimulatedCPE("huawei-eg8145v5", acs_url=acs.url, quirks="transfer-complete-no-event")
        assert (await cpe.run_session(["1 BOOT"])).ok
        async with asyncio.timeout(5):
            while cpe.pending_requests != ["TransferComplete"]:
                await asyncio.sleep(0.01)
        with pytest.raises(TimeoutError):
            await cpe.wait_session(0.3, after=1)  # it starts no session for it
        assert (await cpe.run_session()).ok
        session = acs.sessions[1]
        assert session.events == ["2 PERIODIC"]
        assert [name for name, _ in session.cpe_requests] == ["TransferComplete"]
        await cpe.stop()


@async_test
async def test_reboot_after_download_drops_the_session_and_reports_after_boot():
    async with FakeACS() as acs:
        acs.files["cfg"] = b"x"
        acs.queue(
            _download(acs.file_url("cfg"), key="k", file_type="3 Vendor Configuration File"),
            GPV_ONE,
        )
        cpe = SimulatedCPE("huawei-eg8145v5", acs_url=acs.url, quirks="reboot-after-download")
        first = await cpe.run_session(["1 BOOT"])
        assert first.ok and first.rpcs == ["Download"]
        assert first.transcript[-1] == ("--", "rebooting", 0)
        assert [name for name, _ in acs.sessions[0].responses] == ["DownloadResponse"]
        await cpe.wait_session(5, after=1)
        session = acs.sessions[1]
        assert session.event_keys == [
            ("1 BOOT", ""),
            ("7 TRANSFER COMPLETE", ""),
            ("M Download", "k"),
        ]
        assert [name for name, _ in session.cpe_requests] == ["TransferComplete"]
        await cpe.stop()
