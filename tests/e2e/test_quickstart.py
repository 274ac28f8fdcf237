"""The README's promise: the simulator CLI holds sessions, the admin shows them."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from devices.models import Device, SessionLog
from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e


def test_cpesim_cli_against_the_server_and_the_admin_shows_it(e2e_tenant, acs_server):
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
