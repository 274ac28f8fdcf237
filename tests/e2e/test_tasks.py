"""Tasks run by simulated devices against the real server over HTTP."""

from __future__ import annotations

import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cpesim import SimulatedCPE
from devices.models import Device, Parameter
from provisioning import services as task_services
from provisioning.models import Fault, Task, TaskState
from tests.e2e.test_sessions import assert_completed, cpe_for

pytestmark = pytest.mark.e2e
IGD = "InternetGatewayDevice"
SSID = f"{IGD}.LANDevice.1.WLANConfiguration.1.SSID"


def booted(server, **kwargs) -> tuple[SimulatedCPE, Device]:
    cpe = cpe_for(server, **kwargs)
    assert_completed(asyncio.run(cpe.boot()), server)
    return cpe, Device.objects.get(serial_number=cpe.serial)


def session(cpe, server, events=("6 CONNECTION REQUEST",)):
    result = asyncio.run(cpe.run_session(list(events)))
    assert_completed(result, server)
    return result


def enqueue(device, type_, **args):
    return task_services.task_enqueue(device=device, type=type_, args=args, via="test")


def test_parameter_tasks_in_one_session(e2e_tenant, acs_server):
    cpe, device = booted(acs_server)
    tasks = [
        enqueue(device, "get_rpc_methods"),
        enqueue(device, "get_parameter_values", names=[SSID, f"{IGD}.DeviceInfo."]),
        enqueue(device, "set_parameter_values", values={SSID: "acs-test"}),
        enqueue(
            device,
            "get_parameter_names",
            path=f"{IGD}.LANDevice.1.WLANConfiguration.1.",
            next_level=True,
        ),
        enqueue(device, "get_parameter_attributes", names=[SSID]),
        enqueue(device, "set_parameter_attributes", attributes=[{"name": SSID, "notification": 2}]),
        enqueue(device, "set_and_verify", values={SSID: "verified"}),
    ]
    result = session(cpe, acs_server)
    assert result.rpcs == [
        "GetRPCMethods",
        "GetParameterValues",
        "SetParameterValues",
        "GetParameterNames",
        "GetParameterAttributes",
        "SetParameterAttributes",
        "SetParameterValues",
        "GetParameterValues",
    ]
    for task in tasks:
        task.refresh_from_db()
        assert task.state == TaskState.DONE, (task.type, task.fault_code, task.fault_string)
    assert "GetParameterValues" in tasks[0].result["methods"]
    assert tasks[1].result["values"][SSID]
    assert cpe.get(SSID) == "verified"
    assert tasks[6].result["verified"] is True
    param = Parameter.objects.get(device=device, path=SSID)
    assert param.value == "verified" and param.notification == 2 and param.writable is True
    assert cpe.tree.attributes(SSID)[0] == 2
    device.refresh_from_db()
    assert device.has_tasks is False
    # The parameter key the device now reports is the last SPV's CommandKey.
    assert cpe.get(f"{IGD}.ManagementServer.ParameterKey") == tasks[6].command_key


def test_add_and_delete_object(e2e_tenant, acs_server):
    cpe, device = booted(acs_server)
    add = enqueue(device, "add_object", object_name=f"{IGD}.LANDevice.1.WLANConfiguration.")
    session(cpe, acs_server)
    add.refresh_from_db()
    assert add.state == TaskState.DONE
    instance = add.result["object"]
    assert cpe.tree.exists(instance)
    assert Parameter.objects.filter(device=device, path=instance, is_object=True).exists()
    delete = enqueue(device, "delete_object", object_name=instance)
    session(cpe, acs_server)
    delete.refresh_from_db()
    assert delete.state == TaskState.DONE
    assert not cpe.tree.exists(instance)
    assert not Parameter.objects.filter(device=device, path__startswith=instance).exists()


def test_refresh_subtree_in_batches(e2e_tenant, acs_server):
    cpe, device = booted(acs_server)
    task = enqueue(device, "refresh", path=f"{IGD}.LANDevice.")
    result = session(cpe, acs_server)
    task.refresh_from_db()
    assert task.state == TaskState.DONE
    leaves = task.result["parameters"]
    assert leaves > 100  # needed more than one batch
    assert result.rpcs[0] == "GetParameterNames"
    assert result.rpcs.count("GetParameterValues") == -(-leaves // 100)
    stored = Parameter.objects.filter(
        device=device, path__startswith=f"{IGD}.LANDevice.", is_object=False
    )
    assert stored.count() == leaves
    assert stored.get(path=SSID).value == cpe.get(SSID)


def test_set_parameter_values_faults_are_kept_per_parameter(e2e_tenant, acs_server):
    cpe, device = booted(acs_server)
    read_only = f"{IGD}.DeviceInfo.SerialNumber"
    task = enqueue(
        device, "set_parameter_values", values={read_only: "X", f"{IGD}.Nope.Nothing": "1"}
    )
    session(cpe, acs_server)
    task.refresh_from_db()
    assert task.state == TaskState.FAULT and task.fault_code == 9003
    fault = Fault.objects.get(task=task)
    detail = {d["parameter"]: d["code"] for d in fault.detail}
    assert detail == {read_only: 9008, f"{IGD}.Nope.Nothing": 9005}


def test_value_checked_against_reported_type_before_sending(e2e_tenant, acs_server):
    cpe, device = booted(acs_server)
    interval = f"{IGD}.ManagementServer.PeriodicInformInterval"
    enqueue(device, "get_parameter_values", names=[interval])
    session(cpe, acs_server)
    task = enqueue(device, "set_parameter_values", values={interval: "soon"})
    result = session(cpe, acs_server)
    task.refresh_from_db()
    assert task.state == TaskState.FAULT
    assert "not an integer" in task.fault_string
    assert "SetParameterValues" not in result.rpcs


def test_unsupported_method_is_learned(e2e_tenant, acs_server):
    cpe, device = booted(acs_server, unsupported=frozenset({"Reboot"}))
    first = enqueue(device, "reboot")
    session(cpe, acs_server)
    first.refresh_from_db()
    assert (first.state, first.fault_code, first.attempts) == (TaskState.FAULT, 9000, 1)
    device.refresh_from_db()
    assert device.unsupported_methods == ["Reboot"]
    second = enqueue(device, "reboot")
    result = session(cpe, acs_server)
    second.refresh_from_db()
    assert second.state == TaskState.FAULT and second.fault_code == 9000
    assert "Reboot" not in result.rpcs  # never sent again


def test_reboot_then_boot_session_carries_m_reboot(e2e_tenant, acs_server):
    cpe, device = booted(acs_server)
    task = enqueue(device, "reboot")
    session(cpe, acs_server)
    task.refresh_from_db()
    assert task.state == TaskState.DONE
    after = asyncio.run(cpe.run_session())
    assert_completed(after, acs_server)
    assert "M Reboot" in after.events and "1 BOOT" in after.events


def test_tasks_wait_for_an_offline_device_and_survive_a_server_restart(e2e_tenant, tmp_path):
    """A server killed mid-session: the task that was out is sent once more, nothing is lost.

    The device's ManagementServer.URL names a fixed port; the first server is
    SIGKILLed (no clean shutdown, nothing flushed) while the device holds a
    GetParameterValues it has not answered yet; a new server process comes up
    on the same port and the device calls again.
    """
    import time

    from cpesim import BackgroundLoop
    from devices.models import SessionLog
    from tests.e2e.conftest import free_port, start_server, stop_server

    port = free_port()
    first = start_server(tmp_path, port=port, ACS_VAR_DIR=str(tmp_path))
    second = None
    try:
        with BackgroundLoop() as bg:
            cpe = cpe_for(first)
            assert_completed(bg.run(cpe.boot()), first)
            device = Device.objects.get(serial_number=cpe.serial)
            original = cpe.get(SSID)
            # Queued while the device is offline: nothing happens until it calls.
            read = enqueue(device, "get_parameter_values", names=[SSID])
            write = enqueue(device, "set_parameter_values", values={SSID: "after-restart"})
            cpe.options = cpe.options.with_overrides(answer_delay=0.5)  # a slow CPE
            pending = bg.submit(cpe.run_session(["6 CONNECTION REQUEST"]))
            deadline = time.monotonic() + 10
            while Task.objects.get(pk=read.pk).state != TaskState.RUNNING:
                assert time.monotonic() < deadline, first.log()
                time.sleep(0.02)
            first.kill()  # SIGKILL while the RPC is out
            broken = pending.result(30)
            # The kill lands after the task went RUNNING: the request is on
            # its way to the CPE or already there, never answered.
            assert not broken.ok and broken.rpcs in ([], ["GetParameterValues"])
            read.refresh_from_db()
            write.refresh_from_db()
            assert (read.state, write.state) == (TaskState.RUNNING, TaskState.QUEUED)

            # A fresh process on the same port: nothing in memory.
            second = start_server(tmp_path, port=port, ACS_VAR_DIR=str(tmp_path))
            cpe.options = cpe.options.with_overrides(answer_delay=0.0)
            again = bg.run(cpe.run_session(["2 PERIODIC"]))
            assert_completed(again, second)
            assert again.rpcs == ["GetParameterValues", "SetParameterValues"]
            # Not left locked either: the next session is an ordinary one.
            assert_completed(bg.run(cpe.run_session(["2 PERIODIC"])), second)
    finally:
        stop_server(first)
        if second is not None:
            stop_server(second)
    read.refresh_from_db()
    write.refresh_from_db()
    assert read.state == TaskState.DONE and read.result["values"] == {SSID: original}
    assert read.attempts == 1 and read.progress.get("resent") == 1  # sent once more, done once
    assert write.state == TaskState.DONE and cpe.get(SSID) == "after-restart"
    assert Parameter.objects.get(device=device, path=SSID).value == "after-restart"
    device.refresh_from_db()
    assert device.has_tasks is False
    outcomes = list(SessionLog.objects.filter(device=device).order_by("started"))
    assert [log.outcome for log in outcomes][-2:] == ["ok", "ok"]


class _Files(BaseHTTPRequestHandler):
    body = b"\x00firmware-v2\x00" * 100
    hits: list[str] = []
    received: list[int] = []

    def do_PUT(self):
        length = int(self.headers.get("Content-Length") or 0)
        _Files.received.append(len(self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        _Files.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def file_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Files.hits = []
    _Files.received = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_finishes_on_transfer_complete(e2e_tenant, acs_server, file_server):
    async def scenario():
        cpe = cpe_for(acs_server, firmware_version="V2-SIM")
        await cpe.run_session(cpe.boot_events())
        device = await asyncio.to_thread(Device.objects.get, serial_number=cpe.serial)
        task = await asyncio.to_thread(
            enqueue,
            device,
            "download",
            url=f"{file_server}/fw.bin",
            file_type="1 Firmware Upgrade Image",
        )
        mark = cpe.sessions_completed
        first = await cpe.run_session(["6 CONNECTION REQUEST"])
        # The device fetches the file after the session, reboots and reports.
        later = await cpe.wait_session(timeout=20, after=mark + 1)
        return cpe, task, first, later

    cpe, task, first, later = asyncio.run(scenario())
    assert_completed(first, acs_server)
    assert first.rpcs == ["Download"]
    assert_completed(later, acs_server)
    assert "7 TRANSFER COMPLETE" in later.events and "M Download" in later.events
    task.refresh_from_db()
    assert task.state == TaskState.DONE, (task.fault_code, task.fault_string)
    assert _Files.hits == ["/fw.bin"]
    device = Device.objects.get(serial_number=cpe.serial)
    assert device.software_version == "V2-SIM"


def test_download_failure_is_a_task_fault(e2e_tenant, acs_server, file_server):
    async def scenario():
        cpe = cpe_for(acs_server)
        await cpe.run_session(cpe.boot_events())
        device = await asyncio.to_thread(Device.objects.get, serial_number=cpe.serial)
        task = await asyncio.to_thread(
            enqueue,
            device,
            "download",
            url="http://127.0.0.1:9/missing.bin",
            file_type="1 Firmware Upgrade Image",
        )
        mark = cpe.sessions_completed
        await cpe.run_session(["6 CONNECTION REQUEST"])
        await cpe.wait_session(timeout=20, after=mark + 1)
        return task

    task = asyncio.run(scenario())
    task.refresh_from_db()
    assert task.state == TaskState.FAULT
    assert task.fault_code == 9010
    assert Fault.objects.filter(task=task, method="TransferComplete").exists()


def test_cancel_and_retry(e2e_tenant, acs_server):
    cpe, device = booted(acs_server)
    task = enqueue(device, "get_parameter_values", names=[SSID])
    task_services.task_cancel(task=task)
    result = session(cpe, acs_server)
    assert result.rpcs == []
    task_services.task_retry(task=task)
    result = session(cpe, acs_server)
    task.refresh_from_db()
    assert result.rpcs == ["GetParameterValues"] and task.state == TaskState.DONE


def test_expired_task_is_not_sent(e2e_tenant, acs_server):
    from datetime import timedelta

    from django.utils import timezone

    cpe, device = booted(acs_server)
    task = task_services.task_enqueue(
        device=device, type="reboot", expires=timezone.now() - timedelta(seconds=1)
    )
    result = session(cpe, acs_server)
    task.refresh_from_db()
    assert task.state == TaskState.EXPIRED and result.rpcs == []
    assert Task.objects.filter(state=TaskState.QUEUED).count() == 0


@pytest.mark.parametrize(
    ("firmware", "expected", "state"),
    [("V2-SIM", "V2-SIM", TaskState.DONE), ("V1-OLD", "V2-SIM", TaskState.FAULT)],
)
def test_firmware_version_checked_after_download(
    e2e_tenant, acs_server, file_server, firmware, expected, state
):
    async def scenario():
        cpe = cpe_for(acs_server, firmware_version=firmware)
        await cpe.run_session(cpe.boot_events())
        device = await asyncio.to_thread(Device.objects.get, serial_number=cpe.serial)
        task = await asyncio.to_thread(
            enqueue,
            device,
            "download",
            url=f"{file_server}/fw.bin",
            file_type="1 Firmware Upgrade Image",
            expected_version=expected,
        )
        mark = cpe.sessions_completed
        await cpe.run_session(["6 CONNECTION REQUEST"])
        await cpe.wait_session(timeout=20, after=mark + 1)
        return task

    task = asyncio.run(scenario())
    task.refresh_from_db()
    assert task.state == state, task.fault_string
    assert task.result["software_version"] == firmware


def test_download_and_reboot_in_one_session(e2e_tenant, acs_server, file_server):
    async def scenario():
        cpe = cpe_for(acs_server)
        await cpe.run_session(cpe.boot_events())
        device = await asyncio.to_thread(Device.objects.get, serial_number=cpe.serial)
        download = await asyncio.to_thread(
            enqueue,
            device,
            "download",
            url=f"{file_server}/cfg.xml",
            file_type="3 Vendor Configuration File",
        )
        reboot = await asyncio.to_thread(enqueue, device, "reboot")
        mark = cpe.sessions_completed
        first = await cpe.run_session(["6 CONNECTION REQUEST"])
        await cpe.wait_session(timeout=20, after=mark + 1)
        return first, download, reboot

    first, download, reboot = asyncio.run(scenario())
    assert first.rpcs == ["Download", "Reboot"]
    download.refresh_from_db()
    reboot.refresh_from_db()
    assert reboot.state == TaskState.DONE
    assert download.state == TaskState.DONE, download.fault_string
