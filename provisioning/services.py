"""Task lifecycle: queue, run in a session, finish, retry, cancel.

The session side (``session_next_rpc``, ``session_rpc_answered``,
``transfer_completed``) is called by the CWMP host under the device's
session lock, so two sessions never run one device's tasks at once.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from cwmp.protocol import messages as m
from devices import services as device_services
from devices.models import Device, Parameter
from provisioning import files
from provisioning.models import OPEN_STATES, Fault, File, Task, TaskState
from provisioning.tasktypes import TASK_TYPES, Context, InvalidTask

log = logging.getLogger("acsportal.tasks")

# CPE faults worth trying again later (A.5.1): the device was busy or short
# of something; invalid arguments, unknown names and the like never heal.
RETRYABLE_FAULTS = frozenset(
    {8002, 8005, 9001, 9002, 9004, 9010, 9011, 9012, 9014, 9015, 9016, 9017, 9018, 9019, 9020}
)
BACKOFF_SECONDS = (30, 120, 600, 3600)
# A task that was out in a session the CPE abandoned is sent once more.
RESEND_LIMIT = 1


def _validated_args(type: str, args: dict[str, Any] | None) -> dict[str, Any]:
    task_type = TASK_TYPES.get(type)
    if task_type is None:
        raise InvalidTask(f"unknown task type {type!r}; one of: {', '.join(sorted(TASK_TYPES))}")
    return task_type.validate(dict(args or {}))


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
    clean = _validated_args(type, args)
    # The CommandKey the device echoes in TransferComplete, M events and
    # ParameterKey: the caller's, or a unique one so answers match this task.
    command_key = command_key[:32] or f"acs-{secrets.token_hex(6)}"
    task = Task.objects.create(
        tenant_id=device.tenant_id,
        device=device,
        type=type,
        args=clean,
        command_key=command_key,
        requested_by=requested_by if getattr(requested_by, "pk", None) else None,
        requested_via=via,
        expires=expires,
        max_attempts=max_attempts,
    )
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
    CommandKey unless the caller gives one) and one UPDATE sets
    ``Device.has_tasks`` on those devices (on PostgreSQL both in one
    statement), so the number of queries does not grow with the devices.
    """
    from collections.abc import Mapping

    from django.db import connections
    from django.db.models import Q, QuerySet

    clean = _validated_args(type, args)
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
            values.append(f"CAST(%s AS {f.cast_db_type(connection)})" if postgres else "%s")
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


def _finish(task: Task, state: str, now: datetime, **fields: Any) -> None:
    task.state = state
    task.finished = now
    for key, value in fields.items():
        setattr(task, key, value)
    task.save()


def _record_fault(
    task: Task | None, device_pk: int, tenant_id: int, method: str, fault: m.Fault, session_id: str
) -> None:
    Fault.objects.create(
        tenant_id=tenant_id,
        device_id=device_pk,
        task=task,
        method=method,
        code=fault.fault_code,
        string=fault.fault_string[:256],
        detail=[
            {"parameter": f.parameter_name, "code": f.fault_code, "string": f.fault_string}
            for f in fault.set_parameter_values_fault
        ],
        session_id=session_id,
    )


def _types_for(device_pk: int, task: Task) -> dict[str, str]:
    if task.type not in ("set_parameter_values", "set_and_verify"):
        return {}
    paths = [p for p, _, _ in task.args.get("values", [])]
    return {
        path: type_
        for path, type_ in Parameter.objects.filter(device_id=device_pk, path__in=paths)
        .exclude(type="")
        .values_list("path", "type")
    }


def _transfer_for(device_pk: int, task: Task) -> dict[str, Any] | None:
    """Fresh transfer fields, made when the RPC is sent so links never go stale.

    A Download naming one of our Files gets a new signed link; an Upload to
    the ACS gets a new signed upload URL. A task may wait days for an
    offline device, longer than any link should live.
    """
    if task.type == "download" and task.args.get("file_id"):
        file = File.objects.filter(pk=task.args["file_id"], tenant_id=task.tenant_id).first()
        if file is None:
            raise InvalidTask(f"file {task.args['file_id']} no longer exists")
        device = Device.objects.get(pk=device_pk)
        fields = files.download_args_for_file(file, device=device, base_url=settings.ACS_PUBLIC_URL)
        return {
            k: v
            for k, v in fields.items()
            if k in ("url", "file_size", "target_file_name", "username", "password")
        }
    if task.type == "upload" and task.args.get("acs_upload"):
        device = Device.objects.get(pk=device_pk)
        url = files.upload_url_for(
            device=device,
            command_key=task.command_key,
            file_type=task.args["file_type"],
            base_url=settings.ACS_PUBLIC_URL,
        )
        return {"url": url}
    return None


def session_next_rpc(
    *,
    device_pk: int,
    tenant_id: int,
    session_id: str,
    unsupported: list[str],
    root: str = "",
    now: datetime | None = None,
) -> tuple[Any, dict[str, Any]] | None:
    """The next RPC for this session and a reference to match its answer, or None."""
    now = now or timezone.now()
    software_version: str | None = None
    with transaction.atomic():
        for task in Task.objects.filter(device_id=device_pk, state__in=OPEN_STATES).order_by("id"):
            task_type = TASK_TYPES.get(task.type)
            if (
                task.progress.get("verify_version")
                and task.progress.get("verify_session") != session_id
            ):
                # A firmware Download reported before its reboot: this session's
                # Inform, whatever its events, says which version the device runs.
                if software_version is None:
                    software_version = (
                        Device.objects.filter(pk=device_pk)
                        .values_list("software_version", flat=True)
                        .first()
                        or ""
                    )
                _settle_version_check(task, software_version=software_version, now=now)
                continue
            if task.expires and task.expires <= now:
                waiting = task.state == TaskState.RUNNING and task.progress.get("waiting")
                _finish(
                    task,
                    TaskState.EXPIRED,
                    now,
                    fault_string="expired waiting for the device's report (ACS_TRANSFER_TIMEOUT)"
                    if waiting
                    else "expired before the device ran it",
                )
                continue
            if task.not_before and task.not_before > now:
                continue
            if task.state == TaskState.RUNNING:
                if task.progress.get("waiting"):
                    continue  # for TransferComplete / DUStateChangeComplete
                if task.session_id != session_id:
                    # It was out when a session broke: send it once more.
                    resent = task.progress.get("resent", 0)
                    if resent >= RESEND_LIMIT:
                        _finish(
                            task,
                            TaskState.FAULT,
                            now,
                            fault_code=8002,
                            fault_string="no answer from the device in two sessions",
                        )
                        continue
                    task.progress["resent"] = resent + 1
            if task_type is None:
                _finish(
                    task,
                    TaskState.FAULT,
                    now,
                    fault_code=8000,
                    fault_string=f"unknown task type {task.type}",
                )
                continue
            ctx = Context(
                device_pk=device_pk,
                now=now,
                types=_types_for(device_pk, task),
                root=root,
                transfer=_transfer_for(device_pk, task),
            )
            try:
                message = task_type.build(
                    task.args, task.progress, ctx, command_key=task.command_key
                )
            except InvalidTask as exc:
                _finish(task, TaskState.FAULT, now, fault_code=9003, fault_string=str(exc)[:256])
                continue
            method = type(message).__name__
            if method in unsupported:
                _finish(
                    task,
                    TaskState.FAULT,
                    now,
                    fault_code=9000,
                    fault_string=f"the device does not support {method}",
                )
                continue
            if task.state == TaskState.QUEUED:
                task.attempts += 1
                task.started = task.started or now
            task.state = TaskState.RUNNING
            task.session_id = session_id
            task.save(update_fields=["state", "session_id", "attempts", "started", "progress"])
            return message, {"task": task.pk, "method": method}
        # Nothing left to send: drop the hint unless a task is still open.
        open_tasks = Task.objects.filter(device_id=OuterRef("pk"), state__in=OPEN_STATES)
        Device.objects.filter(pk=device_pk).exclude(Exists(open_tasks)).update(has_tasks=False)
    return None


def session_rpc_answered(
    *,
    ref: dict[str, Any],
    response: Any,
    device_pk: int,
    tenant_id: int,
    session_id: str,
    root: str = "",
    now: datetime | None = None,
) -> Task | None:
    """Apply the CPE's answer (a response or a Fault) to the task that asked."""
    now = now or timezone.now()
    with transaction.atomic():
        task = (
            Task.objects.select_for_update().filter(pk=ref.get("task"), device_id=device_pk).first()
        )
        method = ref.get("method", "")
        if isinstance(response, m.Fault):
            _record_fault(task, device_pk, tenant_id, method, response, session_id)
        if task is None or not task.is_open:
            return task
        task_type = TASK_TYPES[task.type]
        if isinstance(response, m.Fault):
            _apply_fault(task, task_type, response, method, device_pk, now)
            return task
        ctx = Context(device_pk=device_pk, now=now, types=_types_for(device_pk, task), root=root)
        outcome = task_type.complete(task.args, task.progress, response, ctx)
        task.result = {**task.result, **outcome.result}
        if outcome.status == "done":
            _finish(task, TaskState.DONE, now, fault_code=None, fault_string="")
            if task.type in ("set_parameter_values", "set_and_verify"):
                _remember_connection_request_credentials(device_pk, task.args.get("values", []))
            elif task.type == "cancel_transfer":
                # The device dropped the transfer: its task will never complete.
                Task.objects.filter(
                    device_id=device_pk,
                    command_key=task.args["command_key"],
                    state=TaskState.RUNNING,
                ).update(
                    state=TaskState.CANCELLED,
                    finished=now,
                    fault_string="cancelled on the device by CancelTransfer",
                )
        elif outcome.status == "transferred":
            _transfer_succeeded(
                task, device_pk=device_pk, events=(), session_id=session_id, now=now
            )
        elif outcome.status == "error":
            reason = task.result.get("diagnostics_state") or "the device reported an error"
            _finish(task, TaskState.FAULT, now, fault_string=str(reason)[:256])
        else:
            if outcome.status == "waiting":
                task.progress["waiting"] = True
                if task_type.waits_for_transfer and task.expires is None:
                    task.expires = _transfer_deadline(task, now)
            task.save(update_fields=["progress", "result", "expires"])
        return task


def _transfer_deadline(task: Task, now: datetime) -> datetime | None:
    """When a transfer the device accepted is given up if it never reports (None: never).

    ``ACS_TRANSFER_TIMEOUT`` seconds after the device may start it: after
    a Download's DelaySeconds, or after the last ScheduleDownload window.
    Without it, a CPE that accepts a transfer and never sends
    TransferComplete would hold the task open for ever.
    """
    timeout = int(settings.ACS_TRANSFER_TIMEOUT)
    if timeout <= 0:
        return None
    start = int(task.args.get("delay_seconds") or 0)
    for window in task.args.get("time_windows") or ():
        start = max(start, int(window.get("window_end") or 0))
    return now + timedelta(seconds=start + timeout)


_CR_USERNAME = "ManagementServer.ConnectionRequestUsername"
_CR_PASSWORD = "ManagementServer.ConnectionRequestPassword"  # noqa: S105 (a path)


def _remember_connection_request_credentials(device_pk: int, values: list[list[Any]]) -> None:
    """The ACS set the device's connection-request credentials: use them from now on."""
    fields = {}
    for path, value, *_ in values:
        if path.endswith(_CR_USERNAME):
            fields["connection_request_username"] = str(value)
        elif path.endswith(_CR_PASSWORD):
            fields["connection_request_password"] = str(value)
    if fields:
        Device.objects.filter(pk=device_pk).update(**fields)


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
                [f"{root}.{_CR_USERNAME}", f"acs-{device.serial_number}"[:64], "xsd:string"],
                [f"{root}.{_CR_PASSWORD}", secrets.token_urlsafe(15), "xsd:string"],
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
        device=device, state__in=OPEN_STATES, requested_via=PERIODIC_POLICY_VIA
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


def _apply_fault(
    task: Task, task_type: Any, fault: m.Fault, method: str, device_pk: int, now: datetime
) -> None:
    task.fault_code, task.fault_string = fault.fault_code, fault.fault_string[:256]
    if fault.fault_code == 9000:
        # Method not supported: learned for the device, never retried.
        device_services.device_learn_unsupported(device_pk=device_pk, method=method)
        _finish(task, TaskState.FAULT, now)
        return
    if hasattr(task_type, "on_fault") and task_type.on_fault(task.args, task.progress, fault):
        task.save(update_fields=["progress", "fault_code", "fault_string"])
        return
    if fault.fault_code in RETRYABLE_FAULTS and task.attempts < task.max_attempts:
        delay = BACKOFF_SECONDS[min(task.attempts - 1, len(BACKOFF_SECONDS) - 1)]
        task.state = TaskState.QUEUED
        task.not_before = now + timedelta(seconds=delay)
        task.progress = {}
        task.save()
        return
    _finish(task, TaskState.FAULT, now)


def transfer_completed(
    *,
    device_pk: int,
    tenant_id: int,
    command_key: str,
    fault_code: int,
    fault_string: str,
    session_id: str,
    result: dict[str, Any],
    events: Sequence[str] = (),
    now: datetime | None = None,
) -> Task | None:
    """Finish the transfer task a TransferComplete names by CommandKey (TR-069 A.3.3.2).

    Matched whatever session it arrives in, with or without the
    ``7 TRANSFER COMPLETE`` event: CPEs that reboot mid-session send it later.
    """
    now = now or timezone.now()
    with transaction.atomic():
        task = (
            Task.objects.select_for_update()
            .filter(device_id=device_pk, command_key=command_key, state__in=OPEN_STATES)
            .order_by("-id")
            .first()
        )
        if task is None or not TASK_TYPES[task.type].waits_for_transfer:
            return None
        task.result = {**task.result, **result}
        if fault_code:
            fault = m.Fault(fault_code=fault_code, fault_string=fault_string)
            _record_fault(task, device_pk, tenant_id, "TransferComplete", fault, session_id)
            _finish(
                task, TaskState.FAULT, now, fault_code=fault_code, fault_string=fault_string[:256]
            )
        else:
            _transfer_succeeded(
                task, device_pk=device_pk, events=events, session_id=session_id, now=now
            )
        return task


def _transfer_succeeded(
    task: Task, *, device_pk: int, events: Sequence[str], session_id: str, now: datetime
) -> None:
    """A transfer the device calls successful: confirm it before calling it done.

    Two checks an operator cannot do by hand for 100,000 devices: the file
    server's own log must show the device fetched the file (some CPEs answer
    success without downloading), and after a firmware image the device
    must report the expected SoftwareVersion once it has booted: at the next
    session's Inform if not in this one, whatever its events (CPEs that
    install an image without rebooting, or report their boot without
    ``1 BOOT``, must not leave the task waiting for ever).
    """
    if task.args.get("acs_upload") and not task.result.get("file"):
        task.result["unconfirmed"] = True
        _finish(
            task,
            TaskState.FAULT,
            now,
            fault_code=None,
            fault_string="the device reported success but no file arrived",
        )
        return
    file_id = task.args.get("file_id")
    if file_id and not _file_was_fetched(file_id, device_pk, task.started or task.created):
        task.result["unconfirmed"] = True
        _finish(
            task,
            TaskState.FAULT,
            now,
            fault_code=None,
            fault_string="the device reported success but never fetched the file",
        )
        return
    expected = task.args.get("expected_version")
    if not expected:
        _finish(task, TaskState.DONE, now, fault_code=None, fault_string="")
        return
    current = Device.objects.filter(pk=device_pk).values_list("software_version", flat=True).first()
    if current == expected:
        task.result["software_version"] = current
        _finish(task, TaskState.DONE, now, fault_code=None, fault_string="")
    elif "1 BOOT" in events:
        task.result["software_version"] = current
        _finish(
            task,
            TaskState.FAULT,
            now,
            fault_code=None,
            fault_string=f"after the download the device runs {current!r}, not {expected!r}",
        )
    else:
        # Reported before the reboot that installs it: check at the next Inform.
        task.progress.update(waiting=True, verify_version=True, verify_session=session_id)
        if task.expires is None:
            task.expires = _transfer_deadline(task, now)
        task.save(update_fields=["progress", "result", "expires"])


def _file_was_fetched(file_id: int, device_pk: int, since: datetime) -> bool:
    file = File.objects.filter(pk=file_id).first()
    device = Device.objects.filter(pk=device_pk).first()
    return bool(file and device and files.file_fetched(file=file, device=device, since=since))


def firmware_booted(*, device_pk: int, software_version: str, now: datetime | None = None) -> int:
    """A ``1 BOOT`` Inform: settle downloads waiting to see their SoftwareVersion."""
    now = now or timezone.now()
    count = 0
    with transaction.atomic():
        for task in Task.objects.select_for_update().filter(
            device_id=device_pk, state=TaskState.RUNNING
        ):
            if not task.progress.get("verify_version"):
                continue
            _settle_version_check(task, software_version=software_version, now=now)
            count += 1
    return count


def _settle_version_check(task: Task, *, software_version: str, now: datetime) -> None:
    """The device reported its SoftwareVersion after a firmware Download: done or fault."""
    expected = task.args.get("expected_version")
    task.result["software_version"] = software_version
    if software_version == expected:
        _finish(task, TaskState.DONE, now, fault_code=None, fault_string="")
    else:
        _finish(
            task,
            TaskState.FAULT,
            now,
            fault_code=None,
            fault_string=f"after the download the device runs {software_version!r}, not {expected!r}",
        )


def diagnostics_completed(*, device_pk: int) -> int:
    """``8 DIAGNOSTICS COMPLETE`` arrived: diagnostics tasks may read their results now."""
    count = 0
    with transaction.atomic():
        for task in Task.objects.select_for_update().filter(
            device_id=device_pk, state=TaskState.RUNNING
        ):
            if task.progress.get("diagnostics") and task.progress.get("waiting"):
                task.progress.update(waiting=False, phase="read")
                task.save(update_fields=["progress"])
                count += 1
    return count
