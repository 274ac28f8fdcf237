"""Plain data classes for every CWMP message of TR-069 Amendment 6 (CWMP 1.0-1.4).

The classes carry no behaviour: ``cwmp.protocol.codec`` turns them into SOAP and back.
Each field declares, through its dataclass metadata, the XML element it maps to
and how that element is encoded. The codec reads those declarations once, so the
XML shape of a message is written down in exactly one place and parsing and
serializing cannot drift apart.

Field names are the snake_case of the TR-069 element names (``DeviceId`` ->
``device_id``, ``SuccessURL`` -> ``success_url``). Every field has a default so
callers can build any message from keywords alone.

This module is pure Python on purpose: the CPE simulator and the session engine
use it without Django.
"""

# The field helpers below (_text, _int, _array, ...) return dataclasses.field()
# objects, so the per-class shared-default hazard RUF009 guards against cannot
# happen here; ruff just cannot see through the helper.
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# --------------------------------------------------------------------------
# Namespaces
# --------------------------------------------------------------------------

#: CWMP 1.0 (TR-069 Amendment 1), cwmp-1-0.xsd.
CWMP_NS_1_0 = "urn:dslforum-org:cwmp-1-0"
#: CWMP 1.1 (TR-069 Amendment 2), cwmp-1-1.xsd.
CWMP_NS_1_1 = "urn:dslforum-org:cwmp-1-1"
#: CWMP 1.2 (Amendment 3). CWMP 1.3 (Amendment 4) and 1.4 (Amendment 5/6) keep
#: this namespace: cwmp-1-3.xsd and cwmp-1-4.xsd both declare
#: targetNamespace="urn:dslforum-org:cwmp-1-2" and only add header elements
#: (SessionTimeout; SupportedCWMPVersions, UseCWMPVersion), fault 8006 and the
#: "13 WAKEUP" event. The protocol version above 1.2 is negotiated with those
#: headers (TR-069 Amendment 6 section 3.5), not with the namespace.
CWMP_NS_1_2 = "urn:dslforum-org:cwmp-1-2"
#: Not defined by any BBF schema; some CPEs (seen on ZTE/Huawei firmware) send
#: it anyway. Accepted on input and echoed back to the CPE that used it.
CWMP_NS_1_3 = "urn:dslforum-org:cwmp-1-3"
#: Not defined by any BBF schema either (cwmp-1-4.xsd targets cwmp-1-2);
#: accepted for the same reason as CWMP_NS_1_3.
CWMP_NS_1_4 = "urn:dslforum-org:cwmp-1-4"

#: Namespace URI -> the CWMP version it implies. For cwmp-1-2 this is the
#: lowest version using it; the real 1.2/1.3/1.4 version is negotiated.
CWMP_VERSION_BY_NS: dict[str, str] = {
    CWMP_NS_1_0: "1.0",
    CWMP_NS_1_1: "1.1",
    CWMP_NS_1_2: "1.2",
    CWMP_NS_1_3: "1.3",
    CWMP_NS_1_4: "1.4",
}

# --------------------------------------------------------------------------
# Fault codes (TR-069 Amendment 6 A.5.1 CPE fault codes, A.5.2 ACS fault
# codes; wording from the documentation in cwmp-1-2.xsd / cwmp-1-4.xsd)
# --------------------------------------------------------------------------

FAULT_STRINGS: dict[int, str] = {
    8000: "Method not supported",
    8001: "Request denied (no reason specified)",
    8002: "Internal error",
    8003: "Invalid arguments",
    8004: "Resources exceeded",
    8005: "Retry request",
    8006: "ACS version incompatible with CPE",
    9000: "Method not supported",
    9001: "Request denied (no reason specified)",
    9002: "Internal error",
    9003: "Invalid arguments",
    9004: "Resources exceeded",
    9005: "Invalid parameter name",
    9006: "Invalid parameter type",
    9007: "Invalid parameter value",
    9008: "Attempt to set a non-writable parameter",
    9009: "Notification request rejected",
    9010: "File transfer failure",
    9011: "Upload failure",
    9012: "File transfer server authentication failure",
    9013: "Unsupported protocol for file transfer",
    9014: "File transfer failure: unable to join multicast group",
    9015: "File transfer failure: unable to contact file server",
    9016: "File transfer failure: unable to access file",
    9017: "File transfer failure: unable to complete download",
    9018: "File transfer failure: file corrupted",
    9019: "File transfer failure: file authentication failure",
    9020: "File transfer failure: unable to complete download within specified time windows",
    9021: "Cancelation of file transfer not permitted in current transfer state",
    9022: "Invalid UUID Format",
    9023: "Unknown Execution Environment",
    9024: "Disabled Execution Environment",
    9025: "Deployment Unit to Execution Environment Mismatch",
    9026: "Duplicate Deployment Unit",
    9027: "System Resources Exceeded",
    9028: "Unknown Deployment Unit",
    9029: "Invalid Deployment Unit State",
    9030: "Invalid Deployment Unit Update - Downgrade not permitted",
    9031: "Invalid Deployment Unit Update - Version not specified",
    9032: "Invalid Deployment Unit Update - Version already exists",
}

#: Fault codes whose SOAP faultcode is "Client": the fault blames the content
#: of the request (bad arguments, names, types, values, a state the requester
#: should have checked). Everything else, including vendor ranges 8800-8899 and
#: 9800-9899, is "Server": the responder could not or would not carry out a
#: well-formed request. TR-069 section 3.5 says the receiver MAY ignore the
#: SOAP faultcode entirely; the CWMP FaultCode in the detail is what counts.
CLIENT_FAULT_CODES: frozenset[int] = frozenset(
    {
        8003,  # Invalid arguments
        8006,  # ACS version incompatible with CPE (the CPE's offered versions)
        9003,  # Invalid arguments
        9005,  # Invalid parameter name
        9006,  # Invalid parameter type
        9007,  # Invalid parameter value
        9008,  # Attempt to set a non-writable parameter
        9021,  # Cancelation not permitted in current transfer state
        9022,  # Invalid UUID Format
        9023,  # Unknown Execution Environment
        9025,  # Deployment Unit to Execution Environment Mismatch
        9026,  # Duplicate Deployment Unit
        9028,  # Unknown Deployment Unit
        9029,  # Invalid Deployment Unit State
        9030,  # Invalid DU Update - Downgrade not permitted
        9031,  # Invalid DU Update - Version not specified
        9032,  # Invalid DU Update - Version already exists
    }
)


def soap_faultcode_for(fault_code: int) -> str:
    """Pick the SOAP 1.1 faultcode that TR-069 section 3.5 asks for."""
    return "Client" if fault_code in CLIENT_FAULT_CODES else "Server"


# --------------------------------------------------------------------------
# Field declarations. The metadata keys are read by cwmp.protocol.codec:
#   xml      element local name
#   kind     str | int | bool | time | value | struct | array | repeated | none
#   optional omit the element on output when the value is "" / None
#   cls      struct class, or tuple of classes for polymorphic "repeated"
#   item_tag array member element name ("string", "ParameterValueStruct", ...)
#   item     array member: a struct class, or "str"
#   array_type  soap-enc:arrayType without the [N] suffix
# --------------------------------------------------------------------------


def _text(xml: str, *, optional: bool = False) -> Any:
    return field(default="", metadata={"xml": xml, "kind": "str", "optional": optional})


def _int(xml: str, default: int = 0) -> Any:
    return field(default=default, metadata={"xml": xml, "kind": "int"})


def _bool(xml: str, default: bool = False) -> Any:
    return field(default=default, metadata={"xml": xml, "kind": "bool"})


def _time(xml: str, *, optional: bool = False) -> Any:
    return field(default=None, metadata={"xml": xml, "kind": "time", "optional": optional})


def _struct(xml: str, cls: type) -> Any:
    return field(default_factory=cls, metadata={"xml": xml, "kind": "struct", "cls": cls})


def _strings(xml: str, item_tag: str = "string", array_type: str = "xsd:string") -> Any:
    return field(
        default_factory=list,
        metadata={
            "xml": xml,
            "kind": "array",
            "item": "str",
            "item_tag": item_tag,
            "array_type": array_type,
        },
    )


def _array(xml: str, cls: type) -> Any:
    name = cls.__name__
    return field(
        default_factory=list,
        metadata={
            "xml": xml,
            "kind": "array",
            "item": cls,
            "item_tag": name,
            "array_type": "cwmp:" + name,
        },
    )


def _repeated(xml: str, *classes: type) -> Any:
    """A list encoded as sibling elements with the same name (no SOAP array).

    The cwmp-1-2 schema encodes ChangeDUState Operations, DUStateChangeComplete
    Results and the Fault's SetParameterValuesFault this way; with more than one
    class the member type travels in xsi:type (OperationStruct is abstract).
    """
    return field(default_factory=list, metadata={"xml": xml, "kind": "repeated", "cls": classes})


def _none() -> Any:
    """A field that is not an XML element of its own (e.g. the Value's xsi:type)."""
    return field(default=None, metadata={"kind": "none"})


# --------------------------------------------------------------------------
# Structures (TR-069 Amendment 6 Annex A)
# --------------------------------------------------------------------------


@dataclass(slots=True)
class DeviceIdStruct:
    manufacturer: str = _text("Manufacturer")
    oui: str = _text("OUI")
    product_class: str = _text("ProductClass")
    serial_number: str = _text("SerialNumber")


@dataclass(slots=True)
class EventStruct:
    event_code: str = _text("EventCode")
    command_key: str = _text("CommandKey")


@dataclass(slots=True)
class ParameterValueStruct:
    """One parameter. ``value`` is the exact text sent; ``type`` the xsi:type.

    ``type`` is normalised to the ``xsd:`` prefix ("xsd:boolean") whatever
    prefix the sender bound to the XML Schema namespace; None when the sender
    gave no xsi:type. On output None is written as ``xsd:string``.
    """

    name: str = _text("Name")
    value: str = field(default="", metadata={"xml": "Value", "kind": "value"})
    type: str | None = _none()


@dataclass(slots=True)
class ParameterInfoStruct:
    name: str = _text("Name")
    writable: bool = _bool("Writable")


@dataclass(slots=True)
class ParameterAttributeStruct:
    name: str = _text("Name")
    notification: int = _int("Notification")
    access_list: list[str] = _strings("AccessList")


@dataclass(slots=True)
class SetParameterAttributesStruct:
    name: str = _text("Name")
    notification_change: bool = _bool("NotificationChange")
    notification: int = _int("Notification")
    access_list_change: bool = _bool("AccessListChange")
    access_list: list[str] = _strings("AccessList")


@dataclass(slots=True)
class FaultStruct:
    """TransferComplete FaultStruct and DU operation Fault; code 0 means success."""

    fault_code: int = _int("FaultCode")
    fault_string: str = _text("FaultString")


@dataclass(slots=True)
class SetParameterValuesFault:
    parameter_name: str = _text("ParameterName")
    fault_code: int = _int("FaultCode")
    fault_string: str = _text("FaultString")


@dataclass(slots=True)
class QueuedTransferStruct:
    command_key: str = _text("CommandKey")
    state: int = _int("State", 1)


@dataclass(slots=True)
class AllQueuedTransferStruct:
    command_key: str = _text("CommandKey")
    state: int = _int("State", 1)
    is_download: bool = _bool("IsDownload", True)
    file_type: str = _text("FileType")
    file_size: int = _int("FileSize")
    target_file_name: str = _text("TargetFileName")


@dataclass(slots=True)
class TimeWindowStruct:
    window_start: int = _int("WindowStart")
    window_end: int = _int("WindowEnd")
    window_mode: str = _text("WindowMode")
    user_message: str = _text("UserMessage")
    max_retries: int = _int("MaxRetries")


@dataclass(slots=True)
class OptionStruct:
    option_name: str = _text("OptionName")
    voucher_sn: int = _int("VoucherSN")
    state: int = _int("State")
    mode: int = _int("Mode")
    start_date: datetime | None = _time("StartDate")
    expiration_date: datetime | None = _time("ExpirationDate", optional=True)
    is_transferable: int = _int("IsTransferable")


@dataclass(slots=True)
class ArgStruct:
    """A RequestDownload FileTypeArg entry."""

    name: str = _text("Name")
    value: str = _text("Value")


@dataclass(slots=True)
class InstallOpStruct:
    """ChangeDUState Install; empty optional fields are left out on output."""

    url: str = _text("URL")
    uuid: str = _text("UUID", optional=True)
    username: str = _text("Username", optional=True)
    password: str = _text("Password", optional=True)
    execution_env_ref: str = _text("ExecutionEnvRef", optional=True)


@dataclass(slots=True)
class UpdateOpStruct:
    uuid: str = _text("UUID", optional=True)
    version: str = _text("Version", optional=True)
    url: str = _text("URL", optional=True)
    username: str = _text("Username", optional=True)
    password: str = _text("Password", optional=True)


@dataclass(slots=True)
class UninstallOpStruct:
    uuid: str = _text("UUID")
    version: str = _text("Version", optional=True)
    execution_env_ref: str = _text("ExecutionEnvRef", optional=True)


@dataclass(slots=True)
class OpResultStruct:
    uuid: str = _text("UUID")
    deployment_unit_ref: str = _text("DeploymentUnitRef")
    version: str = _text("Version")
    current_state: str = _text("CurrentState")
    resolved: bool = _bool("Resolved")
    execution_unit_ref_list: str = _text("ExecutionUnitRefList")
    start_time: datetime | None = _time("StartTime")
    complete_time: datetime | None = _time("CompleteTime")
    fault: FaultStruct = _struct("Fault", FaultStruct)


@dataclass(slots=True)
class AutonOpResultStruct(OpResultStruct):
    operation_performed: str = _text("OperationPerformed")


# --------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------


class Message:
    """Base of everything that can sit in a SOAP Body."""

    __slots__ = ()


# ---- Generic (A.3.1) ----


@dataclass(slots=True)
class GetRPCMethods(Message):
    pass


@dataclass(slots=True)
class GetRPCMethodsResponse(Message):
    method_list: list[str] = _strings("MethodList")


# ---- ACS -> CPE (A.3.2, A.4.1) ----


@dataclass(slots=True)
class SetParameterValues(Message):
    parameter_list: list[ParameterValueStruct] = _array("ParameterList", ParameterValueStruct)
    parameter_key: str = _text("ParameterKey")


@dataclass(slots=True)
class SetParameterValuesResponse(Message):
    status: int = _int("Status")


@dataclass(slots=True)
class GetParameterValues(Message):
    parameter_names: list[str] = _strings("ParameterNames")


@dataclass(slots=True)
class GetParameterValuesResponse(Message):
    parameter_list: list[ParameterValueStruct] = _array("ParameterList", ParameterValueStruct)


@dataclass(slots=True)
class GetParameterNames(Message):
    parameter_path: str = _text("ParameterPath")
    next_level: bool = _bool("NextLevel")


@dataclass(slots=True)
class GetParameterNamesResponse(Message):
    parameter_list: list[ParameterInfoStruct] = _array("ParameterList", ParameterInfoStruct)


@dataclass(slots=True)
class SetParameterAttributes(Message):
    parameter_list: list[SetParameterAttributesStruct] = _array(
        "ParameterList", SetParameterAttributesStruct
    )


@dataclass(slots=True)
class SetParameterAttributesResponse(Message):
    pass


@dataclass(slots=True)
class GetParameterAttributes(Message):
    parameter_names: list[str] = _strings("ParameterNames")


@dataclass(slots=True)
class GetParameterAttributesResponse(Message):
    parameter_list: list[ParameterAttributeStruct] = _array(
        "ParameterList", ParameterAttributeStruct
    )


@dataclass(slots=True)
class AddObject(Message):
    object_name: str = _text("ObjectName")
    parameter_key: str = _text("ParameterKey")


@dataclass(slots=True)
class AddObjectResponse(Message):
    instance_number: int = _int("InstanceNumber")
    status: int = _int("Status")


@dataclass(slots=True)
class DeleteObject(Message):
    object_name: str = _text("ObjectName")
    parameter_key: str = _text("ParameterKey")


@dataclass(slots=True)
class DeleteObjectResponse(Message):
    status: int = _int("Status")


@dataclass(slots=True)
class Download(Message):
    command_key: str = _text("CommandKey")
    file_type: str = _text("FileType")
    url: str = _text("URL")
    username: str = _text("Username")
    password: str = _text("Password")
    file_size: int = _int("FileSize")
    target_file_name: str = _text("TargetFileName")
    delay_seconds: int = _int("DelaySeconds")
    success_url: str = _text("SuccessURL")
    failure_url: str = _text("FailureURL")


@dataclass(slots=True)
class DownloadResponse(Message):
    status: int = _int("Status")
    start_time: datetime | None = _time("StartTime")
    complete_time: datetime | None = _time("CompleteTime")


@dataclass(slots=True)
class Reboot(Message):
    command_key: str = _text("CommandKey")


@dataclass(slots=True)
class RebootResponse(Message):
    pass


@dataclass(slots=True)
class GetQueuedTransfers(Message):
    pass


@dataclass(slots=True)
class GetQueuedTransfersResponse(Message):
    transfer_list: list[QueuedTransferStruct] = _array("TransferList", QueuedTransferStruct)


@dataclass(slots=True)
class ScheduleInform(Message):
    delay_seconds: int = _int("DelaySeconds")
    command_key: str = _text("CommandKey")


@dataclass(slots=True)
class ScheduleInformResponse(Message):
    pass


@dataclass(slots=True)
class SetVouchers(Message):
    """``voucher_list`` holds the base64 text of each voucher, undecoded."""

    voucher_list: list[str] = _strings("VoucherList", "base64", "soap-enc:base64")


@dataclass(slots=True)
class SetVouchersResponse(Message):
    pass


@dataclass(slots=True)
class GetOptions(Message):
    option_name: str = _text("OptionName")


@dataclass(slots=True)
class GetOptionsResponse(Message):
    option_list: list[OptionStruct] = _array("OptionList", OptionStruct)


@dataclass(slots=True)
class Upload(Message):
    command_key: str = _text("CommandKey")
    file_type: str = _text("FileType")
    url: str = _text("URL")
    username: str = _text("Username")
    password: str = _text("Password")
    delay_seconds: int = _int("DelaySeconds")


@dataclass(slots=True)
class UploadResponse(Message):
    status: int = _int("Status")
    start_time: datetime | None = _time("StartTime")
    complete_time: datetime | None = _time("CompleteTime")


@dataclass(slots=True)
class FactoryReset(Message):
    pass


@dataclass(slots=True)
class FactoryResetResponse(Message):
    pass


@dataclass(slots=True)
class GetAllQueuedTransfers(Message):
    pass


@dataclass(slots=True)
class GetAllQueuedTransfersResponse(Message):
    transfer_list: list[AllQueuedTransferStruct] = _array("TransferList", AllQueuedTransferStruct)


@dataclass(slots=True)
class ScheduleDownload(Message):
    command_key: str = _text("CommandKey")
    file_type: str = _text("FileType")
    url: str = _text("URL")
    username: str = _text("Username")
    password: str = _text("Password")
    file_size: int = _int("FileSize")
    target_file_name: str = _text("TargetFileName")
    time_window_list: list[TimeWindowStruct] = _array("TimeWindowList", TimeWindowStruct)


@dataclass(slots=True)
class ScheduleDownloadResponse(Message):
    pass


@dataclass(slots=True)
class CancelTransfer(Message):
    command_key: str = _text("CommandKey")


@dataclass(slots=True)
class CancelTransferResponse(Message):
    pass


@dataclass(slots=True)
class ChangeDUState(Message):
    operations: list[InstallOpStruct | UpdateOpStruct | UninstallOpStruct] = _repeated(
        "Operations", InstallOpStruct, UpdateOpStruct, UninstallOpStruct
    )
    command_key: str = _text("CommandKey")


@dataclass(slots=True)
class ChangeDUStateResponse(Message):
    pass


# ---- CPE -> ACS (A.3.3, A.4.2) ----


@dataclass(slots=True)
class Inform(Message):
    device_id: DeviceIdStruct = _struct("DeviceId", DeviceIdStruct)
    event: list[EventStruct] = _array("Event", EventStruct)
    max_envelopes: int = _int("MaxEnvelopes", 1)
    current_time: datetime | None = _time("CurrentTime")
    retry_count: int = _int("RetryCount")
    parameter_list: list[ParameterValueStruct] = _array("ParameterList", ParameterValueStruct)


@dataclass(slots=True)
class InformResponse(Message):
    max_envelopes: int = _int("MaxEnvelopes", 1)


@dataclass(slots=True)
class TransferComplete(Message):
    command_key: str = _text("CommandKey")
    fault_struct: FaultStruct = _struct("FaultStruct", FaultStruct)
    start_time: datetime | None = _time("StartTime")
    complete_time: datetime | None = _time("CompleteTime")


@dataclass(slots=True)
class TransferCompleteResponse(Message):
    pass


@dataclass(slots=True)
class AutonomousTransferComplete(Message):
    announce_url: str = _text("AnnounceURL")
    transfer_url: str = _text("TransferURL")
    is_download: bool = _bool("IsDownload", True)
    file_type: str = _text("FileType")
    file_size: int = _int("FileSize")
    target_file_name: str = _text("TargetFileName")
    fault_struct: FaultStruct = _struct("FaultStruct", FaultStruct)
    start_time: datetime | None = _time("StartTime")
    complete_time: datetime | None = _time("CompleteTime")


@dataclass(slots=True)
class AutonomousTransferCompleteResponse(Message):
    pass


@dataclass(slots=True)
class DUStateChangeComplete(Message):
    results: list[OpResultStruct] = _repeated("Results", OpResultStruct)
    command_key: str = _text("CommandKey")


@dataclass(slots=True)
class DUStateChangeCompleteResponse(Message):
    pass


@dataclass(slots=True)
class AutonomousDUStateChangeComplete(Message):
    results: list[AutonOpResultStruct] = _repeated("Results", AutonOpResultStruct)


@dataclass(slots=True)
class AutonomousDUStateChangeCompleteResponse(Message):
    pass


@dataclass(slots=True)
class RequestDownload(Message):
    file_type: str = _text("FileType")
    file_type_arg: list[ArgStruct] = _array("FileTypeArg", ArgStruct)


@dataclass(slots=True)
class RequestDownloadResponse(Message):
    pass


@dataclass(slots=True)
class Kicked(Message):
    command: str = _text("Command")
    referer: str = _text("Referer")
    arg: str = _text("Arg")
    next: str = _text("Next")


@dataclass(slots=True)
class KickedResponse(Message):
    next_url: str = _text("NextURL")


# ---- Faults and the unknown ----


@dataclass(slots=True)
class Fault(Message):
    """A SOAP Fault whose detail carries a CWMP Fault (TR-069 section 3.5, A.5).

    An empty ``fault_string`` is filled with the standard meaning of the code
    and an empty ``soap_faultcode`` with "Client"/"Server" per
    ``soap_faultcode_for``, so ``Fault(9005)`` is a complete fault. A parsed
    SOAP Fault without a CWMP detail gets ``fault_code`` 0.
    """

    fault_code: int = _int("FaultCode")
    fault_string: str = _text("FaultString")
    set_parameter_values_fault: list[SetParameterValuesFault] = _repeated(
        "SetParameterValuesFault", SetParameterValuesFault
    )
    soap_faultcode: str = field(default="", metadata={"kind": "none"})
    soap_faultstring: str = field(default="CWMP fault", metadata={"kind": "none"})

    def __post_init__(self) -> None:
        if not self.fault_string:
            self.fault_string = FAULT_STRINGS.get(self.fault_code, "")
        if not self.soap_faultcode:
            self.soap_faultcode = soap_faultcode_for(self.fault_code)


@dataclass(slots=True)
class UnknownMessage(Message):
    """A Body element the codec does not know, kept so the engine can answer
    8000/9000 Method not supported while still echoing the cwmp:ID."""

    name: str = ""
    namespace: str = ""


#: RPC element name -> class, for every request and response of Amendment 6.
#: ``Fault`` is not in it: it is a SOAP Fault, not a cwmp RPC element.
MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.__name__: cls
    for cls in (
        GetRPCMethods,
        GetRPCMethodsResponse,
        SetParameterValues,
        SetParameterValuesResponse,
        GetParameterValues,
        GetParameterValuesResponse,
        GetParameterNames,
        GetParameterNamesResponse,
        SetParameterAttributes,
        SetParameterAttributesResponse,
        GetParameterAttributes,
        GetParameterAttributesResponse,
        AddObject,
        AddObjectResponse,
        DeleteObject,
        DeleteObjectResponse,
        Download,
        DownloadResponse,
        Reboot,
        RebootResponse,
        GetQueuedTransfers,
        GetQueuedTransfersResponse,
        ScheduleInform,
        ScheduleInformResponse,
        SetVouchers,
        SetVouchersResponse,
        GetOptions,
        GetOptionsResponse,
        Upload,
        UploadResponse,
        FactoryReset,
        FactoryResetResponse,
        GetAllQueuedTransfers,
        GetAllQueuedTransfersResponse,
        ScheduleDownload,
        ScheduleDownloadResponse,
        CancelTransfer,
        CancelTransferResponse,
        ChangeDUState,
        ChangeDUStateResponse,
        Inform,
        InformResponse,
        TransferComplete,
        TransferCompleteResponse,
        AutonomousTransferComplete,
        AutonomousTransferCompleteResponse,
        DUStateChangeComplete,
        DUStateChangeCompleteResponse,
        AutonomousDUStateChangeComplete,
        AutonomousDUStateChangeCompleteResponse,
        RequestDownload,
        RequestDownloadResponse,
        Kicked,
        KickedResponse,
    )
}


# --------------------------------------------------------------------------
# Envelope
# --------------------------------------------------------------------------


@dataclass(slots=True)
class Envelope:
    """One SOAP envelope: a message (or None when the Body is empty) plus the
    CWMP SOAP header fields (TR-069 Amendment 6 section 3.5, SOAP headers).

    ``cwmp_ns`` is the full namespace URI the peer used; answers should reuse
    it. ``no_more_requests`` is the header deprecated in Amendment 1, still
    sent by old CPEs.
    """

    body: Message | None
    cwmp_ns: str
    id: str | None = None
    hold_requests: bool | None = None
    no_more_requests: bool | None = None
    session_timeout: int | None = None
    supported_cwmp_versions: str | None = None
    use_cwmp_version: str | None = None
