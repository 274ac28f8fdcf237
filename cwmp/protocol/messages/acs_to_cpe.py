"""The RPCs the ACS calls on a CPE (A.3.2, A.4.1) and their responses.

GetRPCMethods (A.3.1) is here too: either side may call it, and the ACS
does far more often.
"""

# The field helpers return dataclasses.field() objects (see fields.py), so the
# per-class shared-default hazard RUF009 guards against cannot happen here;
# ruff just cannot see through the helper.
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .envelope import Message
from .fields import _array, _bool, _int, _repeated, _strings, _text, _time
from .structs import (
    AllQueuedTransferStruct,
    InstallOpStruct,
    OptionStruct,
    ParameterAttributeStruct,
    ParameterInfoStruct,
    ParameterValueStruct,
    QueuedTransferStruct,
    SetParameterAttributesStruct,
    TimeWindowStruct,
    UninstallOpStruct,
    UpdateOpStruct,
)

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
