"""What cwmp.protocol.codec writes must validate against the BBF CWMP schemas.

The schemas in cwmp/protocol/schemas/ are loaded offline: a resolver maps the SOAP
envelope/encoding imports to our own stand-in XSDs and the broadband-forum.org
include URLs of cwmp-1-3/1-4 to the local copies. Each message is checked
against every schema version that declares it, as a whole envelope (Body and
Fault detail are strict in the stand-in) and as a bare RPC element.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from cwmp import protocol
from cwmp.protocol import messages as m
from cwmp.protocol.codec import serialize

SCHEMAS = Path(protocol.__file__).resolve().parent / "schemas"
XS = "{http://www.w3.org/2001/XMLSchema}"
LOCATIONS = {
    "http://schemas.xmlsoap.org/soap/envelope/": "soap-envelope.xsd",
    "http://schemas.xmlsoap.org/soap/encoding/": "soap-encoding.xsd",
    "http://www.broadband-forum.org/cwmp/cwmp-1-2.xsd": "cwmp-1-2.xsd",
    "http://www.broadband-forum.org/cwmp/cwmp-1-3.xsd": "cwmp-1-3.xsd",
}
# namespace -> the schema file that declares it completely. CWMP 1.3 and 1.4
# extend namespace cwmp-1-2, so 1-4.xsd (which pulls in 1-3 and 1-2) is it.
SCHEMA_FOR_NS = {
    m.CWMP_NS_1_0: ["cwmp-1-0.xsd"],
    m.CWMP_NS_1_1: ["cwmp-1-1.xsd"],
    m.CWMP_NS_1_2: ["cwmp-1-2.xsd", "cwmp-1-3.xsd", "cwmp-1-4.xsd"],
}


class _OfflineResolver(etree.Resolver):
    def resolve(self, system_url, public_id, context):
        local = LOCATIONS.get(system_url)
        if local is not None:
            return self.resolve_filename(str(SCHEMAS / local), context)
        if system_url.startswith(("http:", "https:", "ftp:")):
            raise AssertionError(f"schema tried to load {system_url}")
        return None


def _parser() -> etree.XMLParser:
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    parser.resolvers.add(_OfflineResolver())
    return parser


@cache
def _schemas(ns: str) -> tuple[etree.XMLSchema, etree.XMLSchema]:
    """(envelope schema, RPC schema) for one CWMP namespace."""
    top = SCHEMA_FOR_NS[ns][-1]
    rpc = etree.XMLSchema(etree.parse(str(SCHEMAS / top), _parser()))
    driver = (
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:acsportal:driver">'
        '<xs:import namespace="http://schemas.xmlsoap.org/soap/envelope/"'
        ' schemaLocation="http://schemas.xmlsoap.org/soap/envelope/"/>'
        f'<xs:import namespace="{ns}" schemaLocation="{top}"/>'
        "</xs:schema>"
    )
    doc = etree.fromstring(driver.encode(), _parser(), base_url=str(SCHEMAS / "driver.xsd"))
    return etree.XMLSchema(etree.ElementTree(doc)), rpc


@cache
def _declared(ns: str) -> frozenset[str]:
    names: set[str] = set()
    for file in SCHEMA_FOR_NS[ns]:
        tree = etree.parse(str(SCHEMAS / file), _parser())
        names.update(el.get("name") for el in tree.getroot().iterchildren(f"{XS}element"))
    return frozenset(names)


def _check(ns: str, envelope: m.Envelope) -> etree._Element:
    out = serialize(envelope)
    root = etree.fromstring(out)
    env_schema, rpc_schema = _schemas(ns)
    assert env_schema.validate(root), env_schema.error_log
    body = root.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
    if len(body) == 0:
        return root
    rpc = body[0]
    if rpc.tag == "{http://schemas.xmlsoap.org/soap/envelope/}Fault":
        rpc = rpc.find("detail")[0]
    assert rpc_schema.validate(rpc), rpc_schema.error_log
    return root


T0 = datetime(2024, 3, 5, 6, 22, 1, tzinfo=UTC)
T1 = datetime(2024, 3, 5, 6, 23, 40, 250000, tzinfo=UTC)
UUID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
TEXT = "Ünïcødé <&>\"' ✓"
PARAMS = [
    m.ParameterValueStruct("Device.DeviceInfo.SoftwareVersion", TEXT, "xsd:string"),
    m.ParameterValueStruct(
        "Device.ManagementServer.PeriodicInformInterval", "86400", "xsd:unsignedInt"
    ),
    m.ParameterValueStruct("Device.WiFi.SSID.1.Enable", "true", "xsd:boolean"),
    m.ParameterValueStruct("Device.DeviceInfo.UpTime", "-5", "xsd:int"),
    m.ParameterValueStruct(
        "Device.Time.CurrentLocalTime", "2024-03-05T07:22:01+01:00", "xsd:dateTime"
    ),
    m.ParameterValueStruct("Device.X_VENDOR.Blob", "QUJD", "xsd:base64Binary"),
    m.ParameterValueStruct("Device.X_VENDOR.Untyped", "x", None),
]


def _result(**extra: Any) -> dict[str, Any]:
    return {
        "uuid": UUID,
        "deployment_unit_ref": "Device.SoftwareModules.DeploymentUnit.1",
        "version": "2.1",
        "current_state": "Installed",
        "resolved": True,
        "execution_unit_ref_list": "Device.SoftwareModules.ExecutionUnit.1",
        "start_time": T0,
        "complete_time": None,
        "fault": m.FaultStruct(0, ""),
        **extra,
    }


#: Values chosen to satisfy every schema version that declares the message
#: (cwmp-1-0 has the narrowest enumerations and patterns).
XSD_SAMPLES: dict[str, m.Message] = {
    "GetRPCMethods": m.GetRPCMethods(),
    "GetRPCMethodsResponse": m.GetRPCMethodsResponse(method_list=["GetRPCMethods", "Inform"]),
    "SetParameterValues": m.SetParameterValues(parameter_list=PARAMS, parameter_key="k1"),
    "SetParameterValuesResponse": m.SetParameterValuesResponse(status=1),
    "GetParameterValues": m.GetParameterValues(parameter_names=["Device.", TEXT]),
    "GetParameterValuesResponse": m.GetParameterValuesResponse(parameter_list=PARAMS),
    "GetParameterNames": m.GetParameterNames("Device.WiFi.", True),
    "GetParameterNamesResponse": m.GetParameterNamesResponse(
        parameter_list=[
            m.ParameterInfoStruct("Device.WiFi.", False),
            m.ParameterInfoStruct("A.B", True),
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
            m.ParameterAttributeStruct("A.B", 1, ["Subscriber"]),
            m.ParameterAttributeStruct("A.C", 0, []),
        ]
    ),
    "AddObject": m.AddObject("Device.NAT.PortMapping.", "k"),
    "AddObjectResponse": m.AddObjectResponse(instance_number=3, status=0),
    "DeleteObject": m.DeleteObject("Device.NAT.PortMapping.3.", ""),
    "DeleteObjectResponse": m.DeleteObjectResponse(status=0),
    "Download": m.Download(
        command_key="fw",
        file_type="1 Firmware Upgrade Image",
        url="https://files.example.net/fw.bin?a=1&b=2",
        username="u",
        password=TEXT,
        file_size=1024,
        target_file_name="fw.bin",
        delay_seconds=0,
        success_url="",
        failure_url="",
    ),
    "DownloadResponse": m.DownloadResponse(status=1, start_time=None, complete_time=None),
    "Reboot": m.Reboot("r1"),
    "RebootResponse": m.RebootResponse(),
    "GetQueuedTransfers": m.GetQueuedTransfers(),
    "GetQueuedTransfersResponse": m.GetQueuedTransfersResponse(
        transfer_list=[m.QueuedTransferStruct("fw", 2)]
    ),
    "ScheduleInform": m.ScheduleInform(delay_seconds=60, command_key="s"),
    "ScheduleInformResponse": m.ScheduleInformResponse(),
    "SetVouchers": m.SetVouchers(voucher_list=["QUJDRA==", "RUZHSA=="]),
    "SetVouchersResponse": m.SetVouchersResponse(),
    "GetOptions": m.GetOptions("X_00E0FC_Feature"),
    "GetOptionsResponse": m.GetOptionsResponse(
        option_list=[
            m.OptionStruct("X_00E0FC_Feature", 12, 1, 0, T0, T1, 1),
            m.OptionStruct("X_00E0FC_Other", 13, 0, 2, None, None, 0),
        ]
    ),
    "Upload": m.Upload("log", "2 Vendor Log File", "https://up.example.net/", "u", "p", 5),
    "UploadResponse": m.UploadResponse(status=0, start_time=T0, complete_time=T1),
    "FactoryReset": m.FactoryReset(),
    "FactoryResetResponse": m.FactoryResetResponse(),
    "GetAllQueuedTransfers": m.GetAllQueuedTransfers(),
    "GetAllQueuedTransfersResponse": m.GetAllQueuedTransfersResponse(
        transfer_list=[
            m.AllQueuedTransferStruct("fw", 2, True, "1 Firmware Upgrade Image", 1024, "fw.bin")
        ]
    ),
    "ScheduleDownload": m.ScheduleDownload(
        command_key="sd",
        file_type="1 Firmware Upgrade Image",
        url="https://files.example.net/fw.bin",
        file_size=1024,
        target_file_name="fw.bin",
        time_window_list=[
            m.TimeWindowStruct(0, 3600, "1 At Any Time", "", -1),
            m.TimeWindowStruct(7200, 10800, "2 Immediately", TEXT, 3),
        ],
    ),
    "ScheduleDownloadResponse": m.ScheduleDownloadResponse(),
    "CancelTransfer": m.CancelTransfer("sd"),
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
            m.UpdateOpStruct(uuid=UUID, version="2.1", url="https://apps.example.net/v2"),
            m.UpdateOpStruct(),
            m.UninstallOpStruct(uuid=UUID, version="2.1", execution_env_ref="EE1"),
        ],
        command_key="du",
    ),
    "ChangeDUStateResponse": m.ChangeDUStateResponse(),
    "Inform": m.Inform(
        device_id=m.DeviceIdStruct(
            "Huawei Technologies Co., Ltd", "00E0FC", "EG8145V5", "4857544312AB34CD"
        ),
        event=[
            m.EventStruct("0 BOOTSTRAP", ""),
            m.EventStruct("1 BOOT", ""),
            m.EventStruct("M Reboot", "r1"),
        ],
        max_envelopes=1,
        current_time=T1,
        retry_count=0,
        parameter_list=PARAMS,
    ),
    "InformResponse": m.InformResponse(max_envelopes=1),
    "TransferComplete": m.TransferComplete(
        command_key="fw",
        fault_struct=m.FaultStruct(9010, "Download failure"),
        start_time=T0,
        complete_time=T1,
    ),
    "TransferCompleteResponse": m.TransferCompleteResponse(),
    "AutonomousTransferComplete": m.AutonomousTransferComplete(
        announce_url="http://239.0.0.1/",
        transfer_url="https://files.example.net/cfg.xml",
        is_download=True,
        file_type="3 Vendor Configuration File",
        file_size=10,
        target_file_name="cfg.xml",
        fault_struct=m.FaultStruct(0, ""),
        start_time=T0,
        complete_time=T1,
    ),
    "AutonomousTransferCompleteResponse": m.AutonomousTransferCompleteResponse(),
    "DUStateChangeComplete": m.DUStateChangeComplete(
        results=[
            m.OpResultStruct(**_result()),
            m.OpResultStruct(
                **_result(current_state="Failed", resolved=False, fault=m.FaultStruct(9022, "bad"))
            ),
        ],
        command_key="du",
    ),
    "DUStateChangeCompleteResponse": m.DUStateChangeCompleteResponse(),
    "AutonomousDUStateChangeComplete": m.AutonomousDUStateChangeComplete(
        results=[m.AutonOpResultStruct(**_result(operation_performed="Install"))]
    ),
    "AutonomousDUStateChangeCompleteResponse": m.AutonomousDUStateChangeCompleteResponse(),
    "RequestDownload": m.RequestDownload(
        file_type="3 Vendor Configuration File", file_type_arg=[m.ArgStruct("Version", TEXT)]
    ),
    "RequestDownloadResponse": m.RequestDownloadResponse(),
    "Kicked": m.Kicked("setup", "http://192.168.1.1/", "a=1&b=2", "http://next/"),
    "KickedResponse": m.KickedResponse(next_url="https://portal.example.net/"),
}

CASES = [
    (ns, name) for ns in SCHEMA_FOR_NS for name in sorted(m.MESSAGE_TYPES) if name in _declared(ns)
]


def test_codec_covers_exactly_the_rpcs_of_the_newest_schema() -> None:
    assert set(XSD_SAMPLES) == set(m.MESSAGE_TYPES)
    headers_and_fault = {
        "ID",
        "HoldRequests",
        "SessionTimeout",
        "SupportedCWMPVersions",
        "UseCWMPVersion",
        "Fault",
    }
    assert _declared(m.CWMP_NS_1_2) - headers_and_fault == set(m.MESSAGE_TYPES)
    # messages introduced later are checked only against the schemas defining them
    assert "ChangeDUState" not in _declared(m.CWMP_NS_1_1)
    assert "AutonomousTransferComplete" not in _declared(m.CWMP_NS_1_0)
    assert "AutonomousTransferComplete" in _declared(m.CWMP_NS_1_1)


@pytest.mark.parametrize(("ns", "name"), CASES, ids=[f"{ns[-3:]}-{name}" for ns, name in CASES])
def test_every_message_validates(ns: str, name: str) -> None:
    _check(ns, m.Envelope(XSD_SAMPLES[name], ns, id=f"id-{name}", hold_requests=False))


@pytest.mark.parametrize("ns", list(SCHEMA_FOR_NS))
def test_faults_validate(ns: str) -> None:
    _check(ns, m.Envelope(m.Fault(8005), ns, id="1"))
    spv = m.Fault(
        9003,
        set_parameter_values_fault=[
            m.SetParameterValuesFault("A.B", 9007, TEXT),
            m.SetParameterValuesFault("A.C", 9008, ""),
        ],
    )
    _check(ns, m.Envelope(spv, ns, id="2"))


def test_cwmp_1_4_headers_validate() -> None:
    env = m.Envelope(
        m.InformResponse(),
        m.CWMP_NS_1_2,
        id="7",
        hold_requests=True,
        session_timeout=60,
        supported_cwmp_versions="1.0,1.1,1.2,1.3,1.4",
        use_cwmp_version="1.4",
    )
    _check(m.CWMP_NS_1_2, env)


def test_empty_envelope_validates() -> None:
    _check(m.CWMP_NS_1_0, m.Envelope(None, m.CWMP_NS_1_0, id="3"))


# -- the schemas must be able to say no, or the tests above prove nothing ----


def _serialized(name: str, ns: str = m.CWMP_NS_1_2) -> etree._Element:
    return etree.fromstring(serialize(m.Envelope(XSD_SAMPLES[name], ns, id="x")))


def test_schema_rejects_an_unexpected_element() -> None:
    env_schema, rpc_schema = _schemas(m.CWMP_NS_1_2)
    root = _serialized("Inform")
    rpc = root.find("{*}Body")[0]
    rpc.insert(1, etree.Element("Bogus"))
    assert not env_schema.validate(root)
    assert not rpc_schema.validate(rpc)


def test_schema_rejects_wrong_values_and_unknown_rpcs() -> None:
    env_schema, rpc_schema = _schemas(m.CWMP_NS_1_0)
    root = _serialized("Inform", m.CWMP_NS_1_0)
    root.find("{*}Body")[0].find("MaxEnvelopes").text = "many"
    assert not env_schema.validate(root)
    root = _serialized("Inform", m.CWMP_NS_1_0)
    root.find("{*}Body")[0].find("DeviceId/OUI").text = "00e0fc"  # lower case is not an OUI
    assert not env_schema.validate(root)
    # an RPC that cwmp-1-0 does not declare, in the Body
    root = _serialized("ChangeDUState", m.CWMP_NS_1_0)
    assert not env_schema.validate(root)
    # an xsi:type the value does not match
    root = _serialized("GetParameterValuesResponse", m.CWMP_NS_1_0)
    root.find(".//Value").set("{http://www.w3.org/2001/XMLSchema-instance}type", "xsd:unsignedInt")
    assert not env_schema.validate(root)
    # a header ID without mustUnderstand
    root = _serialized("InformResponse", m.CWMP_NS_1_0)
    del root.find("{*}Header")[0].attrib[
        "{http://schemas.xmlsoap.org/soap/envelope/}mustUnderstand"
    ]
    assert not env_schema.validate(root)
    assert rpc_schema.validate(_serialized("InformResponse", m.CWMP_NS_1_0).find("{*}Body")[0])
