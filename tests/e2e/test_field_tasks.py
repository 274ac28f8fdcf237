"""Issue 4's field behaviours, each played by a simulated device over real HTTP.

The same rules are pinned with Django's test client in tests/provisioning;
here the real server, the real simulator and its quirks show them end to end.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from cpesim import Quirks
from devices.models import Device, SessionLog
from provisioning import files
from provisioning import services as task_services
from provisioning.models import Fault, FileFetch, Task, TaskState
from tests.e2e.conftest import ROOT
from tests.e2e.test_connection_requests import _env
from tests.e2e.test_sessions import assert_completed, cpe_for
from tests.e2e.test_tasks import _Files, file_server  # noqa: F401 - fixture

pytestmark = pytest.mark.e2e
IGD = "InternetGatewayDevice"
SSID = f"{IGD}.LANDevice.1.WLANConfiguration.1.SSID"


def enqueue(device, type_, **args):
    return task_services.task_enqueue(device=device, type=type_, args=args, via="test")


def booted(server, **kwargs):
    cpe = cpe_for(server, **kwargs)
    assert_completed(asyncio.run(cpe.boot()), server)
    return cpe, Device.objects.get(serial_number=cpe.serial)


def session(cpe, server, events=("6 CONNECTION REQUEST",)):
    result = asyncio.run(cpe.run_session(list(events)))
    assert_completed(result, server)
    return result


def test_download_answered_done_but_never_fetched_is_unconfirmed(
    e2e_tenant, acs_server, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path  # the file is stored here and never read by anyone
    firmware = files.file_create(
        tenant=e2e_tenant,
        name="fw-v2.bin",
        file_type="1 Firmware Upgrade Image",
        content=b"CPESIM-FIRMWARE version=V2\n" + b"\x00" * 1000,
    )
    cpe, device = booted(acs_server, quirks="download-no-fetch")
    task = enqueue(device, "download", file_id=firmware.pk, file_type=firmware.file_type)
    result = session(cpe, acs_server)
    assert result.rpcs == ["Download"]
    task.refresh_from_db()
    assert task.state == TaskState.FAULT and task.fault_code is None
    assert task.result["unconfirmed"] is True and task.result["status"] == 0
    assert "never fetched" in task.fault_string
    assert not FileFetch.objects.filter(file=firmware).exists()  # the server's own log


def test_transfer_complete_in_a_later_session_without_its_event(
    e2e_tenant,
    acs_server,
    file_server,  # noqa: F811
):
    async def scenario():
        cpe = cpe_for(acs_server, quirks="transfer-complete-no-event", history=5)
        assert_completed(await cpe.boot(), acs_server)
        device = await asyncio.to_thread(Device.objects.get, serial_number=cpe.serial)
        task = await asyncio.to_thread(
            enqueue,
            device,
            "download",
            url=f"{file_server}/cfg.xml",
            file_type="3 Vendor Configuration File",
            delay_seconds=1,
        )
        sent = await cpe.run_session(["6 CONNECTION REQUEST"])
        # A periodic session while the device still downloads: nothing to report yet.
        between = await cpe.run_session(["2 PERIODIC"])
        waiting = await asyncio.to_thread(Task.objects.get, pk=task.pk)
        async with asyncio.timeout(10):
            while cpe.pending_requests != ["TransferComplete"]:
                await asyncio.sleep(0.02)
        later = await cpe.run_session(["2 PERIODIC"])
        return task, sent, between, waiting, later

    task, sent, between, waiting, later = asyncio.run(scenario())
    for result in (sent, between, later):
        assert_completed(result, acs_server)
    assert sent.rpcs == ["Download"] and between.rpcs == []
    assert waiting.state == TaskState.RUNNING and waiting.progress["waiting"]
    assert later.events == ["2 PERIODIC"]  # no 7 TRANSFER COMPLETE, no M Download
    task.refresh_from_db()
    assert task.state == TaskState.DONE, task.fault_string
    assert task.result["transfer_completed"]
    assert _Files.hits == ["/cfg.xml"]


@pytest.mark.parametrize(
    ("method", "code", "type_", "args"),
    [
        ("GetParameterValues", 9002, "get_parameter_values", {"names": [SSID]}),
        ("SetParameterValues", 9004, "set_parameter_values", {"values": {SSID: "retried"}}),
    ],
)
def test_retryable_fault_backs_off_then_succeeds(e2e_tenant, acs_server, method, code, type_, args):
    cpe, device = booted(acs_server)  # its boot session sets its connection-request password
    cpe.quirks = Quirks.parse(f"fault={method}:{code}:1")  # from now on: busy, once
    task = enqueue(device, type_, **args)
    first = session(cpe, acs_server)
    assert first.faults_sent == [(method, code)]
    task.refresh_from_db()
    assert (task.state, task.attempts, task.fault_code) == (TaskState.QUEUED, 1, code)
    assert task.not_before > timezone.now() + timedelta(seconds=20)  # 30 s back-off
    assert Fault.objects.filter(task=task, code=code, method=method).count() == 1
    # Calling again at once: the task waits out its back-off.
    assert session(cpe, acs_server).rpcs == []
    # ...which the clock has run through by the session after.
    Task.objects.filter(pk=task.pk).update(not_before=timezone.now() - timedelta(seconds=1))
    last = session(cpe, acs_server)
    assert last.rpcs == [method] and last.faults_sent == []
    task.refresh_from_db()
    assert (task.state, task.attempts) == (TaskState.DONE, 2)
    assert task.fault_code is None and task.fault_string == ""


def test_factory_reset_not_supported_is_learned(e2e_tenant, acs_server):
    cpe, device = booted(acs_server, unsupported=frozenset({"FactoryReset"}), history=5)
    first = enqueue(device, "factory_reset")
    result = session(cpe, acs_server)
    assert result.faults_sent == [("FactoryReset", 9000)]
    first.refresh_from_db()
    assert (first.state, first.fault_code, first.attempts) == (TaskState.FAULT, 9000, 1)
    device.refresh_from_db()
    assert device.unsupported_methods == ["FactoryReset"]
    second = enqueue(device, "factory_reset")
    assert session(cpe, acs_server).rpcs == []  # never sent again
    second.refresh_from_db()
    assert (second.state, second.fault_code, second.attempts) == (TaskState.FAULT, 9000, 0)
    assert cpe.get(SSID) != ""  # and the device was never reset
    assert cpe.pending_events == []


def test_reboot_right_after_a_download_without_closing_the_session(
    e2e_tenant,
    acs_server,
    file_server,  # noqa: F811
):
    async def scenario():
        cpe = cpe_for(
            acs_server, quirks="reboot-after-download", firmware_version="V2-SIM", history=5
        )
        assert_completed(await cpe.boot(), acs_server)
        device = await asyncio.to_thread(Device.objects.get, serial_number=cpe.serial)
        download = await asyncio.to_thread(
            enqueue,
            device,
            "download",
            url=f"{file_server}/fw.bin",
            file_type="1 Firmware Upgrade Image",
            expected_version="V2-SIM",
        )
        read = await asyncio.to_thread(enqueue, device, "get_parameter_values", names=[SSID])
        mark = cpe.sessions_completed
        dropped = await cpe.run_session(["6 CONNECTION REQUEST"])
        later = await cpe.wait_session(timeout=20, after=mark + 1)
        return device, download, read, dropped, later

    device, download, read, dropped, later = asyncio.run(scenario())
    # The device answered the Download, got the next RPC and went down without a word.
    assert dropped.ok and dropped.rpcs == ["Download"]
    assert dropped.transcript[-1] == ("--", "rebooting", 0) and 204 not in dropped.statuses
    assert_completed(later, acs_server)
    assert later.events[:2] == ["1 BOOT", "7 TRANSFER COMPLETE"]
    assert later.rpcs == ["GetParameterValues"]  # the RPC it never answered, sent once more
    download.refresh_from_db()
    read.refresh_from_db()
    assert download.state == TaskState.DONE, download.fault_string
    assert download.result["software_version"] == "V2-SIM"
    assert read.state == TaskState.DONE and read.progress.get("resent") == 1
    assert _Files.hits == ["/fw.bin"]
    outcomes = SessionLog.objects.filter(device=device).order_by("started")
    assert [log.outcome for log in outcomes] == ["ok", "abandoned", "ok"]


def test_device_task_command_exits_3_when_the_wait_runs_out(e2e_tenant, acs_server):
    cpe, device = booted(acs_server)  # no connection-request listener: nobody wakes it
    run = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "device_task",
            "e2e",
            device.device_id,
            "get_parameter_values",
            "--args",
            json.dumps({"names": [SSID]}),
            "--wait",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(acs_server),
    )
    assert run.returncode == 3, run.stdout + run.stderr
    printed = json.loads(run.stdout)
    assert printed["state"] == "queued" and printed["fault"] is None
    # Still queued, not lost: the device's next session runs it.
    start = time.monotonic()
    result = session(cpe, acs_server, ("2 PERIODIC",))
    assert result.rpcs == ["GetParameterValues"] and time.monotonic() - start < 10
    assert Task.objects.get(pk=printed["id"]).state == TaskState.DONE
