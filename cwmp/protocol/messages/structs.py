"""The structures of TR-069 Amendment 6 Annex A that RPC arguments are built from."""

# The field helpers return dataclasses.field() objects (see fields.py), so the
# per-class shared-default hazard RUF009 guards against cannot happen here;
# ruff just cannot see through the helper.
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .fields import _bool, _int, _none, _strings, _struct, _text, _time

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
