"""How the task commands (device_task, task_cancel) print a task.

One shape for both, so a script that reads one command's output reads the
other's.
"""

from __future__ import annotations

from typing import Any

from provisioning.models import Task


def task_fault(task: Task) -> dict[str, Any] | None:
    """The task's fault, or None when it has none.

    Many faults are the ACS's own verdict (expired, cancelled, the device
    never fetched the file, a method it does not support) and carry a
    reason but no CPE fault code; those must show as faults too, not as
    ``null``. ``code`` is null for them.
    """
    if task.fault_code is None and not task.fault_string:
        return None
    return {"code": task.fault_code, "string": task.fault_string}


def task_as_json(task: Task) -> dict[str, Any]:
    return {
        "id": task.pk,
        "device": task.device.device_id,
        "type": task.type,
        "args": task.args,
        "state": task.state,
        "attempts": task.attempts,
        "command_key": task.command_key,
        "result": task.result,
        "fault": task_fault(task),
        "created": task.created.isoformat(),
        "finished": task.finished.isoformat() if task.finished else None,
    }
