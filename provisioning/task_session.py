"""Tasks in a device's session: the first source of work (``provisioning.session``).

Queued :class:`~provisioning.models.Task` rows are sent oldest first, their
answers applied, faults recorded and retried with back-off, transfers
confirmed by the file server's log and the firmware version the device
reports after it. Called under the device's session lock.

Every task query here names the session's tenant as well as its device
(both from the :class:`~provisioning.visit.Visit`): a row whose tenant is
not its device's, which the database or the model should never let in, is
still never sent, answered or finished by another tenant's session.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from cwmp.protocol import messages as m
from cwmp.protocol.faults import RETRYABLE_FAULTS
from devices import services as device_services
from devices.models import Device, Parameter
from provisioning import files
from provisioning import services as task_services
from provisioning.models import OPEN_STATES, Fault, File, Task, TaskState
from provisioning.services import CR_PASSWORD, CR_USERNAME
from provisioning.tasktypes import TASK_TYPES, Context, InvalidTask
from provisioning.visit import Visit

log = logging.getLogger("acsportal.tasks")

BACKOFF_SECONDS = (30, 120, 600, 3600)
# A task that was out in a session the CPE abandoned is sent once more.
RESEND_LIMIT = 1


class TaskSource:
    """Queued :class:`~provisioning.models.Task` rows, oldest first."""

    name = "tasks"

    def on_inform(self, visit: Visit, *, created: bool, reported: dict[str, str]) -> bool:
        device = visit.row()
        if created or "0 BOOTSTRAP" in visit.events:
            # A new or factory-reset device gets the tenant's settings; a
            # periodic session of a known device never comes here.
            tenant = visit.tenant
            if tenant.provision_cr_credentials:
                task_services.provision_connection_request_credentials(device=device)
                device.has_tasks = True
            if task_services.provision_periodic_inform(
                device=device, interval=tenant.periodic_inform_interval, reported=reported
            ):
                device.has_tasks = True
        if device.has_tasks and "8 DIAGNOSTICS COMPLETE" in visit.events:
            diagnostics_completed(tenant_id=visit.tenant_id, device_pk=device.pk)
        if device.has_tasks and "1 BOOT" in visit.events:
            firmware_booted(
                tenant_id=visit.tenant_id,
                device_pk=device.pk,
                software_version=device.software_version,
            )
        return device.has_tasks

    def next_rpc(self, visit: Visit) -> tuple[Any, dict[str, Any]] | None:
        return session_next_rpc(visit)

    def on_answer(self, visit: Visit, ref: dict[str, Any], response: Any) -> None:
        session_rpc_answered(visit, ref=ref, response=response)

    def on_transfer_complete(
        self,
        visit: Visit,
        *,
        command_key: str,
        fault_code: int,
        fault_string: str,
        result: dict[str, Any],
    ) -> None:
        task_transfer_completed(
            visit,
            command_key=command_key,
            fault_code=fault_code,
            fault_string=fault_string,
            result=result,
        )


def _finish(task: Task, state: str, now: datetime, **fields: Any) -> None:
    task.state = state
    task.finished = now
    for key, value in fields.items():
        setattr(task, key, value)
    _forget_secrets(task)
    task.save()


def _forget_secrets(task: Task) -> None:
    """A finished task keeps no connection-request password in clear.

    The ACS needs it in clear only until the SetParameterValues is sent;
    from then on it lives encrypted on the device row
    (``_remember_connection_request_credentials``), and a copy in the
    task's arguments or result would undo that encryption.
    """
    for entry in task.args.get("values") or ():
        if isinstance(entry, list) and entry and str(entry[0]).endswith(CR_PASSWORD):
            entry[1] = ""
    values = task.result.get("values") if isinstance(task.result, dict) else None
    if isinstance(values, dict):
        for path in values:
            if path.endswith(CR_PASSWORD):
                values[path] = ""


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


def _transfer_for(visit: Visit, task: Task) -> dict[str, Any] | None:
    """Fresh transfer fields, made when the RPC is sent so links never go stale.

    A Download naming one of our Files gets a new signed link; an Upload to
    the ACS gets a new signed upload URL. A task may wait days for an
    offline device, longer than any link should live.
    """
    if task.type == "download" and task.args.get("file_id"):
        file = File.objects.filter(pk=task.args["file_id"], tenant_id=visit.tenant_id).first()
        if file is None:
            raise InvalidTask(f"file {task.args['file_id']} no longer exists")
        fields = files.download_args_for_file(
            file, device=visit.row(), base_url=settings.ACS_PUBLIC_URL
        )
        return {
            k: v
            for k, v in fields.items()
            if k in ("url", "file_size", "target_file_name", "username", "password")
        }
    if task.type == "upload" and task.args.get("acs_upload"):
        # Bound to this task: one file, while it waits (provisioning.files).
        return {"url": files.upload_url_for(task=task, base_url=settings.ACS_PUBLIC_URL)}
    return None


def session_next_rpc(
    visit: Visit, *, now: datetime | None = None
) -> tuple[Any, dict[str, Any]] | None:
    """The next task's RPC for this session and a reference to match its answer, or None."""
    now = now or timezone.now()
    device_pk, tenant_id, session_id = visit.device_pk, visit.tenant_id, visit.session_id
    with transaction.atomic():
        for task in Task.objects.filter(
            tenant_id=tenant_id, device_id=device_pk, state__in=OPEN_STATES
        ).order_by("id"):
            task_type = TASK_TYPES.get(task.type)
            if (
                task.progress.get("verify_version")
                and task.progress.get("verify_session") != session_id
            ):
                # A firmware Download reported before its reboot: this session's
                # Inform, whatever its events, says which version the device runs.
                _settle_version_check(
                    task, software_version=visit.row().software_version or "", now=now
                )
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
                root=visit.data_model,
                transfer=_transfer_for(visit, task),
            )
            try:
                message = task_type.build(
                    task.args, task.progress, ctx, command_key=task.command_key
                )
            except InvalidTask as exc:
                _finish(task, TaskState.FAULT, now, fault_code=9003, fault_string=str(exc)[:256])
                continue
            method = type(message).__name__
            if method in visit.unsupported:
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
        open_tasks = Task.objects.filter(
            tenant_id=OuterRef("tenant_id"), device_id=OuterRef("pk"), state__in=OPEN_STATES
        )
        Device.objects.filter(pk=device_pk, tenant_id=tenant_id).exclude(Exists(open_tasks)).update(
            has_tasks=False
        )
    return None


def session_rpc_answered(
    visit: Visit, *, ref: dict[str, Any], response: Any, now: datetime | None = None
) -> Task | None:
    """Apply the CPE's answer (a response or a Fault) to the task that asked."""
    now = now or timezone.now()
    device_pk, tenant_id, session_id = visit.device_pk, visit.tenant_id, visit.session_id
    with transaction.atomic():
        task = (
            Task.objects.select_for_update()
            .filter(pk=ref.get("task"), tenant_id=tenant_id, device_id=device_pk)
            .first()
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
        ctx = Context(
            device_pk=device_pk, now=now, types=_types_for(device_pk, task), root=visit.data_model
        )
        outcome = task_type.complete(task.args, task.progress, response, ctx)
        task.result = {**task.result, **outcome.result}
        if outcome.status == "done":
            if task.type in ("set_parameter_values", "set_and_verify"):
                # Before _finish forgets the password it sets.
                _remember_connection_request_credentials(device_pk, task.args.get("values", []))
            _finish(task, TaskState.DONE, now, fault_code=None, fault_string="")
            if task.type == "cancel_transfer":
                # The device dropped the transfer: its task will never complete.
                Task.objects.filter(
                    tenant_id=tenant_id,
                    device_id=device_pk,
                    command_key=task.args["command_key"],
                    state=TaskState.RUNNING,
                ).update(
                    state=TaskState.CANCELLED,
                    finished=now,
                    fault_string="cancelled on the device by CancelTransfer",
                )
        elif outcome.status == "transferred":
            _transfer_succeeded(task, visit, events=(), now=now)
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


def _remember_connection_request_credentials(device_pk: int, values: list[list[Any]]) -> None:
    """The ACS set the device's connection-request credentials: use them from now on."""
    fields = {}
    for path, value, *_ in values:
        if path.endswith(CR_USERNAME):
            fields["connection_request_username"] = str(value)
        elif path.endswith(CR_PASSWORD):
            fields["connection_request_password"] = str(value)
    if fields:
        Device.objects.filter(pk=device_pk).update(**fields)


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


def task_transfer_completed(
    visit: Visit,
    *,
    command_key: str,
    fault_code: int,
    fault_string: str,
    result: dict[str, Any],
    now: datetime | None = None,
) -> Task | None:
    """Finish the transfer task a TransferComplete names by CommandKey (TR-069 A.3.3.2).

    Matched whatever session it arrives in, with or without the
    ``7 TRANSFER COMPLETE`` event: CPEs that reboot mid-session send it later.
    """
    now = now or timezone.now()
    device_pk = visit.device_pk
    with transaction.atomic():
        task = (
            Task.objects.select_for_update()
            .filter(
                tenant_id=visit.tenant_id,
                device_id=device_pk,
                command_key=command_key,
                state__in=OPEN_STATES,
            )
            .order_by("-id")
            .first()
        )
        if task is None or not TASK_TYPES[task.type].waits_for_transfer:
            return None
        task.result = {**task.result, **result}
        if fault_code:
            fault = m.Fault(fault_code=fault_code, fault_string=fault_string)
            _record_fault(
                task, device_pk, visit.tenant_id, "TransferComplete", fault, visit.session_id
            )
            _finish(
                task, TaskState.FAULT, now, fault_code=fault_code, fault_string=fault_string[:256]
            )
        else:
            _transfer_succeeded(task, visit, events=visit.events, now=now)
        return task


def _transfer_succeeded(task: Task, visit: Visit, *, events: Sequence[str], now: datetime) -> None:
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
    if file_id and not _file_was_fetched(file_id, visit, task.started or task.created):
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
    current = visit.row().software_version
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
        task.progress.update(waiting=True, verify_version=True, verify_session=visit.session_id)
        if task.expires is None:
            task.expires = _transfer_deadline(task, now)
        task.save(update_fields=["progress", "result", "expires"])


def _file_was_fetched(file_id: int, visit: Visit, since: datetime) -> bool:
    file = File.objects.filter(pk=file_id, tenant_id=visit.tenant_id).first()
    return bool(file and files.file_fetched(file=file, device=visit.row(), since=since))


def firmware_booted(
    *, tenant_id: int, device_pk: int, software_version: str, now: datetime | None = None
) -> int:
    """A ``1 BOOT`` Inform: settle downloads waiting to see their SoftwareVersion."""
    now = now or timezone.now()
    count = 0
    with transaction.atomic():
        for task in Task.objects.select_for_update().filter(
            tenant_id=tenant_id, device_id=device_pk, state=TaskState.RUNNING
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


def diagnostics_completed(*, tenant_id: int, device_pk: int) -> int:
    """``8 DIAGNOSTICS COMPLETE`` arrived: diagnostics tasks may read their results now."""
    count = 0
    with transaction.atomic():
        for task in Task.objects.select_for_update().filter(
            tenant_id=tenant_id, device_id=device_pk, state=TaskState.RUNNING
        ):
            if task.progress.get("diagnostics") and task.progress.get("waiting"):
                task.progress.update(waiting=False, phase="read")
                task.save(update_fields=["progress"])
                count += 1
    return count
