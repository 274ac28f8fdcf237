"""Task types: how each task becomes RPCs, and what each answer means.

Every CPE RPC of TR-069 Amendment 6 is a task type (snake_case of the RPC
name), plus composite types that take several RPCs (``refresh``,
``set_and_verify``). A type turns a task into its next request and reads the
answer: the task is then done, needs another RPC (composite), or waits for
the device to report back later (a Download waits for TransferComplete).

Types are small classes in one registry so the API, the portal and the
command line validate arguments the same way (``validate``) before a task is
ever stored.

The types live by concern in ``parameters``, ``device``, ``transfers`` and
``diagnostics``, on the interface and helpers of ``base``; this package
builds the registry from them.
"""

from __future__ import annotations

from typing import Any

from provisioning.tasktypes.base import Context, InvalidTask, Outcome, TaskType
from provisioning.tasktypes.device import (
    FactoryResetType,
    GetRPCMethodsType,
    RebootType,
    ScheduleInformType,
)
from provisioning.tasktypes.diagnostics import DIAGNOSTIC_TYPES
from provisioning.tasktypes.parameters import (
    AddObjectType,
    DeleteObjectType,
    GetParameterAttributesType,
    GetParameterNamesType,
    GetParameterValuesType,
    RefreshType,
    SetAndVerifyType,
    SetParameterAttributesType,
    SetParameterValuesType,
)
from provisioning.tasktypes.transfers import (
    CancelTransferType,
    ChangeDUStateType,
    DownloadType,
    GetAllQueuedTransfersType,
    GetQueuedTransfersType,
    ScheduleDownloadType,
    UploadType,
)

__all__ = [
    "SAFE_TASK_TYPES",
    "TASK_TYPES",
    "Context",
    "InvalidTask",
    "Outcome",
    "TaskType",
    "action_for",
    "validated_args",
]

_BASE_TYPES: tuple[TaskType, ...] = (
    GetRPCMethodsType(),
    GetParameterNamesType(),
    GetParameterValuesType(),
    SetParameterValuesType(),
    GetParameterAttributesType(),
    SetParameterAttributesType(),
    AddObjectType(),
    DeleteObjectType(),
    RebootType(),
    FactoryResetType(),
    DownloadType(),
    UploadType(),
    ScheduleInformType(),
    ScheduleDownloadType(),
    GetQueuedTransfersType(),
    GetAllQueuedTransfersType(),
    CancelTransferType(),
    ChangeDUStateType(),
    RefreshType(),
    SetAndVerifyType(),
)
TASK_TYPES: dict[str, TaskType] = {t.name: t for t in (*_BASE_TYPES, *DIAGNOSTIC_TYPES)}

# The safe device actions (issue 10's helpdesk role, action "operate"): they
# read, restart or diagnose and change no configuration. Everything else
# (values, objects, attributes, transfers, software, factory reset) needs
# "add" (operators and admins).
SAFE_TASK_TYPES: frozenset[str] = frozenset(
    {
        "get_rpc_methods",
        "get_parameter_names",
        "get_parameter_values",
        "get_parameter_attributes",
        "refresh",
        "reboot",
        "schedule_inform",
        "get_queued_transfers",
        "get_all_queued_transfers",
        *(t.name for t in DIAGNOSTIC_TYPES),
    }
)
assert SAFE_TASK_TYPES <= TASK_TYPES.keys()


def action_for(task_type: str) -> str:
    """The action (``tenants.querysets.ROLE_ACTIONS``) that queuing ``task_type`` needs."""
    return "operate" if task_type in SAFE_TASK_TYPES else "add"


def validated_args(type: str, args: dict[str, Any] | None) -> dict[str, Any]:
    """``args`` normalised by the task type ``type``; InvalidTask for an unknown type or bad args.

    The one validation of a task, whatever queues it: the services, the
    model's ``clean()`` (forms) and its ``save()`` of a new row all come here.
    """
    task_type = TASK_TYPES.get(type)
    if task_type is None:
        raise InvalidTask(f"unknown task type {type!r}; one of: {', '.join(sorted(TASK_TYPES))}")
    return task_type.validate(dict(args or {}))
