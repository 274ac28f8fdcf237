"""The README's promise: the simulator CLI holds sessions, the admin shows them, tasks reach it."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from devices.models import Device, SessionLog
from tests.e2e.conftest import ROOT
from tests.e2e.test_connection_requests import _env

pytestmark = pytest.mark.e2e


def test_cpesim_cli_against_the_server_and_the_admin_shows_it(e2e_tenant, acs_server, tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "cpesim",
            "--acs-url",
            acs_server.cwmp_url("e2e"),
            "--username",
            "cpe",
            "--password",
            "cpe-secret",
            "--dump",
            "huawei-eg8145v5",
            "--dump",
            "tplink-ex220",
            "--dump",
            "zte-h199a",
            "--count",
            "3",
            "--once",
            "--state-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "sessions ok=3" in run.stdout
    assert Device.objects.count() == 3
    assert SessionLog.objects.filter(outcome="ok").count() == 3

    admin = get_user_model().objects.create_superuser("root", password="pw-root-123")
    client = Client()
    client.force_login(admin)
    listing = client.get("/admin/devices/device/")
    for device in Device.objects.all():
        assert device.device_id.encode() in listing.content
    device = Device.objects.first()
    page = client.get(f"/admin/devices/device/{device.pk}/change/")
    assert page.status_code == 200
    assert b"1 BOOT" in page.content  # the session history inline
    logs = client.get("/admin/devices/sessionlog/")
    assert logs.status_code == 200 and b"Completed" in logs.content


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
            env=_env(acs_server),
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
