"""The remaining task types, each run by a simulated device over HTTP."""

from __future__ import annotations

import pytest

from cpesim import BackgroundLoop
from provisioning import services as task_services
from provisioning.models import Task, TaskState
from tests.e2e.test_diagnostics_udp import _booted, _run_task
from tests.e2e.test_sessions import assert_completed
from tests.e2e.test_tasks import _Files, file_server  # noqa: F401 - fixture

pytestmark = pytest.mark.e2e


@pytest.fixture
def bg():
    with BackgroundLoop() as loop:
        yield loop


def test_schedule_inform(e2e_tenant, acs_server, bg):
    cpe, device = _booted(bg, acs_server)
    task = _run_task(bg, acs_server, cpe, device, "schedule_inform", delay_seconds=1)
    assert task.state == TaskState.DONE
    later = bg.run(cpe.wait_session(10))
    assert "3 SCHEDULED" in later.events and "M ScheduleInform" in later.events


def test_factory_reset(e2e_tenant, acs_server, bg):
    cpe, device = _booted(bg, acs_server)
    task = _run_task(bg, acs_server, cpe, device, "factory_reset")
    assert task.state == TaskState.DONE
    later = bg.run(cpe.wait_session(10))
    assert "0 BOOTSTRAP" in later.events


def test_queued_transfers_listed_and_cancelled(e2e_tenant, acs_server, bg, file_server):  # noqa: F811
    cpe, device = _booted(bg, acs_server)
    download = task_services.task_enqueue(
        device=device,
        type="download",
        args={
            "url": f"{file_server}/late.bin",
            "file_type": "1 Firmware Upgrade Image",
            "delay_seconds": 3600,
        },
    )
    listing = task_services.task_enqueue(device=device, type="get_queued_transfers")
    listing_all = task_services.task_enqueue(device=device, type="get_all_queued_transfers")
    cancel = task_services.task_enqueue(
        device=device, type="cancel_transfer", args={"command_key": download.command_key}
    )
    result = bg.run(cpe.run_session(["6 CONNECTION REQUEST"]))
    assert_completed(result, acs_server)
    assert result.rpcs == [
        "Download",
        "GetQueuedTransfers",
        "GetAllQueuedTransfers",
        "CancelTransfer",
    ]
    for task in (listing, listing_all, cancel, download):
        task.refresh_from_db()
    assert listing.result["transfers"][0]["command_key"] == download.command_key
    transfer = listing_all.result["transfers"][0]
    assert transfer["is_download"] is True and transfer["file_type"] == "1 Firmware Upgrade Image"
    assert cancel.state == TaskState.DONE
    assert download.state == TaskState.CANCELLED
    assert _Files.hits == []


def test_schedule_download(e2e_tenant, acs_server, bg, file_server):  # noqa: F811
    cpe, device = _booted(bg, acs_server)
    task = _run_task(
        bg,
        acs_server,
        cpe,
        device,
        "schedule_download",
        url=f"{file_server}/cfg.bin",
        file_type="3 Vendor Configuration File",
        time_windows=[{"window_start": 0, "window_end": 60}],
    )
    assert task.state == TaskState.DONE, task.fault_string
    assert _Files.hits == ["/cfg.bin"]


def test_change_du_state(e2e_tenant, acs_server, bg):
    cpe, device = _booted(bg, acs_server)
    task = _run_task(
        bg,
        acs_server,
        cpe,
        device,
        "change_du_state",
        operations=[
            {
                "op": "install",
                "url": "http://127.0.0.1/app.ipk",
                "uuid": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
            }
        ],
    )
    assert task.state == TaskState.DONE, task.fault_string
    assert task.result["results"][0]["current_state"] == "Installed"


def test_upload_diagnostic(e2e_tenant, acs_server, bg, file_server):  # noqa: F811
    cpe, device = _booted(bg, acs_server)
    task = _run_task(
        bg, acs_server, cpe, device, "upload_diagnostics", url=f"{file_server}/up", length=50_000
    )
    assert task.state == TaskState.DONE, task.fault_string
    assert _Files.received == [50_000]
    assert int(task.result["results"]["TotalBytesSent"]) >= 50_000


def test_unsupported_get_rpc_methods_is_a_clear_fault(e2e_tenant, acs_server, bg):
    cpe, device = _booted(bg, acs_server, unsupported=frozenset({"GetRPCMethods"}))
    task = _run_task(bg, acs_server, cpe, device, "get_rpc_methods")
    assert task.state == TaskState.FAULT and task.fault_code == 9000
    assert Task.objects.filter(pk=task.pk, attempts=1).exists()
