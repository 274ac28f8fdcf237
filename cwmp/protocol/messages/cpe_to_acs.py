"""The RPCs a CPE calls on the ACS (A.3.3, A.4.2) and their responses."""

# The field helpers return dataclasses.field() objects (see fields.py), so the
# per-class shared-default hazard RUF009 guards against cannot happen here;
# ruff just cannot see through the helper.
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .envelope import Message
from .fields import _array, _bool, _int, _repeated, _struct, _text, _time
from .structs import (
    ArgStruct,
    AutonOpResultStruct,
    DeviceIdStruct,
    EventStruct,
    FaultStruct,
    OpResultStruct,
    ParameterValueStruct,
)

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
