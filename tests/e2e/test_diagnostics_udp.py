"""Diagnostics, UDP connection requests and STUN with simulated devices."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from cpesim import BackgroundLoop
from devices.models import Device
from provisioning import services as task_services
from provisioning.models import TaskState
from tests.e2e.conftest import ROOT, free_port
from tests.e2e.test_connection_requests import _env
from tests.e2e.test_sessions import assert_completed, cpe_for
from tests.e2e.test_tasks import file_server  # noqa: F401 - fixture

pytestmark = pytest.mark.e2e


@pytest.fixture
def bg():
    with BackgroundLoop() as loop:
        yield loop


def _booted(bg, server, dump="huawei-eg8145v5", **kwargs):
    cpe = cpe_for(server, dump, history=10, **kwargs)
    if kwargs.get("udp_cr"):
        bg.run(cpe.start_udp_cr_listener())
    assert_completed(bg.run(cpe.boot()), server)
    return cpe, Device.objects.get(serial_number=cpe.serial)


def _run_task(bg, server, cpe, device, type_, **args):
    """Queue a task, wake the device, and wait for the sessions it leads to."""
    task = task_services.task_enqueue(device=device, type=type_, args=args)
    mark = cpe.sessions_completed
    assert_completed(bg.run(cpe.run_session(["6 CONNECTION REQUEST"])), server)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        task.refresh_from_db()
        if not task.is_open:
            break
        try:
            bg.run(cpe.wait_session(2, after=mark + 1))
            mark = cpe.sessions_completed
        except TimeoutError:
            pass
    return task


@pytest.mark.parametrize("dump", ["huawei-eg8145v5", "tplink-ex220"])
def test_ping_diagnostic(e2e_tenant, acs_server, bg, dump):
    cpe, device = _booted(bg, acs_server, dump)
    task = _run_task(bg, acs_server, cpe, device, "ping", host="127.0.0.1", count=3)
    assert task.state == TaskState.DONE, task.fault_string
    results = task.result["results"]
    assert task.result["diagnostics_state"] == "Complete"
    assert results["SuccessCount"] == "3" and results["FailureCount"] == "0"
    assert "AverageResponseTime" in results
    assert cpe.last_result.events[0] == "8 DIAGNOSTICS COMPLETE"


def test_ping_of_an_unresolvable_host_is_a_fault_with_the_device_state(e2e_tenant, acs_server, bg):
    cpe, device = _booted(bg, acs_server)
    task = _run_task(bg, acs_server, cpe, device, "ping", host="no-such-host.invalid")
    assert task.state == TaskState.FAULT
    assert task.fault_string == "Error_CannotResolveHostName"


def test_traceroute(e2e_tenant, acs_server, bg):
    cpe, device = _booted(bg, acs_server, "zte-h199a")
    task = _run_task(bg, acs_server, cpe, device, "traceroute", host="127.0.0.1")
    assert task.state == TaskState.DONE, task.fault_string
    assert task.result["results"]["RouteHopsNumberOfEntries"] == "1"


def test_download_diagnostic(e2e_tenant, acs_server, bg, file_server):  # noqa: F811
    cpe, device = _booted(bg, acs_server)
    task = _run_task(
        bg, acs_server, cpe, device, "download_diagnostics", url=f"{file_server}/big.bin"
    )
    assert task.state == TaskState.DONE, task.fault_string
    assert int(task.result["results"]["TestBytesReceived"]) > 0
    assert task.result["results"]["BOMTime"]


def test_hostile_host_is_refused_before_anything_is_queued(e2e_tenant, acs_server, bg):
    from provisioning.tasktypes import InvalidTask

    _, device = _booted(bg, acs_server)
    with pytest.raises(InvalidTask):
        task_services.task_enqueue(device=device, type="ping", args={"host": "8.8.8.8; reboot"})
    assert not device.tasks.exclude(type="set_parameter_values").exists()


def test_udp_connection_request_when_http_cannot_reach(e2e_tenant, acs_server, bg):
    from cwmp.wakeup.jobs import request_connection

    cpe, device = _booted(bg, acs_server, udp_cr=True)
    assert device.udp_connection_request_address.startswith("127.0.0.1:")
    # The CPE is behind NAT: its HTTP ConnectionRequestURL cannot be reached.
    device.connection_request_url = f"http://127.0.0.1:{free_port()}/unreachable"
    device.save()
    mark = cpe.sessions_completed
    ticket = request_connection(device, wait=True)
    assert ticket.result["outcome"] == "ok", ticket.result
    session = bg.run(cpe.wait_session(10, after=mark))
    assert "6 CONNECTION REQUEST" in session.events


def test_stun_binding_teaches_the_acs_the_udp_address(e2e_tenant, acs_server, bg):
    port = free_port()
    env = {**_env(acs_server), "CWMP_STUN_RECORD_INTERVAL": "0"}
    stun = subprocess.Popen(
        [sys.executable, "manage.py", "stun_server", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        time.sleep(1.5)
        cpe, device = _booted(
            bg, acs_server, udp_cr=True, stun_server=f"127.0.0.1:{port}", stun_interval=0.5
        )
        address = cpe.udp_connection_request_address
        # Forget what the Inform said: only a STUN binding request can restore it.
        Device.objects.filter(pk=device.pk).update(udp_connection_request_address="")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            device.refresh_from_db()
            if device.udp_connection_request_address:
                break
            time.sleep(0.3)
        assert device.udp_connection_request_address == address
        assert device.sessions.count() == 1  # no Inform since the boot
    finally:
        stun.terminate()
        stun.wait(10)


def test_refresh_works_on_a_cpe_that_crashes_on_partial_paths(e2e_tenant, acs_server, bg):
    cpe, device = _booted(bg, acs_server, quirks="crash-on-partial-gpv")
    task = _run_task(
        bg, acs_server, cpe, device, "refresh", path="InternetGatewayDevice.LANDevice."
    )
    assert task.state == TaskState.DONE, task.fault_string
    assert task.result["parameters"] > 100


def test_partial_path_that_crashes_the_cpe_ends_after_one_resend(e2e_tenant, acs_server, bg):
    cpe, device = _booted(bg, acs_server, quirks="crash-on-partial-gpv")
    task = task_services.task_enqueue(
        device=device,
        type="get_parameter_values",
        args={"names": ["InternetGatewayDevice.LANDevice."]},
    )
    for _ in range(3):
        bg.run(cpe.run_session(["6 CONNECTION REQUEST"]))
    task.refresh_from_db()
    assert task.state == TaskState.FAULT
    assert "two sessions" in task.fault_string
    assert task.attempts == 1
