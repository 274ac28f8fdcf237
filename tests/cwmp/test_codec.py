"""cwmp.protocol.codec: round trips for every message, the CPE quirks it must tolerate,
and the hostile bodies it must refuse quickly. No database, no Django."""

from __future__ import annotations

import re
import time
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest
from lxml import etree

from cwmp.protocol import codec
from cwmp.protocol import messages as m
from cwmp.protocol.codec import CodecError, is_empty, parse, reader, serialize

_M = TypeVar("_M", bound=m.Message)


def body_of(data: bytes | bytearray | memoryview, kind: type[_M]) -> _M:
    """The parsed message, checked to be the kind the test expects."""
    body = parse(data).body
    assert isinstance(body, kind), body
    return body


NS10, NS11, NS12, NS13 = m.CWMP_NS_1_0, m.CWMP_NS_1_1, m.CWMP_NS_1_2, m.CWMP_NS_1_3
T0 = datetime(2024, 3, 5, 6, 22, 1, tzinfo=UTC)
T1 = datetime(2024, 3, 5, 6, 23, 40, 250000, tzinfo=UTC)
NASTY = "Ünïcødé ✓ 日本語 <&>\"' ]]> end"
UUID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def _fault_struct(code: int = 0) -> m.FaultStruct:
    return m.FaultStruct(fault_code=code, fault_string=m.FAULT_STRINGS.get(code, ""))


def _result(cls: type = m.OpResultStruct, **overrides: object) -> Any:
    # Either result struct (OpResultStruct or AutonOpResultStruct), built from one set of values.
    values: dict[str, object] = {
        "uuid": UUID,
        "deployment_unit_ref": "Device.SoftwareModules.DeploymentUnit.1",
        "version": "2.1.0",
        "current_state": "Installed",
        "resolved": True,
        "execution_unit_ref_list": "Device.SoftwareModules.ExecutionUnit.1",
        "start_time": T0,
        "complete_time": T1,
        "fault": _fault_struct(),
    }
    values.update(overrides)
    return cls(**values)


PARAMS = [
    m.ParameterValueStruct("Device.DeviceInfo.SoftwareVersion", "V5R020C10S115", "xsd:string"),
    m.ParameterValueStruct(
        "Device.ManagementServer.PeriodicInformInterval", "86400", "xsd:unsignedInt"
    ),
    m.ParameterValueStruct("Device.WiFi.SSID.1.Enable", "1", "xsd:boolean"),
    m.ParameterValueStruct("Device.WiFi.SSID.1.SSID", NASTY, "xsd:string"),
    m.ParameterValueStruct("Device.X_VENDOR.Banner", "  line1\r\n\tline2  ", "xsd:string"),
    m.ParameterValueStruct(
        "Device.Time.CurrentLocalTime", "2024-03-05T07:22:01+01:00", "xsd:dateTime"
    ),
]

#: One realistic instance of every message of Amendment 6.
SAMPLES: dict[str, m.Message] = {
    "GetRPCMethods": m.GetRPCMethods(),
    "GetRPCMethodsResponse": m.GetRPCMethodsResponse(
        method_list=["GetRPCMethods", "GetParameterValues", "X_00E0FC_Ping"]
    ),
    "SetParameterValues": m.SetParameterValues(parameter_list=PARAMS, parameter_key="pk-<&>"),
    "SetParameterValuesResponse": m.SetParameterValuesResponse(status=1),
    "GetParameterValues": m.GetParameterValues(
        parameter_names=["Device.DeviceInfo.", "Device.WiFi.SSID.1.SSID", NASTY]
    ),
    "GetParameterValuesResponse": m.GetParameterValuesResponse(parameter_list=PARAMS),
    "GetParameterNames": m.GetParameterNames(parameter_path="Device.WiFi.", next_level=True),
    "GetParameterNamesResponse": m.GetParameterNamesResponse(
        parameter_list=[
            m.ParameterInfoStruct("Device.WiFi.SSID.", False),
            m.ParameterInfoStruct("Device.WiFi.SSID.1.SSID", True),
        ]
    ),
    "SetParameterAttributes": m.SetParameterAttributes(
        parameter_list=[
            m.SetParameterAttributesStruct(
                "Device.WiFi.SSID.1.SSID", True, 2, True, ["Subscriber"]
            ),
            m.SetParameterAttributesStruct("Device.Hosts.", False, 0, False, []),
        ]
    ),
    "SetParameterAttributesResponse": m.SetParameterAttributesResponse(),
    "GetParameterAttributes": m.GetParameterAttributes(parameter_names=["Device.WiFi."]),
    "GetParameterAttributesResponse": m.GetParameterAttributesResponse(
        parameter_list=[
            m.ParameterAttributeStruct("Device.WiFi.SSID.1.SSID", 2, ["Subscriber"]),
            m.ParameterAttributeStruct("Device.WiFi.SSID.1.Enable", 0, []),
        ]
    ),
    "AddObject": m.AddObject(object_name="Device.NAT.PortMapping.", parameter_key="add-1"),
    "AddObjectResponse": m.AddObjectResponse(instance_number=7, status=0),
    "DeleteObject": m.DeleteObject(object_name="Device.NAT.PortMapping.7.", parameter_key=""),
    "DeleteObjectResponse": m.DeleteObjectResponse(status=1),
    "Download": m.Download(
        command_key="fw-2024-03",
        file_type="1 Firmware Upgrade Image",
        url="https://files.example.net/fw.bin?a=1&b=<2>",
        username="cpe",
        password="p&ss\"word'",
        file_size=31457280,
        target_file_name="fw.bin",
        delay_seconds=30,
        success_url="https://portal.example.net/ok",
        failure_url="",
    ),
    "DownloadResponse": m.DownloadResponse(status=1, start_time=None, complete_time=None),
    "Reboot": m.Reboot(command_key="reboot ✓"),
    "RebootResponse": m.RebootResponse(),
    "GetQueuedTransfers": m.GetQueuedTransfers(),
    "GetQueuedTransfersResponse": m.GetQueuedTransfersResponse(
        transfer_list=[m.QueuedTransferStruct("fw-2024-03", 2), m.QueuedTransferStruct("cfg", 1)]
    ),
    "ScheduleInform": m.ScheduleInform(delay_seconds=600, command_key="si-1"),
    "ScheduleInformResponse": m.ScheduleInformResponse(),
    "SetVouchers": m.SetVouchers(voucher_list=["QUJDRA==", "RUZHSA=="]),
    "SetVouchersResponse": m.SetVouchersResponse(),
    "GetOptions": m.GetOptions(option_name="X_00E0FC_Feature"),
    "GetOptionsResponse": m.GetOptionsResponse(
        option_list=[
            m.OptionStruct("X_00E0FC_Feature", 12, 1, 0, T0, T1, 1),
            m.OptionStruct("X_00E0FC_Other", 13, 0, 2, None, None, 0),
        ]
    ),
    "Upload": m.Upload(
        command_key="log-1",
        file_type="2 Vendor Log File",
        url="https://upload.example.net/log",
        username="u",
        password="p",
        delay_seconds=0,
    ),
    "UploadResponse": m.UploadResponse(status=0, start_time=T0, complete_time=T1),
    "FactoryReset": m.FactoryReset(),
    "FactoryResetResponse": m.FactoryResetResponse(),
    "GetAllQueuedTransfers": m.GetAllQueuedTransfers(),
    "GetAllQueuedTransfersResponse": m.GetAllQueuedTransfersResponse(
        transfer_list=[
            m.AllQueuedTransferStruct("fw", 2, True, "1 Firmware Upgrade Image", 1024, "fw.bin"),
            m.AllQueuedTransferStruct("", 1, False, "2 Vendor Log File", 0, ""),
        ]
    ),
    "ScheduleDownload": m.ScheduleDownload(
        command_key="sd-1",
        file_type="1 Firmware Upgrade Image",
        url="https://files.example.net/fw.bin",
        username="",
        password="",
        file_size=2048,
        target_file_name="fw.bin",
        time_window_list=[
            m.TimeWindowStruct(0, 3600, "1 At Any Time", "", -1),
            m.TimeWindowStruct(7200, 10800, "2 Immediately", "Updating ✓ <soon>", 3),
        ],
    ),
    "ScheduleDownloadResponse": m.ScheduleDownloadResponse(),
    "CancelTransfer": m.CancelTransfer(command_key="sd-1"),
    "CancelTransferResponse": m.CancelTransferResponse(),
    "ChangeDUState": m.ChangeDUState(
        operations=[
            m.InstallOpStruct(
                url="https://apps.example.net/app.ipk",
                uuid=UUID,
                username="u",
                password="p",
                execution_env_ref="Device.SoftwareModules.ExecEnv.1",
            ),
            m.InstallOpStruct(url="https://apps.example.net/min.ipk"),
            m.UpdateOpStruct(uuid=UUID, version="2.1.0", url="https://apps.example.net/v2"),
            m.UninstallOpStruct(uuid=UUID, version="2.1.0"),
        ],
        command_key="du-1",
    ),
    "ChangeDUStateResponse": m.ChangeDUStateResponse(),
    "Inform": m.Inform(
        device_id=m.DeviceIdStruct(
            "Huawei Technologies Co., Ltd", "00E0FC", "EG8145V5", "4857544312AB34CD"
        ),
        event=[m.EventStruct("1 BOOT", ""), m.EventStruct("M Reboot", "reboot ✓")],
        max_envelopes=1,
        current_time=T1,
        retry_count=2,
        parameter_list=PARAMS,
    ),
    "InformResponse": m.InformResponse(max_envelopes=1),
    "TransferComplete": m.TransferComplete(
        command_key="fw-2024-03", fault_struct=_fault_struct(9010), start_time=T0, complete_time=T1
    ),
    "TransferCompleteResponse": m.TransferCompleteResponse(),
    "AutonomousTransferComplete": m.AutonomousTransferComplete(
        announce_url="http://239.0.0.1/announce",
        transfer_url="https://files.example.net/cfg.xml",
        is_download=True,
        file_type="3 Vendor Configuration File",
        file_size=4096,
        target_file_name="cfg.xml",
        fault_struct=_fault_struct(0),
        start_time=T0,
        complete_time=T1,
    ),
    "AutonomousTransferCompleteResponse": m.AutonomousTransferCompleteResponse(),
    "DUStateChangeComplete": m.DUStateChangeComplete(
        results=[_result(), _result(current_state="Failed", resolved=False)], command_key="du-1"
    ),
    "DUStateChangeCompleteResponse": m.DUStateChangeCompleteResponse(),
    "AutonomousDUStateChangeComplete": m.AutonomousDUStateChangeComplete(
        results=[_result(m.AutonOpResultStruct, operation_performed="Install")]
    ),
    "AutonomousDUStateChangeCompleteResponse": m.AutonomousDUStateChangeCompleteResponse(),
    "RequestDownload": m.RequestDownload(
        file_type="3 Vendor Configuration File",
        file_type_arg=[m.ArgStruct("Version", "1.2"), m.ArgStruct("Note", NASTY)],
    ),
    "RequestDownloadResponse": m.RequestDownloadResponse(),
    "Kicked": m.Kicked(
        command="setup", referer="http://192.168.1.1/", arg="a=1&b=2", next="http://next/"
    ),
    "KickedResponse": m.KickedResponse(next_url="https://portal.example.net/welcome"),
}


def _soap(
    body: str, *, header: str = "", ns: str = NS10, prefix: str = "SOAP-ENV", decl: bool = True
) -> bytes:
    head = f"<{prefix}:Header>{header}</{prefix}:Header>" if header else ""
    return (
        ('<?xml version="1.0" encoding="UTF-8"?>' if decl else "")
        + f'<{prefix}:Envelope xmlns:{prefix}="http://schemas.xmlsoap.org/soap/envelope/"'
        ' xmlns:SOAP-ENC="http://schemas.xmlsoap.org/soap/encoding/"'
        ' xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        f' xmlns:cwmp="{ns}">{head}<{prefix}:Body>{body}</{prefix}:Body></{prefix}:Envelope>'
    ).encode()


def _roundtrip(env: m.Envelope) -> m.Envelope:
    return parse(serialize(env))


def _code(body: bytes, **kwargs: object) -> int:
    with pytest.raises(CodecError) as info:
        parse(body, **kwargs)  # type: ignore[arg-type]
    assert info.value.message
    return info.value.fault_code


# ---------------------------------------------------------------------------
# Registry and data classes
# ---------------------------------------------------------------------------


def test_samples_cover_every_message_type() -> None:
    assert set(SAMPLES) == set(m.MESSAGE_TYPES)
    for name, cls in m.MESSAGE_TYPES.items():
        assert cls.__name__ == name
        assert type(SAMPLES[name]) is cls


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


@pytest.mark.parametrize(
    "cls", [*m.MESSAGE_TYPES.values(), m.Fault, m.OpResultStruct, m.AutonOpResultStruct]
)
def test_fields_are_snake_case_of_xml_names_and_have_defaults(cls: type) -> None:
    cls()  # every field has a default
    for f in fields(cls):
        if "xml" in f.metadata:
            assert f.name == _snake(f.metadata["xml"])


def test_fault_strings_cover_amendment_6() -> None:
    expected = set(range(8000, 8007)) | set(range(9000, 9033))
    assert set(m.FAULT_STRINGS) == expected
    assert m.FAULT_STRINGS[8005] == "Retry request"
    assert m.FAULT_STRINGS[9032].endswith("Version already exists")


@pytest.mark.parametrize(
    ("code", "soap"),
    [
        (8000, "Server"),
        (8001, "Server"),
        (8002, "Server"),
        (8003, "Client"),
        (8004, "Server"),
        (8005, "Server"),
        (8006, "Client"),
        (9000, "Server"),
        (9002, "Server"),
        (9003, "Client"),
        (9005, "Client"),
        (9008, "Client"),
        (9010, "Server"),
        (9021, "Client"),
        (9027, "Server"),
        (9850, "Server"),
    ],
)
def test_fault_defaults_by_code(code: int, soap: str) -> None:
    fault = m.Fault(code)
    assert fault.soap_faultcode == soap
    assert fault.soap_faultstring == "CWMP fault"
    assert fault.fault_string == m.FAULT_STRINGS.get(code, "")
    assert m.Fault(code, "custom").fault_string == "custom"


def test_version_by_namespace() -> None:
    assert m.CWMP_VERSION_BY_NS[NS10] == "1.0"
    assert m.CWMP_VERSION_BY_NS[NS12] == "1.2"
    assert m.CWMP_VERSION_BY_NS[NS13] == "1.3"
    assert m.CWMP_NS_1_4 == "urn:dslforum-org:cwmp-1-4"


# ---------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLES))
@pytest.mark.parametrize("ns", [NS10, NS12, NS13])
def test_round_trip_every_message(name: str, ns: str) -> None:
    env = m.Envelope(SAMPLES[name], ns, id=f"id-{name}-<&>")
    back = _roundtrip(env)
    assert back == env


def test_round_trip_fault_with_set_parameter_values_faults() -> None:
    fault = m.Fault(
        9003,
        set_parameter_values_fault=[
            m.SetParameterValuesFault("Device.WiFi.SSID.1.SSID", 9007, "Value too long <&>"),
            m.SetParameterValuesFault("Device.DeviceInfo.SerialNumber", 9008, ""),
        ],
    )
    env = m.Envelope(fault, NS12, id="77")
    assert _roundtrip(env) == env
    assert _roundtrip(m.Envelope(m.Fault(8005), NS10, id="1")).body == m.Fault(8005)


def test_round_trip_all_header_fields_and_empty_body() -> None:
    env = m.Envelope(
        None,
        NS12,
        id="abc",
        hold_requests=True,
        no_more_requests=False,
        session_timeout=60,
        supported_cwmp_versions="1.0,1.1,1.2,1.3,1.4",
        use_cwmp_version="1.4",
    )
    assert _roundtrip(env) == env
    assert _roundtrip(m.Envelope(None, NS10)) == m.Envelope(None, NS10)


def test_round_trip_unknown_message() -> None:
    for msg in (
        m.UnknownMessage("X_00E0FC_Ping", NS12),
        m.UnknownMessage("Frobnicate", "urn:example:vendor"),
        m.UnknownMessage("Bare", ""),
    ):
        env = m.Envelope(msg, NS12, id="9")
        assert _roundtrip(env) == env


def test_naive_datetime_is_utc_and_none_is_unknown_time() -> None:
    naive = m.TransferComplete(command_key="k", start_time=datetime(2024, 1, 1, 12, 0, 0))
    out = serialize(m.Envelope(naive, NS10))
    assert b"<StartTime>2024-01-01T12:00:00Z</StartTime>" in out
    assert b"<CompleteTime>0001-01-01T00:00:00Z</CompleteTime>" in out
    back = body_of(out, m.TransferComplete)
    assert back.start_time == datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert back.complete_time is None


def test_offset_datetime_written_as_utc() -> None:
    tz = timezone(timedelta(hours=5, minutes=30))
    out = serialize(
        m.Envelope(m.DownloadResponse(start_time=datetime(2024, 1, 1, 5, 30, tzinfo=tz)), NS10)
    )
    assert b"<StartTime>2024-01-01T00:00:00Z</StartTime>" in out


# ---------------------------------------------------------------------------
# Output format
# ---------------------------------------------------------------------------


def test_output_literal_cwmp_prefix_and_unqualified_inner_elements() -> None:
    out = serialize(m.Envelope(m.InformResponse(max_envelopes=1), NS10, id="1234"))
    assert out.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert b"<cwmp:InformResponse>" in out
    assert b'xmlns:cwmp="urn:dslforum-org:cwmp-1-0"' in out
    assert b'<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/"' in out
    for decl in (b"xmlns:soap-enc=", b"xmlns:xsd=", b"xmlns:xsi="):
        assert decl in out
    assert b'<cwmp:ID soap-env:mustUnderstand="1">1234</cwmp:ID>' in out
    assert b"<MaxEnvelopes>1</MaxEnvelopes>" in out
    root = etree.fromstring(out)
    rpc = root.find("{*}Body")[0]
    assert rpc.tag == "{urn:dslforum-org:cwmp-1-0}InformResponse"
    assert [c.tag for c in rpc] == ["MaxEnvelopes"]


def test_output_inner_elements_of_inform_are_unqualified() -> None:
    out = serialize(m.Envelope(SAMPLES["Inform"], NS12))
    rpc = etree.fromstring(out).find("{*}Body")[0]
    assert all(etree.QName(el).namespace is None for el in rpc.iter() if el is not rpc)


def test_output_array_types_and_counts() -> None:
    out = serialize(m.Envelope(SAMPLES["Inform"], NS12))
    assert b'<Event soap-enc:arrayType="cwmp:EventStruct[2]">' in out
    assert b'<ParameterList soap-enc:arrayType="cwmp:ParameterValueStruct[6]">' in out
    out = serialize(m.Envelope(m.GetParameterValues(parameter_names=["A.", "B."]), NS12))
    assert b'<ParameterNames soap-enc:arrayType="xsd:string[2]"><string>A.</string>' in out
    out = serialize(m.Envelope(m.GetParameterValues(), NS12))
    assert b'<ParameterNames soap-enc:arrayType="xsd:string[0]"></ParameterNames>' in out
    out = serialize(m.Envelope(SAMPLES["SetVouchers"], NS12))
    assert b'<VoucherList soap-enc:arrayType="soap-enc:base64[2]"><base64>' in out


def test_output_values_typed_booleans_numeric_and_polymorphic_operations() -> None:
    spv = m.SetParameterValues(parameter_list=[m.ParameterValueStruct("A.B", "x", None)])
    out = serialize(m.Envelope(spv, NS10))
    assert b'<Value xsi:type="xsd:string">x</Value>' in out
    out = serialize(m.Envelope(m.GetParameterNames("Device.", True), NS10))
    assert b"<NextLevel>1</NextLevel>" in out
    out = serialize(m.Envelope(m.GetParameterNames("Device.", False), NS10))
    assert b"<NextLevel>0</NextLevel>" in out
    out = serialize(m.Envelope(SAMPLES["ChangeDUState"], NS12))
    assert b'<Operations xsi:type="cwmp:InstallOpStruct"><URL>' in out
    # empty optional members are left out, not sent empty
    assert (
        b'<Operations xsi:type="cwmp:InstallOpStruct"><URL>https://apps.example.net/min.ipk</URL></Operations>'
        in out
    )


def test_output_escapes_and_preserves_carriage_returns() -> None:
    out = serialize(m.Envelope(m.Reboot(command_key="a<b>&c\"d'e\r\n"), NS10))
    assert b"<CommandKey>a&lt;b&gt;&amp;c\"d'e&#13;\n</CommandKey>" in out
    assert body_of(out, m.Reboot).command_key == "a<b>&c\"d'e\r\n"


def test_output_refuses_characters_xml_cannot_carry() -> None:
    with pytest.raises(CodecError):
        serialize(m.Envelope(m.Reboot(command_key="bell\x07"), NS10))


def test_output_fault_layout() -> None:
    out = serialize(m.Envelope(m.Fault(8003), NS10, id="5"))
    assert (
        b"<soap-env:Fault><faultcode>Client</faultcode><faultstring>CWMP fault</faultstring>"
        b"<detail><cwmp:Fault><FaultCode>8003</FaultCode><FaultString>Invalid arguments</FaultString>"
        b"</cwmp:Fault></detail></soap-env:Fault>"
    ) in out


def test_serialize_refuses_non_messages() -> None:
    with pytest.raises(TypeError):
        serialize(m.Envelope(m.DeviceIdStruct(), NS10))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        serialize(m.Envelope(m.InformResponse(), ""))


# ---------------------------------------------------------------------------
# What real CPEs send
# ---------------------------------------------------------------------------

HUAWEI_INFORM = b"""<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:SOAP-ENC="http://schemas.xmlsoap.org/soap/encoding/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><SOAP-ENV:Body SOAP-ENV:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><cwmp:Inform><DeviceId><Manufacturer>Huawei Technologies Co., Ltd</Manufacturer><OUI>00E0FC</OUI><ProductClass>HG8245H</ProductClass><SerialNumber>48575443A1B2C3D4</SerialNumber></DeviceId><Event SOAP-ENC:arrayType="cwmp:EventStruct[1]"><EventStruct><EventCode>1 BOOT</EventCode><CommandKey></CommandKey></EventStruct><EventStruct><EventCode>M Reboot</EventCode><CommandKey>reboot-42</CommandKey></EventStruct></Event><MaxEnvelopes>1</MaxEnvelopes><CurrentTime>2024-03-05T14:22:01+08:00</CurrentTime><RetryCount>0</RetryCount><ParameterList SOAP-ENC:arrayType="cwmp:ParameterValueStruct[9]"><ParameterValueStruct><Name>InternetGatewayDevice.DeviceSummary</Name><Value xsi:type="xsd:string">InternetGatewayDevice:1.4[](Baseline:1, EthernetLAN:1, WiFiLAN:1, Time:1, IPPing:1, DeviceAssociation:1)</Value></ParameterValueStruct><ParameterValueStruct><Name>InternetGatewayDevice.DeviceInfo.HardwareVersion</Name><Value xsi:type="xsd:string">15AD.A</Value></ParameterValueStruct><ParameterValueStruct><Name>InternetGatewayDevice.DeviceInfo.SoftwareVersion</Name><Value xsi:type="xsd:string">V3R017C10S115</Value></ParameterValueStruct><ParameterValueStruct><Name>InternetGatewayDevice.ManagementServer.ConnectionRequestURL</Name><Value xsi:type="xsd:string">http://10.20.30.40:7547/</Value></ParameterValueStruct><ParameterValueStruct><Name>InternetGatewayDevice.ManagementServer.ParameterKey</Name><Value xsi:type="xsd:string"></Value></ParameterValueStruct></ParameterList></cwmp:Inform></SOAP-ENV:Body></SOAP-ENV:Envelope>"""


def test_huawei_style_inform_without_header() -> None:
    env = parse(HUAWEI_INFORM)
    assert env.id is None
    assert env.cwmp_ns == NS10
    inform = env.body
    assert isinstance(inform, m.Inform)
    assert inform.device_id == m.DeviceIdStruct(
        "Huawei Technologies Co., Ltd", "00E0FC", "HG8245H", "48575443A1B2C3D4"
    )
    # arrayType said 1 and 9: the members are what counts
    assert [e.event_code for e in inform.event] == ["1 BOOT", "M Reboot"]
    assert inform.event[1].command_key == "reboot-42"
    assert len(inform.parameter_list) == 5
    assert inform.parameter_list[4] == m.ParameterValueStruct(
        "InternetGatewayDevice.ManagementServer.ParameterKey", "", "xsd:string"
    )
    assert inform.current_time == datetime(2024, 3, 5, 6, 22, 1, tzinfo=UTC)
    assert inform.max_envelopes == 1 and inform.retry_count == 0


TPLINK_INFORM = b"""<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope
    xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:cwmp="urn:dslforum-org:cwmp-1-2">
  <soap:Header>
    <cwmp:ID soap:mustUnderstand="1">1701684538</cwmp:ID>
  </soap:Header>
  <soap:Body>
    <cwmp:Inform>
      <DeviceId>
        <Manufacturer>TP-Link</Manufacturer>
        <OUI>3C52A1</OUI>
        <ProductClass>EC220-G5</ProductClass>
        <SerialNumber>22309K5000123</SerialNumber>
      </DeviceId>
      <Event soapenc:arrayType="cwmp:EventStruct[2]">
        <EventStruct>
          <EventCode>0 BOOTSTRAP</EventCode>
          <CommandKey></CommandKey>
        </EventStruct>
        <EventStruct>
          <EventCode>1 BOOT</EventCode>
          <CommandKey></CommandKey>
        </EventStruct>
      </Event>
      <MaxEnvelopes> 1 </MaxEnvelopes>
      <CurrentTime>
        2024-03-05T06:22:01
      </CurrentTime>
      <RetryCount>
        3
      </RetryCount>
      <ParameterList soapenc:arrayType="cwmp:ParameterValueStruct[3]">
        <ParameterValueStruct>
          <Name>Device.DeviceInfo.SoftwareVersion</Name>
          <Value xsi:type="xsd:string">  1.1.0 Build 231020 Rel.61545n  </Value>
        </ParameterValueStruct>
        <ParameterValueStruct>
          <Name>Device.ManagementServer.PeriodicInformEnable</Name>
          <Value xsi:type="xsd:boolean">
            true
          </Value>
        </ParameterValueStruct>
        <ParameterValueStruct>
          <Name>Device.DeviceInfo.UpTime</Name>
          <Value xsi:type="xsd:unsignedInt">95</Value>
        </ParameterValueStruct>
      </ParameterList>
    </cwmp:Inform>
  </soap:Body>
</soap:Envelope>
"""


def test_tplink_style_pretty_printed_inform() -> None:
    env = parse(TPLINK_INFORM)
    assert env.id == "1701684538"
    assert env.cwmp_ns == NS12
    inform = env.body
    assert isinstance(inform, m.Inform)
    assert inform.device_id.oui == "3C52A1"
    assert [e.event_code for e in inform.event] == ["0 BOOTSTRAP", "1 BOOT"]
    assert inform.max_envelopes == 1
    assert inform.retry_count == 3
    assert inform.current_time == datetime(2024, 3, 5, 6, 22, 1, tzinfo=UTC)
    values = {p.name: p for p in inform.parameter_list}
    # a string Value keeps its exact text, whitespace included
    assert values["Device.DeviceInfo.SoftwareVersion"].value == "  1.1.0 Build 231020 Rel.61545n  "
    assert values["Device.ManagementServer.PeriodicInformEnable"].value.strip() == "true"
    assert values["Device.DeviceInfo.UpTime"] == m.ParameterValueStruct(
        "Device.DeviceInfo.UpTime", "95", "xsd:unsignedInt"
    )


ZTE_INFORM = b"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cwmp="urn:dslforum-org:cwmp-1-3">
<soapenv:Header><cwmp:ID soapenv:mustUnderstand="true">ZTE-0001</cwmp:ID><cwmp:SessionTimeout soapenv:mustUnderstand="0">30</cwmp:SessionTimeout><cwmp:SupportedCWMPVersions soapenv:mustUnderstand="0">1.0,1.1,1.2,1.3</cwmp:SupportedCWMPVersions></soapenv:Header>
<soapenv:Body><cwmp:Inform><cwmp:DeviceId><cwmp:Manufacturer>ZTE</cwmp:Manufacturer><cwmp:OUI>D0608C</cwmp:OUI><cwmp:ProductClass>H199A</cwmp:ProductClass><cwmp:SerialNumber>ZTEGC8A1B2C3</cwmp:SerialNumber></cwmp:DeviceId><cwmp:Event soapenc:arrayType="cwmp:EventStruct[1]"><cwmp:EventStruct><cwmp:EventCode>2 PERIODIC</cwmp:EventCode><cwmp:CommandKey/></cwmp:EventStruct></cwmp:Event><cwmp:MaxEnvelopes>1</cwmp:MaxEnvelopes><cwmp:CurrentTime>2024-03-05T08:22:01.123456789+02:00</cwmp:CurrentTime><cwmp:RetryCount>0</cwmp:RetryCount><cwmp:ParameterList soapenc:arrayType="cwmp:ParameterValueStruct[2]"><cwmp:ParameterValueStruct><cwmp:Name>InternetGatewayDevice.ManagementServer.PeriodicInformInterval</cwmp:Name><cwmp:Value xsi:type="xs:unsignedInt">3600</cwmp:Value></cwmp:ParameterValueStruct><cwmp:ParameterValueStruct><cwmp:Name>InternetGatewayDevice.DeviceInfo.ModelName</cwmp:Name><cwmp:Value xsi:type="xs:string">H199A</cwmp:Value></cwmp:ParameterValueStruct></cwmp:ParameterList></cwmp:Inform></soapenv:Body></soapenv:Envelope>"""


def test_zte_style_cwmp_1_3_inform_with_qualified_inner_elements() -> None:
    env = parse(ZTE_INFORM)
    assert env.cwmp_ns == NS13
    assert env.id == "ZTE-0001"
    assert env.session_timeout == 30
    assert env.supported_cwmp_versions == "1.0,1.1,1.2,1.3"
    inform = env.body
    assert isinstance(inform, m.Inform)
    assert inform.device_id.serial_number == "ZTEGC8A1B2C3"
    assert inform.event == [m.EventStruct("2 PERIODIC", "")]
    assert inform.current_time == datetime(2024, 3, 5, 6, 22, 1, 123456, tzinfo=UTC)
    assert [(p.value, p.type) for p in inform.parameter_list] == [
        ("3600", "xsd:unsignedInt"),
        ("H199A", "xsd:string"),
    ]
    # the answer goes back in the namespace the CPE used
    assert b'xmlns:cwmp="urn:dslforum-org:cwmp-1-3"' in serialize(
        m.Envelope(m.InformResponse(), env.cwmp_ns, id=env.id)
    )


@pytest.mark.parametrize("prefix", ["SOAP-ENV", "soap_env", "soapenv", "soap", "s", "env"])
def test_any_envelope_prefix(prefix: str) -> None:
    body = _soap(
        "<cwmp:GetRPCMethods/>",
        header=f'<cwmp:ID {prefix}:mustUnderstand="1">42</cwmp:ID>',
        prefix=prefix,
    )
    env = parse(body)
    assert env.body == m.GetRPCMethods()
    assert env.id == "42"


@pytest.mark.parametrize(
    "soap_ns",
    [
        "http://www.w3.org/2003/05/soap-envelope",
        "http://schemas.xmlsoap.org/soap/envelope",
        "urn:wrong",
    ],
)
def test_wrong_soap_namespace_is_tolerated(soap_ns: str) -> None:
    body = (
        f'<e:Envelope xmlns:e="{soap_ns}" xmlns:cwmp="{NS11}"><e:Header><cwmp:ID e:mustUnderstand="1">'
        "7</cwmp:ID></e:Header><e:Body><cwmp:Reboot><CommandKey>k</CommandKey></cwmp:Reboot></e:Body>"
        "</e:Envelope>"
    ).encode()
    env = parse(body)
    assert env == m.Envelope(m.Reboot("k"), NS11, id="7")


def test_inner_elements_with_any_prefix_or_default_namespace() -> None:
    body = _soap(
        '<x:GetParameterNames xmlns:x="urn:dslforum-org:cwmp-1-1" xmlns:y="urn:other">'
        "<y:ParameterPath>Device.</y:ParameterPath><x:NextLevel>true</x:NextLevel></x:GetParameterNames>"
    )
    env = parse(body)
    assert env.cwmp_ns == NS11
    assert env.body == m.GetParameterNames("Device.", True)
    body = _soap('<Reboot xmlns="urn:dslforum-org:cwmp-1-2"><CommandKey>dflt</CommandKey></Reboot>')
    env = parse(body)
    assert env.cwmp_ns == NS12
    assert env.body == m.Reboot("dflt")


def test_cwmp_namespace_falls_back_to_header_id_then_1_0() -> None:
    body = _soap(
        "<Reboot><CommandKey>k</CommandKey></Reboot>",
        header='<h:ID xmlns:h="urn:dslforum-org:cwmp-1-2" SOAP-ENV:mustUnderstand="1">9</h:ID>',
    )
    env = parse(body)
    assert (env.cwmp_ns, env.id, env.body) == (NS12, "9", m.Reboot("k"))
    env = parse(_soap("<Reboot><CommandKey>k</CommandKey></Reboot>"))
    assert env.cwmp_ns == NS10


def test_header_id_of_any_namespace_and_must_understand_variants() -> None:
    body = _soap(
        "<cwmp:GetRPCMethods/>",
        header=(
            '<ID SOAP-ENV:mustUnderstand="true">unqualified-id</ID>'
            '<v:Trace xmlns:v="urn:vendor" SOAP-ENV:mustUnderstand="1">abc</v:Trace>'
            '<cwmp:HoldRequests SOAP-ENV:mustUnderstand="1"> FALSE </cwmp:HoldRequests>'
            "<cwmp:NoMoreRequests>1</cwmp:NoMoreRequests>"
            '<cwmp:UseCWMPVersion SOAP-ENV:mustUnderstand="1">1.2</cwmp:UseCWMPVersion>'
        ),
        ns=NS12,
    )
    env = parse(body)
    assert env.id == "unqualified-id"
    assert env.hold_requests is False
    assert env.no_more_requests is True
    assert env.use_cwmp_version == "1.2"
    assert env.cwmp_ns == NS12


def test_unreadable_header_values_do_not_fail() -> None:
    body = _soap(
        "<cwmp:GetRPCMethods/>",
        header="<cwmp:HoldRequests>maybe</cwmp:HoldRequests><cwmp:SessionTimeout>soon</cwmp:SessionTimeout>",
    )
    env = parse(body)
    assert env.hold_requests is None and env.session_timeout is None


def test_missing_array_type_and_values_without_xsi_type() -> None:
    body = _soap(
        "<cwmp:GetParameterValuesResponse><ParameterList>"
        "<ParameterValueStruct><Name>A.B</Name><Value>1</Value></ParameterValueStruct>"
        "<ParameterValueStruct><Name>A.C</Name><Value/></ParameterValueStruct>"
        "</ParameterList></cwmp:GetParameterValuesResponse>"
    )
    msg = parse(body).body
    assert msg == m.GetParameterValuesResponse(
        parameter_list=[
            m.ParameterValueStruct("A.B", "1", None),
            m.ParameterValueStruct("A.C", "", None),
        ]
    )


@pytest.mark.parametrize(
    ("decl", "written", "expected"),
    [
        ("", "xsd:string", "xsd:string"),
        ('xmlns:xs="http://www.w3.org/2001/XMLSchema"', "xs:string", "xsd:string"),
        ("", "string", "xsd:string"),
        ("", "xs:int", "xsd:int"),  # unbound prefix: still clearly an XSD type
        ('xmlns:q="http://www.w3.org/2001/XMLSchema"', "q:unsignedInt", "xsd:unsignedInt"),
        ('xmlns:old="http://www.w3.org/1999/XMLSchema"', "old:boolean", "xsd:boolean"),
        ('xmlns:enc="http://schemas.xmlsoap.org/soap/encoding/"', "enc:base64", "xsd:base64"),
        ('xmlns:v="urn:vendor:types"', "v:MacAddress", "v:MacAddress"),
        ("", " xsd:dateTime ", "xsd:dateTime"),
    ],
)
def test_xsi_type_normalisation(decl: str, written: str, expected: str) -> None:
    body = _soap(
        f"<cwmp:GetParameterValuesResponse {decl}><ParameterList><ParameterValueStruct>"
        f'<Name>A</Name><Value xsi:type="{written}">v</Value>'
        "</ParameterValueStruct></ParameterList></cwmp:GetParameterValuesResponse>"
    )
    assert body_of(body, m.GetParameterValuesResponse).parameter_list[0].type == expected


def test_xsi_bound_to_old_instance_namespace() -> None:
    body = (
        '<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:i="http://www.w3.org/1999/XMLSchema-instance" xmlns:d="http://www.w3.org/1999/XMLSchema" '
        f'xmlns:cwmp="{NS10}"><S:Body><cwmp:GetParameterValuesResponse><ParameterList>'
        '<ParameterValueStruct><Name>A</Name><Value i:type="d:int">-5</Value></ParameterValueStruct>'
        "</ParameterList></cwmp:GetParameterValuesResponse></S:Body></S:Envelope>"
    ).encode()
    response = body_of(body, m.GetParameterValuesResponse)
    assert response.parameter_list[0] == m.ParameterValueStruct("A", "-5", "xsd:int")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", True),
        ("0", False),
        ("true", True),
        ("false", False),
        ("TRUE", True),
        (" False\n", False),
    ],
)
def test_booleans_in_any_spelling(text: str, expected: bool) -> None:
    body = _soap(
        f"<cwmp:GetParameterNames><ParameterPath>X.</ParameterPath><NextLevel>{text}</NextLevel>"
        "</cwmp:GetParameterNames>",
        header=f'<cwmp:HoldRequests SOAP-ENV:mustUnderstand="1">{text}</cwmp:HoldRequests>',
    )
    env = parse(body)
    assert isinstance(env.body, m.GetParameterNames)
    assert env.body.next_level is expected
    assert env.hold_requests is expected
    body = _soap(
        "<cwmp:GetParameterNamesResponse><ParameterList><ParameterInfoStruct><Name>X.</Name>"
        f"<Writable>{text}</Writable></ParameterInfoStruct></ParameterList></cwmp:GetParameterNamesResponse>"
    )
    assert body_of(body, m.GetParameterNamesResponse).parameter_list[0].writable is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-05T06:22:01Z", datetime(2024, 3, 5, 6, 22, 1, tzinfo=UTC)),
        ("2024-03-05T06:22:01", datetime(2024, 3, 5, 6, 22, 1, tzinfo=UTC)),
        ("2024-03-05T06:22:01.5Z", datetime(2024, 3, 5, 6, 22, 1, 500000, tzinfo=UTC)),
        ("2024-03-05T06:22:01.123456", datetime(2024, 3, 5, 6, 22, 1, 123456, tzinfo=UTC)),
        ("2024-03-05T06:22:01.123456789Z", datetime(2024, 3, 5, 6, 22, 1, 123456, tzinfo=UTC)),
        ("2024-03-05T07:22:01+01:00", datetime(2024, 3, 5, 6, 22, 1, tzinfo=UTC)),
        ("2024-03-05T01:22:01-05:00", datetime(2024, 3, 5, 6, 22, 1, tzinfo=UTC)),
        ("2024-03-05T07:22:01+0100", datetime(2024, 3, 5, 6, 22, 1, tzinfo=UTC)),
        ("2024-03-05 06:22:01", datetime(2024, 3, 5, 6, 22, 1, tzinfo=UTC)),
        ("  2024-03-05T06:22:01Z\n", datetime(2024, 3, 5, 6, 22, 1, tzinfo=UTC)),
        ("2024-03-04T24:00:00Z", datetime(2024, 3, 5, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", None),
        ("0001-01-01T00:00:00", None),
        ("", None),
        ("yesterday", None),
        ("2024-13-45T99:99:99Z", None),
        ("1970-01-01T00:00:00Z", datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_current_time_variants_never_fail_the_inform(text: str, expected: datetime | None) -> None:
    body = _soap(
        "<cwmp:Inform><DeviceId><Manufacturer>M</Manufacturer><OUI>001122</OUI>"
        "<ProductClass>P</ProductClass><SerialNumber>S</SerialNumber></DeviceId>"
        '<Event SOAP-ENC:arrayType="cwmp:EventStruct[0]"></Event><MaxEnvelopes>1</MaxEnvelopes>'
        f"<CurrentTime>{text}</CurrentTime><RetryCount>0</RetryCount>"
        '<ParameterList SOAP-ENC:arrayType="cwmp:ParameterValueStruct[0]"></ParameterList></cwmp:Inform>'
    )
    inform = parse(body).body
    assert isinstance(inform, m.Inform)
    assert inform.current_time == expected
    assert inform.device_id.serial_number == "S"


def test_event_codes_kept_as_sent() -> None:
    body = _soap(
        "<cwmp:Inform><Event><EventStruct><EventCode>0 bootstrap</EventCode><CommandKey/></EventStruct>"
        "<EventStruct><EventCode> 4 VALUE CHANGE</EventCode></EventStruct>"
        "<EventStruct><EventCode>X 00E0FC CUSTOM</EventCode><CommandKey>ck</CommandKey></EventStruct>"
        "</Event></cwmp:Inform>"
    )
    events = body_of(body, m.Inform).event
    assert [(e.event_code, e.command_key) for e in events] == [
        ("0 bootstrap", ""),
        (" 4 VALUE CHANGE", ""),
        ("X 00E0FC CUSTOM", "ck"),
    ]


def test_missing_and_unknown_elements_use_defaults() -> None:
    body = _soap(
        "<cwmp:Download><CommandKey>c</CommandKey><X_Vendor>ignored</X_Vendor>"
        "<FileSize></FileSize><DelaySeconds/></cwmp:Download>"
    )
    assert parse(body).body == m.Download(command_key="c")


def test_cdata_and_entities_in_values() -> None:
    body = _soap(
        "<cwmp:GetParameterValuesResponse><ParameterList><ParameterValueStruct><Name>A</Name>"
        '<Value xsi:type="xsd:string"><![CDATA[<b>bold</b> & more]]></Value></ParameterValueStruct>'
        "<ParameterValueStruct><Name>B</Name><Value>&lt;&#233;&#x263A;&amp;&gt;</Value>"
        "</ParameterValueStruct></ParameterList></cwmp:GetParameterValuesResponse>"
    )
    params = body_of(body, m.GetParameterValuesResponse).parameter_list
    assert params[0].value == "<b>bold</b> & more"
    assert params[1].value == "<é☺&>"


def test_comments_and_processing_instructions_are_dropped() -> None:
    body = _soap(
        "<!-- firmware 1.0 --><cwmp:Reboot><?vendor hint?><CommandKey>a<!-- x -->b</CommandKey>"
        "</cwmp:Reboot>"
    )
    assert parse(body).body == m.Reboot("ab")


def test_declared_latin1_body_is_read() -> None:
    body = _soap("<cwmp:Reboot><CommandKey>caf\xe9</CommandKey></cwmp:Reboot>").decode()
    raw = body.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').encode("latin-1")
    assert parse(raw).body == m.Reboot("café")


def test_empty_body_element_is_an_empty_envelope() -> None:
    env = parse(_soap("", header='<cwmp:ID SOAP-ENV:mustUnderstand="1">3</cwmp:ID>', ns=NS12))
    assert env == m.Envelope(None, NS12, id="3")
    env = parse(
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>\n  </soap:Body>'
        b"</soap:Envelope>"
    )
    assert env == m.Envelope(None, NS10)


@pytest.mark.parametrize(
    ("body", "empty"),
    [
        (b"", True),
        (b"   \r\n\t ", True),
        (b"\xef\xbb\xbf\n", True),
        (b" <x/>", False),
        (HUAWEI_INFORM, False),
    ],
)
def test_is_empty(body: bytes, empty: bool) -> None:
    assert is_empty(body) is empty


def test_unknown_method_keeps_the_id() -> None:
    body = _soap(
        "<cwmp:X_00E0FC_GetLogs><Count>3</Count></cwmp:X_00E0FC_GetLogs>",
        header='<cwmp:ID SOAP-ENV:mustUnderstand="1">id-5</cwmp:ID>',
        ns=NS12,
    )
    env = parse(body)
    assert env.body == m.UnknownMessage("X_00E0FC_GetLogs", NS12)
    assert env.id == "id-5"
    assert env.cwmp_ns == NS12


CPE_SPV_FAULT = b"""<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0">
 <SOAP-ENV:Header><cwmp:ID SOAP-ENV:mustUnderstand="1">spv-11</cwmp:ID></SOAP-ENV:Header>
 <SOAP-ENV:Body>
  <SOAP-ENV:Fault>
   <faultcode>SOAP-ENV:Client</faultcode>
   <faultstring>CWMP fault</faultstring>
   <detail>
    <cwmp:Fault>
     <FaultCode>9003</FaultCode>
     <FaultString>Invalid arguments</FaultString>
     <SetParameterValuesFault>
      <ParameterName>InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.SSID</ParameterName>
      <FaultCode>9007</FaultCode>
      <FaultString>Invalid parameter value</FaultString>
     </SetParameterValuesFault>
     <SetParameterValuesFault>
      <ParameterName>InternetGatewayDevice.DeviceInfo.SerialNumber</ParameterName>
      <FaultCode> 9008 </FaultCode>
     </SetParameterValuesFault>
    </cwmp:Fault>
   </detail>
  </SOAP-ENV:Fault>
 </SOAP-ENV:Body>
</SOAP-ENV:Envelope>"""


def test_cpe_fault_with_set_parameter_values_faults() -> None:
    env = parse(CPE_SPV_FAULT)
    assert env.id == "spv-11"
    assert env.cwmp_ns == NS10
    fault = env.body
    assert isinstance(fault, m.Fault)
    assert (fault.fault_code, fault.fault_string) == (9003, "Invalid arguments")
    assert fault.soap_faultcode == "Client"
    assert fault.soap_faultstring == "CWMP fault"
    assert fault.set_parameter_values_fault == [
        m.SetParameterValuesFault(
            "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.SSID",
            9007,
            "Invalid parameter value",
        ),
        m.SetParameterValuesFault("InternetGatewayDevice.DeviceInfo.SerialNumber", 9008, ""),
    ]


def test_soap_fault_without_cwmp_detail_and_bare_cwmp_fault() -> None:
    body = _soap(
        "<SOAP-ENV:Fault><faultcode>Server</faultcode><faultstring>boom</faultstring></SOAP-ENV:Fault>"
    )
    fault = body_of(body, m.Fault)
    assert (fault.fault_code, fault.fault_string, fault.soap_faultcode) == (0, "boom", "Server")
    body = _soap(
        "<cwmp:Fault><FaultCode>9002</FaultCode><FaultString>oops</FaultString></cwmp:Fault>",
        ns=NS11,
    )
    env = parse(body)
    assert env.cwmp_ns == NS11
    assert env.body == m.Fault(9002, "oops")


def test_change_du_state_array_encoding_is_tolerated() -> None:
    body = _soap(
        '<cwmp:ChangeDUState><Operations SOAP-ENC:arrayType="cwmp:OperationStruct[2]">'
        '<OperationStruct xsi:type="cwmp:InstallOpStruct"><URL>http://a/app</URL></OperationStruct>'
        f'<OperationStruct xsi:type="cwmp:UninstallOpStruct"><UUID>{UUID}</UUID></OperationStruct>'
        "</Operations><CommandKey>k</CommandKey></cwmp:ChangeDUState>",
        ns=NS12,
    )
    assert parse(body).body == m.ChangeDUState(
        operations=[m.InstallOpStruct(url="http://a/app"), m.UninstallOpStruct(uuid=UUID)],
        command_key="k",
    )


def test_change_du_state_operation_without_type_is_invalid_arguments() -> None:
    body = _soap(
        "<cwmp:ChangeDUState><Operations><URL>x</URL></Operations></cwmp:ChangeDUState>", ns=NS12
    )
    assert _code(body) == 8003


@pytest.mark.parametrize(
    "body",
    [
        "<cwmp:InformResponse><MaxEnvelopes>one</MaxEnvelopes></cwmp:InformResponse>",
        "<cwmp:AddObjectResponse><InstanceNumber>1.5</InstanceNumber></cwmp:AddObjectResponse>",
        "<cwmp:ScheduleInform><DelaySeconds>1_000</DelaySeconds></cwmp:ScheduleInform>",
        "<cwmp:ScheduleInform><DelaySeconds>99999999999999999999999</DelaySeconds></cwmp:ScheduleInform>",
        "<cwmp:GetParameterNames><NextLevel>yes</NextLevel></cwmp:GetParameterNames>",
        "<cwmp:TransferComplete><FaultStruct><FaultCode>x</FaultCode></FaultStruct></cwmp:TransferComplete>",
    ],
)
def test_invalid_arguments_are_8003(body: str) -> None:
    assert _code(_soap(body)) == 8003


# ---------------------------------------------------------------------------
# Hardening: everything below must fail with 8002, and fast
# ---------------------------------------------------------------------------

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0">
<soap:Body><cwmp:Reboot><CommandKey>&xxe;</CommandKey></cwmp:Reboot></soap:Body></soap:Envelope>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0">
<soap:Body><cwmp:Reboot><CommandKey>&lol9;</CommandKey></cwmp:Reboot></soap:Body></soap:Envelope>"""


def _nested(depth: int) -> bytes:
    inner = b"<a>" * depth + b"</a>" * depth
    return _soap(
        "<cwmp:Reboot><CommandKey>k</CommandKey><X>" + inner.decode() + "</X></cwmp:Reboot>"
    )


HOSTILE = {
    "xxe": XXE,
    "billion-laughs": BILLION_LAUGHS,
    "billion-laughs-utf16": BILLION_LAUGHS.replace(
        b'version="1.0"', b'version="1.0" encoding="UTF-16"'
    )
    .decode()
    .encode("utf-16"),
    "doctype-without-entities": b'<!DOCTYPE soap:Envelope SYSTEM "http://example.com/x.dtd">'
    + _soap("<cwmp:GetRPCMethods/>", decl=False),
    "undeclared-entity": _soap("<cwmp:Reboot><CommandKey>&xxe;</CommandKey></cwmp:Reboot>"),
    "deep-10000": _nested(10_000),
    "deep-100": _nested(100),
    "invalid-utf8": _soap("<cwmp:Reboot><CommandKey>ok</CommandKey></cwmp:Reboot>").replace(
        b"ok", b"\xff\xfe\xc3("
    ),
    "undeclared-latin1": _soap("<cwmp:Reboot><CommandKey>caf\xe9</CommandKey></cwmp:Reboot>")
    .decode()
    .encode("latin-1"),
    "unknown-encoding": b'<?xml version="1.0" encoding="x-klingon"?>'
    + _soap("<cwmp:GetRPCMethods/>", decl=False),
    "not-an-envelope": b"<html><body>hello</body></html>",
    "envelope-without-body": b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header/></s:Envelope>',
    "garbage": b"\x00\x01\x02garbage\xff",
    "json": b'{"method": "Inform"}',
    "truncated": HUAWEI_INFORM[:-40],
    "two-roots": _soap("") + _soap(""),
    "nul-char-ref": _soap("<cwmp:Reboot><CommandKey>&#0;</CommandKey></cwmp:Reboot>"),
    "utf7-hidden-doctype": b'<?xml version="1.0" encoding="UTF-7"?>'
    + "<!DOCTYPE x [<!ENTITY a 'b'>]>".encode("utf-7")
    + _soap("<cwmp:GetRPCMethods/>", decl=False),
    "ebcdic": "<?xml version='1.0' encoding='cp500'?><a/>".encode("cp500"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_bodies_are_refused_fast(name: str) -> None:
    start = time.perf_counter()
    assert _code(HOSTILE[name]) == 8002
    assert time.perf_counter() - start < 1.0


def test_oversize_body_is_refused_before_parsing() -> None:
    body = _soap("<cwmp:Reboot><CommandKey>" + "x" * 3_000_000 + "</CommandKey></cwmp:Reboot>")
    assert _code(body) == 8002
    assert _code(HUAWEI_INFORM, max_bytes=100) == 8002
    assert isinstance(parse(HUAWEI_INFORM, max_bytes=len(HUAWEI_INFORM)).body, m.Inform)


def test_depth_limit_boundary() -> None:
    # Envelope/Body/Reboot/X = 4 levels; 60 more keeps us at the 64 limit.
    assert parse(_nested(codec.MAX_DEPTH - 4)).body == m.Reboot("k")
    assert _code(_nested(codec.MAX_DEPTH - 3)) == 8002


def test_xxe_never_reads_the_file() -> None:
    # Same document without the DOCTYPE guard: the parser itself must not
    # resolve the external entity either (defence in depth).
    parser, _ = reader._tools()
    root = etree.fromstring(XXE, parser)
    assert "root:" not in etree.tostring(root, encoding="unicode")


def test_bytearray_and_memoryview_are_accepted() -> None:
    assert body_of(bytearray(HUAWEI_INFORM), m.Inform).device_id.oui == "00E0FC"
    assert body_of(memoryview(HUAWEI_INFORM), m.Inform).device_id.oui == "00E0FC"
    with pytest.raises(TypeError):
        parse(HUAWEI_INFORM.decode())  # type: ignore[arg-type]


def test_parse_is_safe_from_several_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    bodies = [HUAWEI_INFORM, TPLINK_INFORM, ZTE_INFORM, CPE_SPV_FAULT] * 50
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(parse, bodies))
    assert [type(e.body) for e in results[:4]] == [m.Inform, m.Inform, m.Inform, m.Fault]
    assert all(r == parse(b) for r, b in zip(results[:4], bodies[:4], strict=True))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<soap:Body><cwmp:Inform><DeviceId/></cwmp:Inform>", True),
        (b"<Body><Inform xmlns='urn:dslforum-org:cwmp-1-0'>", True),
        (b"<Body><cwmp:Inform/></Body>", True),
        (b"<cwmp:Inform\n>", True),
        (b"<cwmp:InformResponse>", False),
        (b"<cwmp:GetParameterValuesResponse><Value>Inform</Value>", False),
        (b"<Value>&lt;Inform&gt;</Value>", False),
        (b"", False),
    ],
)
def test_looks_like_inform_without_parsing(body, expected):
    assert codec.looks_like_inform(body) is expected


def test_precheck_refuses_what_parse_refuses_before_parsing():
    for body in (b"<!DOCTYPE x><x/>", b"\xff\xfe<x/>", b"junk", b"   "):
        with pytest.raises(CodecError):
            codec.precheck(body)
    assert codec.precheck(b"<x/>") == b"<x/>"
