"""Transfers that hang: cancelling a waiting task, the default expiry, the version check."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from cwmp.protocol import codec
from cwmp.protocol import messages as m
from devices.models import CpeRequest, Device
from provisioning import services
from provisioning.models import Task, TaskState
from provisioning.tasktypes import InvalidTask
from tests.cwmp.cpe import IGD, ScriptedCPE, inform_body
from tests.factories import DeviceFactory, TenantFactory
from tests.provisioning.session import answer, next_rpc, transfer_completed

pytestmark = pytest.mark.django_db
FIRMWARE = {"url": "http://127.0.0.1/fw.bin", "file_type": "1 Firmware Upgrade Image"}
VERSION = f"{IGD}.DeviceInfo.SoftwareVersion"


@pytest.fixture
def device():
    return DeviceFactory(data_model=IGD)


def accepted_download(device, **args):
    task = services.task_enqueue(device=device, type="download", args={**FIRMWARE, **args})
    _, ref = next_rpc(device)
    answer(device, ref, m.DownloadResponse(status=1))
    task.refresh_from_db()
    assert task.state == TaskState.RUNNING and task.progress["waiting"]
    return task


def complete(device, task, session="S2", events=(), fault_code=0):
    return transfer_completed(
        device, task.command_key, session=session, events=events, fault_code=fault_code
    )


# ------------------------------------------------------------------ cancelling


def test_a_task_waiting_for_transfer_complete_can_be_cancelled(device):
    task = accepted_download(device)
    cancelled = services.task_cancel(task=task)
    assert cancelled.state == TaskState.CANCELLED and cancelled.finished is not None
    assert "waiting" in cancelled.fault_string
    # The device reports after all: nothing changes, nothing is sent again.
    assert complete(device, task) is None
    task.refresh_from_db()
    assert task.state == TaskState.CANCELLED
    assert next_rpc(device, session="S3") is None


def test_a_task_with_its_rpc_out_still_cannot_be_cancelled(device):
    task = services.task_enqueue(device=device, type="reboot")
    next_rpc(device)
    with pytest.raises(InvalidTask, match="running in a session"):
        services.task_cancel(task=task)
    task.refresh_from_db()
    assert task.state == TaskState.RUNNING


def test_admin_cancel_action_takes_waiting_transfers(device):
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root", password="pw-root-123")
    client = Client()
    client.force_login(admin)
    waiting = accepted_download(device)
    out = services.task_enqueue(device=device, type="reboot")
    next_rpc(device, session="S2")  # the Reboot is out in a session
    client.post(
        "/admin/provisioning/task/",
        {"action": "cancel_tasks", "_selected_action": [waiting.pk, out.pk]},
    )
    waiting.refresh_from_db()
    out.refresh_from_db()
    assert waiting.state == TaskState.CANCELLED
    assert out.state == TaskState.RUNNING


# --------------------------------------------------------------- default expiry


def test_an_accepted_transfer_expires_after_the_transfer_timeout(device, settings):
    settings.ACS_TRANSFER_TIMEOUT = 600
    before = timezone.now()
    task = accepted_download(device, delay_seconds=60)
    # From when the device may start it: its DelaySeconds, then the timeout.
    assert before + timedelta(seconds=660) <= task.expires
    assert task.expires <= timezone.now() + timedelta(seconds=660)
    assert next_rpc(device, session="S2") is None  # still waiting
    task.refresh_from_db()
    assert task.state == TaskState.RUNNING
    later = task.expires + timedelta(seconds=1)
    assert next_rpc(device, session="S3", now=later) is None
    task.refresh_from_db()
    assert task.state == TaskState.EXPIRED and "ACS_TRANSFER_TIMEOUT" in task.fault_string
    device.refresh_from_db()
    assert device.has_tasks is False


def test_schedule_download_deadline_follows_its_last_window(device, settings):
    settings.ACS_TRANSFER_TIMEOUT = 100
    task = services.task_enqueue(
        device=device,
        type="schedule_download",
        args={**FIRMWARE, "time_windows": [{"window_start": 0, "window_end": 7200}]},
    )
    _, ref = next_rpc(device)
    answer(device, ref, m.ScheduleDownloadResponse())
    task.refresh_from_db()
    assert task.progress["waiting"]
    assert task.expires >= timezone.now() + timedelta(seconds=7200 + 90)


def test_the_callers_expiry_wins_and_zero_means_never(device, settings):
    own = timezone.now() + timedelta(days=30)
    task = accepted_download(device)
    assert task.expires is not None  # the default applied
    task = services.task_enqueue(device=device, type="download", args=FIRMWARE, expires=own)
    _, ref = next_rpc(device, session="S2")
    answer(device, ref, m.DownloadResponse(status=1), session="S2")
    task.refresh_from_db()
    assert task.expires == own
    settings.ACS_TRANSFER_TIMEOUT = 0
    task = services.task_enqueue(
        device=device,
        type="upload",
        args={"url": "http://127.0.0.1/u", "file_type": "2 Vendor Log File"},
    )
    _, ref = next_rpc(device, session="S3")
    answer(device, ref, m.UploadResponse(status=1), session="S3")
    task.refresh_from_db()
    assert task.progress["waiting"] and task.expires is None


def test_non_transfer_tasks_get_no_default_expiry(device):
    task = services.task_enqueue(device=device, type="reboot")
    _, ref = next_rpc(device)
    answer(device, ref, m.RebootResponse())
    task.refresh_from_db()
    assert task.state == TaskState.DONE and task.expires is None


# ------------------------------------------------- version check at the next Inform


@pytest.fixture
def cpe():
    TenantFactory(slug="isp")
    return ScriptedCPE(Client(), "/cwmp/isp/")


def _firmware_download_reported_before_reboot(cpe, *, expected="V6"):
    """Download sent, accepted; TransferComplete in a session without 1 BOOT, old version."""
    cpe.session(inform_body("SN1"))
    device = Device.objects.get()
    task = services.task_enqueue(
        device=device, type="download", args={**FIRMWARE, "expected_version": expected}
    )
    cpe.inform(inform_body("SN1", ("6 CONNECTION REQUEST",)))
    sent = codec.parse(cpe.post(b"").content)
    assert isinstance(sent.body, m.Download)
    reply = m.Envelope(body=m.DownloadResponse(status=1), cwmp_ns=m.CWMP_NS_1_0, id=sent.id)
    assert cpe.post(codec.serialize(reply)).status_code == 204
    cpe.inform(inform_body("SN1", ("7 TRANSFER COMPLETE", "M Download")))
    tc = m.TransferComplete(command_key=task.command_key)
    response = cpe.post(codec.serialize(m.Envelope(body=tc, cwmp_ns=m.CWMP_NS_1_0, id="7")))
    assert isinstance(codec.parse(response.content).body, m.TransferCompleteResponse)
    assert cpe.post(b"").status_code == 204
    task.refresh_from_db()
    assert task.state == TaskState.RUNNING and task.progress["verify_version"]
    assert task.expires is not None
    return task


@pytest.mark.parametrize(
    ("events", "reported", "state"),
    [
        (("2 PERIODIC",), "V6", TaskState.DONE),
        (("2 PERIODIC",), "V5R019", TaskState.FAULT),
        (("4 VALUE CHANGE",), "V6", TaskState.DONE),
        (("1 BOOT",), "V6", TaskState.DONE),
    ],
)
def test_firmware_version_checked_at_the_next_inform_whatever_its_events(
    cpe, events, reported, state
):
    task = _firmware_download_reported_before_reboot(cpe)
    cpe.session(inform_body("SN1", events, params={VERSION: reported}))
    task.refresh_from_db()
    assert task.state == state, task.fault_string
    assert task.result["software_version"] == reported
    if state == TaskState.FAULT:
        assert "runs 'V5R019', not 'V6'" in task.fault_string
    assert CpeRequest.objects.filter(method="TransferComplete").count() == 1


def test_version_not_checked_in_the_session_that_brought_the_report(device):
    task = accepted_download(device, expected_version="V6")
    complete(device, task, session="S2")
    task.refresh_from_db()
    assert task.progress["verify_version"] and task.state == TaskState.RUNNING
    assert next_rpc(device, session="S2") is None  # the same session: still the old image
    task.refresh_from_db()
    assert task.state == TaskState.RUNNING
    Device.objects.filter(pk=device.pk).update(software_version="V6")
    assert next_rpc(device, session="S3") is None
    task.refresh_from_db()
    assert task.state == TaskState.DONE and task.result["software_version"] == "V6"


def test_waiting_tasks_left_alone_by_other_sessions(device):
    """Only the version check settles at the next session; a transfer keeps waiting."""
    task = accepted_download(device)
    for session in ("S2", "S3"):
        assert next_rpc(device, session=session) is None
    task.refresh_from_db()
    assert task.state == TaskState.RUNNING and Task.objects.filter(state="running").count() == 1
