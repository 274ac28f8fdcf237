"""The README's first ten minutes, followed to the letter against the real server.

The commands are the ones ``make run`` printed (tests/tenants/test_seed.py
holds them equal to the README's), run as a newcomer runs them: the
simulator left running, device_task from another process, then the
``--once`` variant.
"""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from devices.models import Device, SessionLog
from provisioning.models import Task, TaskState
from tests.e2e.conftest import ROOT, process_env
from tests.readme import quick_start_commands

pytestmark = pytest.mark.e2e
SSID = "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.SSID"


def as_run_here(command: str, state_dir) -> list[str]:
    """The printed command with this interpreter for ``.venv/bin/python``.

    A simulator that keeps device state gets a directory of the test's own,
    so the checkout's var/cpesim/ is neither read nor written.
    """
    argv = shlex.split(command)
    assert argv[0] == ".venv/bin/python"
    argv[0] = sys.executable
    if argv[1:3] == ["-m", "cpesim"]:
        argv += ["--state-dir", str(state_dir)]
    return argv


def _until(condition: Callable[[], object], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)


def test_the_readmes_first_ten_minutes(
    transactional_db, acs_server, settings, tmp_path, monkeypatch, capsys
):
    # Terminal 1: make run's seeding, pointed at this server.
    for name in ("ACS_DEMO_CPE_USERNAME", "ACS_DEMO_CPE_PASSWORD", "ACS_DEMO_CPE_AUTH"):
        monkeypatch.delenv(name, raising=False)
    settings.VAR_DIR = tmp_path
    settings.ACS_HOST, settings.ACS_PORT = "127.0.0.1", int(acs_server.base.rsplit(":", 1)[1])
    call_command("acs_seed")
    simulator, device_task, once = quick_start_commands(capsys.readouterr().out)
    state = tmp_path / "cpesim"

    # Terminal 2: the simulator, left running.
    living = subprocess.Popen(
        as_run_here(simulator, state),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _until(
            lambda: (
                Device.objects.filter(tenant__slug="demo")
                .exclude(connection_request_password="")
                .count()
                == 3
            )
        )
        _until(lambda: not Task.objects.filter(state__in=["queued", "running"]).exists())

        # Terminal 3: the task, through a connection request.
        run = subprocess.run(
            as_run_here(device_task, state),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env=process_env(),
        )
        assert run.returncode == 0, run.stdout + run.stderr
        printed = json.loads(run.stdout)
        assert printed["state"] == "done" and printed["fault"] is None
        assert "connection request: done" in run.stderr
        first = Device.objects.get(device_id=printed["device"])
        assert first.parameters.get(path=SSID).value == "home"
        assert "6 CONNECTION REQUEST" in first.sessions.latest("started").events
    finally:
        living.send_signal(signal.SIGINT)
        try:
            output = living.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            living.kill()
            output = living.communicate()[0]
    assert "total: devices=3" in output and "failed=0" in output, output

    # Only to see sessions: the --once variant exits by itself.
    run = subprocess.run(
        as_run_here(once, state), cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "sessions ok=3" in run.stdout
    assert Device.objects.count() == 3

    # The admin shows the devices, their session history and the task.
    admin = get_user_model().objects.get(username="admin")
    client = Client()
    client.force_login(admin)
    listing = client.get("/admin/devices/device/")
    for device in Device.objects.all():
        assert device.device_id.encode() in listing.content
    page = client.get(f"/admin/devices/device/{first.pk}/change/")
    assert page.status_code == 200 and b"1 BOOT" in page.content  # the session history inline
    logs = client.get("/admin/devices/sessionlog/")
    assert logs.status_code == 200 and b"Completed" in logs.content
    assert SessionLog.objects.filter(device=first, outcome="ok").count() >= 3
    tasks = client.get("/admin/provisioning/task/")
    assert tasks.status_code == 200
    assert Task.objects.get(pk=printed["id"]).state == TaskState.DONE


def test_a_restarted_simulator_answers_connection_requests_with_the_provisioned_credentials(
    e2e_tenant, acs_server, tmp_path
):
    """Run the simulator once, start it again, queue a task with a connection request.

    The ACS gives a new device connection-request credentials of its own at
    first contact; a restarted simulator has them from its state directory,
    so the request is accepted and the task runs.
    """
    state = tmp_path / "state"
    cli = [
        sys.executable,
        "-m",
        "cpesim",
        "--acs-url",
        acs_server.cwmp_url("e2e"),
        "--username",
        "cpe",
        "--password",
        "cpe-secret",
        "--serial-prefix",
        "QS",
        "--state-dir",
        str(state),
    ]
    first = subprocess.run([*cli, "--once"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stdout + first.stderr
    device = Device.objects.get(serial_number="QS000001")
    assert device.connection_request_username  # provisioned at first contact
    saved = json.loads((state / "QS000001.json").read_text())
    password = "InternetGatewayDevice.ManagementServer.ConnectionRequestPassword"
    assert saved["tree"]["values"][password] == device.connection_request_password
    assert SessionLog.objects.get(device=device).events == ["0 BOOTSTRAP", "1 BOOT"]

    log = tmp_path / "cpesim.log"
    living = subprocess.Popen(
        [*cli, "--duration", "90", "--quiet"],
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while SessionLog.objects.filter(device=device, outcome="ok").count() < 2:
            assert time.monotonic() < deadline, log.read_text()
            assert living.poll() is None, log.read_text()
            time.sleep(0.2)
        boot = SessionLog.objects.filter(device=device).order_by("-started").first()
        assert boot.events == ["1 BOOT"]  # the same device, not a new one
        ssid = "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.SSID"
        task = subprocess.run(
            [
                sys.executable,
                "manage.py",
                "device_task",
                "e2e",
                device.device_id,
                "set_parameter_values",
                "--args",
                json.dumps({"values": {ssid: "after-restart"}}),
                "--connection-request",
                "--wait",
                "30",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=90,
            env=process_env(),
        )
        assert task.returncode == 0, task.stdout + task.stderr + log.read_text()
        assert json.loads(task.stdout)["state"] == "done"
        woken = SessionLog.objects.filter(device=device).order_by("-started").first()
        assert woken.events == ["6 CONNECTION REQUEST"]
    finally:
        living.terminate()
        try:
            living.wait(15)
        except subprocess.TimeoutExpired:
            living.kill()
            living.wait(5)
    saved = json.loads((state / "QS000001.json").read_text())
    assert saved["tree"]["values"][ssid] == "after-restart"
