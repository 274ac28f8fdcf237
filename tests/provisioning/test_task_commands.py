"""The task commands operators script with: device_task and task_cancel."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from cwmp.protocol import messages as m
from devices.identity import device_id_readings, make_device_id
from provisioning import services
from provisioning.models import Task, TaskState
from tests.factories import DeviceFactory, TenantFactory
from tests.provisioning.session import answer, next_rpc

pytestmark = pytest.mark.django_db
IGD = "InternetGatewayDevice"
FIRMWARE = {"url": "http://127.0.0.1/fw.bin", "file_type": "1 Firmware Upgrade Image"}


def run(capsys, *argv: str) -> tuple[int, dict, str]:
    """Run a command as the shell would: (exit status, printed JSON, stderr)."""
    try:
        call_command(*argv)
        status = 0
    except SystemExit as exc:
        assert isinstance(exc.code, int)  # the commands exit with a status number
        status = exc.code
    captured = capsys.readouterr()
    return status, json.loads(captured.out) if captured.out else {}, captured.err


# ------------------------------------------------------------ device ids typed


def test_readings_of_a_raw_id_include_every_split():
    readings = device_id_readings("00040E-FRITZ!Box-7590-AB")
    assert readings[0] == "00040E-FRITZ!Box-7590-AB"
    assert make_device_id("00040E", "FRITZ!Box", "7590-AB") in readings
    assert make_device_id("00040E", "FRITZ!Box-7590", "AB") in readings
    assert device_id_readings("00259E-EG8145V5-ABC") == ["00259E-EG8145V5-ABC"]


@pytest.mark.parametrize("typed", ["escaped", "raw"])
def test_device_task_takes_the_id_escaped_or_as_the_device_reports_it(capsys, typed):
    device = DeviceFactory(oui="00040E", product_class="FRITZ!Box", serial_number="7590 AB")
    assert device.device_id == "00040E-FRITZ%21Box-7590%20AB"
    given = device.device_id if typed == "escaped" else "00040E-FRITZ!Box-7590 AB"
    status, printed, _ = run(capsys, "device_task", device.tenant.slug, given, "reboot")
    assert status == 0
    assert printed["device"] == device.device_id and printed["state"] == "queued"
    assert printed["fault"] is None


def test_a_raw_id_that_names_two_devices_is_refused(capsys):
    tenant = TenantFactory()
    one = DeviceFactory(tenant=tenant, oui="9075BC", product_class="G-1425G", serial_number="A")
    two = DeviceFactory(tenant=tenant, oui="9075BC", product_class="G", serial_number="1425G-A")
    with pytest.raises(CommandError, match="several devices") as raised:
        call_command("device_task", tenant.slug, "9075BC-G-1425G-A", "reboot")
    assert raised.value.returncode == 2
    assert one.device_id in str(raised.value) and two.device_id in str(raised.value)
    assert not Task.objects.exists()


def test_device_task_looks_only_in_its_tenant(capsys):
    device = DeviceFactory()
    other = TenantFactory()
    with pytest.raises(CommandError, match="no device") as raised:
        call_command("device_task", other.slug, device.device_id, "reboot")
    assert raised.value.returncode == 2


# ------------------------------------------------------------- faults printed


def test_device_task_prints_a_fault_that_has_a_reason_and_no_code(capsys, monkeypatch):
    device = DeviceFactory()

    def the_device_refuses(*, task_pk, timeout, poll=0.2):
        Task.objects.filter(pk=task_pk).update(
            state=TaskState.FAULT, fault_string="the device does not support Reboot"
        )
        return Task.objects.get(pk=task_pk)

    monkeypatch.setattr(services, "task_wait", the_device_refuses)
    status, printed, _ = run(
        capsys, "device_task", device.tenant.slug, device.device_id, "reboot", "--wait", "5"
    )
    assert status == 1
    assert printed["fault"] == {"code": None, "string": "the device does not support Reboot"}


def test_device_task_prints_a_cpe_fault_with_its_code(capsys, monkeypatch):
    device = DeviceFactory()

    def the_cpe_faults(*, task_pk, timeout, poll=0.2):
        Task.objects.filter(pk=task_pk).update(
            state=TaskState.FAULT, fault_code=9005, fault_string="Invalid parameter name"
        )
        return Task.objects.get(pk=task_pk)

    monkeypatch.setattr(services, "task_wait", the_cpe_faults)
    status, printed, _ = run(
        capsys, "device_task", device.tenant.slug, device.device_id, "reboot", "--wait", "5"
    )
    assert status == 1
    assert printed["fault"] == {"code": 9005, "string": "Invalid parameter name"}


# ----------------------------------------------------------------- task_cancel


def test_task_cancel_cancels_a_queued_task(capsys):
    device = DeviceFactory()
    task = services.task_enqueue(device=device, type="reboot")
    status, printed, _ = run(capsys, "task_cancel", device.tenant.slug, str(task.pk))
    assert status == 0 and printed["id"] == task.pk and printed["state"] == "cancelled"
    task.refresh_from_db()
    assert task.state == TaskState.CANCELLED
    # Again: already cancelled is what was asked.
    status, printed, _ = run(capsys, "task_cancel", device.tenant.slug, str(task.pk))
    assert status == 0 and printed["state"] == "cancelled"


def test_task_cancel_gives_up_on_a_transfer_the_device_never_reports(capsys):
    device = DeviceFactory(data_model=IGD)
    task = services.task_enqueue(device=device, type="download", args=FIRMWARE)
    _, ref = next_rpc(device)
    answer(device, ref, m.DownloadResponse(status=1))
    status, printed, _ = run(capsys, "task_cancel", device.tenant.slug, str(task.pk))
    assert status == 0 and printed["state"] == "cancelled"
    assert printed["fault"] == {
        "code": None,
        "string": "cancelled while waiting for the device's report",
    }


def test_task_cancel_cannot_recall_an_rpc_out_in_a_session(capsys):
    device = DeviceFactory(data_model=IGD)
    task = services.task_enqueue(device=device, type="reboot")
    next_rpc(device)
    status, printed, err = run(capsys, "task_cancel", device.tenant.slug, str(task.pk))
    assert status == 1 and printed["state"] == "running" and "running in a session" in err
    task.refresh_from_db()
    assert task.state == TaskState.RUNNING


def test_task_cancel_leaves_a_finished_task_alone(capsys):
    device = DeviceFactory(data_model=IGD)
    task = services.task_enqueue(device=device, type="reboot")
    _, ref = next_rpc(device)
    answer(device, ref, m.RebootResponse())
    status, printed, err = run(capsys, "task_cancel", device.tenant.slug, str(task.pk))
    assert status == 1 and printed["state"] == "done" and "already finished" in err


def test_task_cancel_refuses_another_tenants_task(capsys):
    device = DeviceFactory()
    task = services.task_enqueue(device=device, type="reboot")
    other = TenantFactory()
    with pytest.raises(CommandError, match="no task") as raised:
        call_command("task_cancel", other.slug, str(task.pk))
    assert raised.value.returncode == 2
    task.refresh_from_db()
    assert task.state == TaskState.QUEUED
