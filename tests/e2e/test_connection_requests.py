"""Connection requests reach simulated devices, which call in and run their tasks."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from cpesim import BackgroundLoop
from devices.models import Device
from provisioning.models import Task, TaskState
from tests.e2e.conftest import ROOT, process_env
from tests.e2e.test_sessions import assert_completed, cpe_for

pytestmark = pytest.mark.e2e
IGD = "InternetGatewayDevice"


@pytest.fixture
def bg():
    with BackgroundLoop() as loop:
        yield loop


def test_first_contact_provisions_connection_request_credentials(e2e_tenant, acs_server, bg):
    cpe = cpe_for(acs_server, history=5)
    bg.run(cpe.start_cr_listener())
    result = bg.run(cpe.boot())
    assert_completed(result, acs_server)
    assert result.rpcs == ["SetParameterValues"]
    device = Device.objects.get(serial_number=cpe.serial)
    assert device.connection_request_username == f"acs-{cpe.serial}"
    assert len(device.connection_request_password) >= 16
    assert bg.call(cpe.get, f"{IGD}.ManagementServer.ConnectionRequestPassword") == (
        device.connection_request_password
    )
    assert device.connection_request_url.startswith("http://127.0.0.1:")


def test_device_task_command_wakes_the_device_and_waits(e2e_tenant, acs_server, bg):
    cpe = cpe_for(acs_server, history=5)
    bg.run(cpe.start_cr_listener())
    assert_completed(bg.run(cpe.boot()), acs_server)
    device = Device.objects.get(serial_number=cpe.serial)
    mark = cpe.sessions_completed
    ssid = f"{IGD}.LANDevice.1.WLANConfiguration.1.SSID"
    run = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "device_task",
            "e2e",
            device.device_id,
            "set_parameter_values",
            "--args",
            json.dumps({"values": {ssid: "from-cli"}}),
            "--connection-request",
            "--wait",
            "20",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(acs_server),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    printed = json.loads(run.stdout)
    assert printed["state"] == "done" and printed["type"] == "set_parameter_values"
    session = bg.run(cpe.wait_session(10, after=mark))
    assert "6 CONNECTION REQUEST" in session.events
    assert bg.call(cpe.get, ssid) == "from-cli"


def test_device_task_command_reports_a_fault(e2e_tenant, acs_server, bg):
    cpe = cpe_for(acs_server, history=5)
    bg.run(cpe.start_cr_listener())
    assert_completed(bg.run(cpe.boot()), acs_server)
    device = Device.objects.get(serial_number=cpe.serial)
    run = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "device_task",
            "e2e",
            device.device_id,
            "get_parameter_values",
            "--args",
            json.dumps({"names": [f"{IGD}.No.Such."]}),
            "--connection-request",
            "--wait",
            "20",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(acs_server),
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert json.loads(run.stdout)["fault"]["code"] == 9005


def test_bad_command_arguments_exit_2(e2e_tenant, acs_server):
    run = subprocess.run(
        [sys.executable, "manage.py", "device_task", "e2e", "nope", "reboot"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(acs_server),
    )
    assert run.returncode == 2 and "no device" in run.stderr


def test_connection_request_refused_outside_the_allow_list(e2e_tenant, acs_server, bg):
    from cwmp.wakeup.jobs import request_connection

    cpe = cpe_for(acs_server, history=5)
    bg.run(cpe.start_cr_listener())
    assert_completed(bg.run(cpe.boot()), acs_server)
    e2e_tenant.connection_request_networks = "10.0.0.0/8"
    e2e_tenant.save()
    device = Device.objects.get(serial_number=cpe.serial)
    mark = cpe.sessions_completed
    ticket = request_connection(device, wait=True)
    assert ticket.result["outcome"] != "ok"
    with pytest.raises(TimeoutError):
        bg.run(cpe.wait_session(1.5, after=mark))
    assert not Task.objects.filter(state=TaskState.RUNNING).exists()


def _env(server):
    # Connection requests back to back in one test: no coalescing.
    return process_env(CWMP_CONNREQ_DEVICE_INTERVAL="0")


@pytest.fixture
def job_worker(acs_server, tmp_path):
    """``manage.py db_worker`` as ``make run`` starts it, on the test database."""
    log = tmp_path / "db_worker.log"
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "db_worker"],
        cwd=ROOT,
        env={**_env(acs_server), "ACS_VAR_DIR": str(tmp_path)},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    yield worker, log
    worker.terminate()  # the worker finishes its job and exits on SIGTERM
    try:
        worker.wait(15)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait(5)


def test_connection_request_through_the_job_worker(
    e2e_tenant, acs_server, bg, job_worker, settings
):
    """The path web requests take: enqueue the job, a worker sends it, the device calls in."""
    from cwmp.wakeup.jobs import connection_request, request_connection
    from provisioning import services as task_services

    settings.CWMP_CONNREQ_DEVICE_INTERVAL = 0  # no coalescing with an earlier test's request
    worker, log = job_worker
    cpe = cpe_for(acs_server, history=5)
    bg.run(cpe.start_cr_listener())
    assert_completed(bg.run(cpe.boot()), acs_server)
    device = Device.objects.get(serial_number=cpe.serial)
    ssid = f"{IGD}.LANDevice.1.WLANConfiguration.1.SSID"
    task = task_services.task_enqueue(
        device=device, type="set_parameter_values", args={"values": {ssid: "via-worker"}}
    )
    mark = cpe.sessions_completed
    ticket = request_connection(device)  # never waits inline
    assert ticket.status == "enqueued" and ticket.result is None
    try:
        woken = bg.run(cpe.wait_session(30, after=mark))
    except TimeoutError:
        pytest.fail(f"no session; worker alive={worker.poll() is None}\n{log.read_text()}")
    assert_completed(woken, acs_server)
    assert woken.events == ["6 CONNECTION REQUEST"] and woken.rpcs == ["SetParameterValues"]
    task.refresh_from_db()
    assert task.state == TaskState.DONE
    assert bg.call(cpe.get, ssid) == "via-worker"
    job = connection_request.get_result(ticket.task_id)
    deadline = time.monotonic() + 10
    while not job.is_finished and time.monotonic() < deadline:
        time.sleep(0.1)
        job.refresh()
    assert job.return_value["outcome"] == "ok", job.return_value
    assert job.return_value["transport"] == "http"
