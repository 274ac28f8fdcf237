"""Operations that need the protocol side: queue work and wake the device.

The API, the portal and the command line all call ``task_run`` for "do this
to that device now": it queues the task, asks the device to call in (a
connection request as a background job — never sent from a web request),
and optionally waits for the result.
"""

from __future__ import annotations

from typing import Any

from cwmp.wakeup.jobs import ConnectionRequestTicket, request_connection
from devices.models import Device
from provisioning import services as task_services
from provisioning.models import Task


def task_run(
    *,
    device: Device,
    type: str,
    args: dict[str, Any] | None = None,
    requested_by: Any = None,
    via: str = "",
    command_key: str = "",
    connection_request: bool = True,
    wait: float = 0,
    inline: bool = False,
) -> tuple[Task, ConnectionRequestTicket | None]:
    """Queue a task, wake the device, wait up to ``wait`` seconds for the outcome.

    ``inline`` sends the connection request from this process (for the
    command line and workers); web requests leave it to the job queue.
    """
    task = task_services.task_enqueue(
        device=device,
        type=type,
        args=args,
        requested_by=requested_by,
        via=via,
        command_key=command_key,
    )
    ticket = request_connection(device, wait=inline) if connection_request else None
    if wait > 0:
        task = task_services.task_wait(task_pk=task.pk, timeout=wait)
    return task, ticket
