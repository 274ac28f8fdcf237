"""Task lifecycle for the people's side: queue, cancel, retry, wait, run now.

Every entry point (the admin, ``manage.py device_task``, later the API and
the portal) queues work here, so arguments are validated once. What a
device's session does with its tasks is ``provisioning.session``'s.
``task_run`` is "do this to that device now": it queues the task, asks the
device to call in (a connection request as a background job, never sent
from a web request) and optionally waits for the result.
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from cwmp.wakeup.jobs import ConnectionRequestTicket, request_connection
from devices.models import Device, Parameter
from provisioning.models import OPEN_STATES, Task, TaskState
from provisioning.tasktypes import InvalidTask, validated_args

log = logging.getLogger("acsportal.tasks")


@transaction.atomic
def task_enqueue(
    *,
    device: Device,
    type: str,
    args: dict[str, Any] | None = None,
    requested_by: Any = None,
    via: str = "",
    expires: datetime | None = None,
    max_attempts: int = 3,
    command_key: str = "",
) -> Task:
    """Validate and queue a task; the device runs it at its next session."""
    # The CommandKey the device echoes in TransferComplete, M events and
    # ParameterKey: the caller's, or a unique one so answers match this task.
    command_key = command_key[:32] or f"acs-{secrets.token_hex(6)}"
    task = Task(
        tenant_id=device.tenant_id,
        device=device,
        type=type,
        args=args or {},
        command_key=command_key,
        requested_by=requested_by if getattr(requested_by, "pk", None) else None,
        requested_via=via,
        expires=expires,
        max_attempts=max_attempts,
    )
    task.validate_args()
    task.save(force_insert=True)
    Device.objects.filter(pk=device.pk).update(has_tasks=True)
    return task


def task_enqueue_bulk(
    *,
    tenant: Any,
    devices: Any,
    type: str,
    args: dict[str, Any] | None = None,
    requested_by: Any = None,
    via: str = "",
    expires: datetime | None = None,
    max_attempts: int = 3,
    command_key: str = "",
) -> int:
    """Queue one task for every device of ``tenant`` that ``devices`` matches; the count.

    ``devices`` is a Device queryset, a ``Q`` or a mapping of field lookups
    (``{"product_class": "EG8145V5"}``). Only the tenant's devices are ever
    queued for, whatever the filter says. Set-based, for campaigns and the
    API: the arguments are validated once, then one ``INSERT ... SELECT``
    writes the tasks (rows as ``task_enqueue`` writes them, each with its own
    CommandKey unless the caller gives one, its tenant read from its device
    row in the same statement) and one UPDATE sets
    ``Device.has_tasks`` on those devices (on PostgreSQL both in one
    statement), so the number of queries does not grow with the devices.
    """
    from collections.abc import Mapping

    from django.db import connections
    from django.db.models import Q, QuerySet

    clean = validated_args(type, args)
    tenant_id = getattr(tenant, "pk", tenant)
    if isinstance(devices, QuerySet):
        if devices.model is not Device:
            raise TypeError(f"devices must be a Device queryset, not one of {devices.model}")
        matched = devices
    elif isinstance(devices, Q):
        matched = Device.objects.filter(devices)
    elif isinstance(devices, Mapping):
        matched = Device.objects.filter(**devices)
    else:
        raise TypeError("devices must be a Device queryset, a Q or a mapping of lookups")
    alias = matched.db
    connection = connections[alias]
    sub_sql, sub_params = (
        matched.filter(tenant_id=tenant_id)
        .order_by()
        .values("pk")
        .query.get_compiler(using=alias)
        .as_sql()
    )
    # Every column but the id, the device and (when not given) the CommandKey
    # takes the value a normal enqueue gives it: the model's own defaults.
    template = Task(
        tenant_id=tenant_id,
        type=type,
        args=clean,
        command_key=command_key[:32],
        requested_by=requested_by if getattr(requested_by, "pk", None) else None,
        requested_via=via,
        expires=expires,
        max_attempts=max_attempts,
    )
    qn = connection.ops.quote_name
    postgres = connection.vendor == "postgresql"
    columns, values, params = [], [], []
    for f in Task._meta.concrete_fields:
        if f.primary_key:
            continue
        columns.append(qn(f.column))
        if f.name == "device":
            values.append("d.id")
        elif f.name == "tenant":
            values.append("d.tenant_id")  # the device's own: the two cannot differ
        elif f.name == "command_key" and not template.command_key:
            values.append(
                "'acs-' || left(replace(gen_random_uuid()::text, '-', ''), 12)"
                if postgres
                else "'acs-' || lower(hex(randomblob(6)))"
            )
        else:
            value = f.pre_save(template, add=True)  # auto_now_add fields take now()
            params.append(f.get_db_prep_save(value, connection))
            # Typed, so the server need not guess a type from the SELECT list.
            # (Field.cast_db_type is Django's, what Cast() uses; django-stubs lacks it.)
            values.append(
                f"CAST(%s AS {f.cast_db_type(connection)})"  # type: ignore[attr-defined]
                if postgres
                else "%s"
            )
    task_table, device_table = qn(Task._meta.db_table), qn(Device._meta.db_table)
    insert = (
        f"INSERT INTO {task_table} ({', '.join(columns)})"  # noqa: S608
        f" SELECT {', '.join(values)} FROM {device_table} d"
        f" WHERE d.tenant_id = %s AND d.id IN ({sub_sql}) ORDER BY d.id"
    )
    params += [tenant_id, *sub_params]
    with transaction.atomic(using=alias), connection.cursor() as cur:
        if postgres:
            # The devices flagged are exactly those the INSERT queued for.
            cur.execute(
                f"WITH new AS ({insert} RETURNING device_id), flagged AS ("  # noqa: S608
                f" UPDATE {device_table} SET has_tasks = true"
                " WHERE id IN (SELECT device_id FROM new) AND NOT has_tasks)"
                " SELECT count(*) FROM new",
                params,
            )
            return int(cur.fetchone()[0])
        # SQLite and the like: the transaction holds the write lock, so the
        # filter matches the same devices in both statements.
        cur.execute(insert, params)
        created = cur.rowcount
        cur.execute(
            f"UPDATE {device_table} SET has_tasks = %s"  # noqa: S608
            f" WHERE tenant_id = %s AND NOT has_tasks AND id IN ({sub_sql})",
            [True, tenant_id, *sub_params],
        )
        return int(created)


@transaction.atomic
def task_cancel(*, task: Task) -> Task:
    """Cancel a queued task, or a running one that only waits for the device's report.

    An RPC out in a session cannot be recalled. A task waiting for a
    TransferComplete (or DUStateChangeComplete, diagnostics results) has
    nothing out: the device may never report, so operators can give up on
    it; a report arriving afterwards is recorded but changes nothing.
    """
    now = timezone.now()
    updated = Task.objects.filter(pk=task.pk, state=TaskState.QUEUED).update(
        state=TaskState.CANCELLED, finished=now
    )
    if not updated:
        updated = Task.objects.filter(
            pk=task.pk, state=TaskState.RUNNING, progress__waiting=True
        ).update(
            state=TaskState.CANCELLED,
            finished=now,
            fault_string="cancelled while waiting for the device's report",
        )
    task.refresh_from_db()
    if not updated and task.state == TaskState.RUNNING:
        raise InvalidTask("the task is running in a session and cannot be cancelled")
    return task


@transaction.atomic
def task_retry(*, task: Task) -> Task:
    """Queue a finished (fault, cancelled, expired) task again, with fresh attempts."""
    if task.is_open:
        raise InvalidTask("the task is still queued or running")
    Task.objects.filter(pk=task.pk).update(
        state=TaskState.QUEUED,
        attempts=0,
        not_before=None,
        progress={},
        fault_code=None,
        fault_string="",
        finished=None,
        session_id="",
    )
    Device.objects.filter(pk=task.device_id).update(has_tasks=True)
    task.refresh_from_db()
    return task


def task_wait(*, task_pk: int, timeout: float, poll: float = 0.2) -> Task:
    """Block until the task leaves queued/running or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        task = Task.objects.get(pk=task_pk)
        if not task.is_open or time.monotonic() >= deadline:
            return task
        time.sleep(poll)


# -- the session side ---------------------------------------------------------


CR_USERNAME = "ManagementServer.ConnectionRequestUsername"
CR_PASSWORD = "ManagementServer.ConnectionRequestPassword"  # noqa: S105 (a path)


def provision_connection_request_credentials(*, device: Device) -> Task:
    """Give a new device its own random connection-request credentials (TR-069 3.2.2).

    A shared or factory-default password would let anyone who learns it
    make every device of the ISP call in; one per device, set by the ACS
    at first contact, is what operators expect.
    """
    root = device.data_model or "InternetGatewayDevice"
    return task_enqueue(
        device=device,
        type="set_parameter_values",
        args={
            "values": [
                [f"{root}.{CR_USERNAME}", f"acs-{device.serial_number}"[:64], "xsd:string"],
                [f"{root}.{CR_PASSWORD}", secrets.token_urlsafe(15), "xsd:string"],
            ]
        },
        via="bootstrap",
    )


_PERIODIC_ENABLE = "ManagementServer.PeriodicInformEnable"
_PERIODIC_INTERVAL = "ManagementServer.PeriodicInformInterval"
PERIODIC_POLICY_VIA = "tenant-policy"


def provision_periodic_inform(
    *, device: Device, interval: int, reported: dict[str, str] | None = None
) -> Task | None:
    """Make a new or bootstrapped device call in every ``interval`` seconds (TR-069 3.2.1.1).

    Called at first contact and on ``0 BOOTSTRAP`` (a factory reset brings
    the vendor's interval back). What the device runs is read from its
    Inform (``reported``), else from what the ACS last stored; when the
    interval differs from the tenant's ``periodic_inform_interval`` or is
    unknown, or periodic informs are off, a SetParameterValues of
    ``PeriodicInformEnable=true`` and ``PeriodicInformInterval`` is queued
    like any task, marked as the tenant policy's. An interval of 0 leaves
    the devices' own settings alone. Returns the task, or None.
    """
    if interval <= 0:
        return None
    root = device.data_model or "InternetGatewayDevice"
    enable_path, interval_path = f"{root}.{_PERIODIC_ENABLE}", f"{root}.{_PERIODIC_INTERVAL}"
    values = {k: v for k, v in (reported or {}).items() if k in (enable_path, interval_path)}
    if len(values) < 2:
        known = Parameter.objects.filter(device=device, path__in=[enable_path, interval_path])
        for path, value in known.values_list("path", "value"):
            values.setdefault(path, value)
    enabled = values.get(enable_path, "true").strip().lower() in ("1", "true")
    if enabled and values.get(interval_path, "").strip() == str(interval):
        return None
    open_tasks = Task.objects.filter(
        tenant_id=device.tenant_id,
        device=device,
        state__in=OPEN_STATES,
        requested_via=PERIODIC_POLICY_VIA,
    )
    if open_tasks.exists():
        return None  # a second bootstrap before the first one's task ran
    return task_enqueue(
        device=device,
        type="set_parameter_values",
        args={
            "values": [
                [enable_path, "true", "xsd:boolean"],
                [interval_path, str(interval), "xsd:unsignedInt"],
            ]
        },
        via=PERIODIC_POLICY_VIA,
    )


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
    task = task_enqueue(
        device=device,
        type=type,
        args=args,
        requested_by=requested_by,
        via=via,
        command_key=command_key,
    )
    ticket = request_connection(device, wait=inline) if connection_request else None
    if wait > 0:
        task = task_wait(task_pk=task.pk, timeout=wait)
    return task, ticket
