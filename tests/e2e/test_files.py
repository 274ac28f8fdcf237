"""Firmware from the ACS's own file server, configuration backup and restore."""

from __future__ import annotations

import asyncio

import pytest
from django.test import Client

from cwmp.protocol import codec
from cwmp.protocol import messages as m
from devices.models import Device
from provisioning import files
from provisioning import services as task_services
from provisioning.models import File, FileFetch, TaskState
from tests.cwmp.cpe import ScriptedCPE, inform_body
from tests.e2e.test_sessions import assert_completed, cpe_for
from tests.factories import TenantFactory

pytestmark = pytest.mark.e2e
IGD = "InternetGatewayDevice"
SSID = f"{IGD}.LANDevice.1.WLANConfiguration.1.SSID"


@pytest.fixture
def file_server(transactional_db, tmp_path, settings):
    """A server of its own whose MEDIA_ROOT and public URL match this test's."""
    from tests.e2e.conftest import start_server, stop_server

    settings.MEDIA_ROOT = tmp_path / "media"
    server = start_server(tmp_path, ACS_MEDIA_ROOT=str(settings.MEDIA_ROOT))
    settings.ACS_PUBLIC_URL = server.base
    yield server, server.base
    stop_server(server)


def _tenant():
    return TenantFactory(slug="e2e", connection_request_networks="127.0.0.0/8")


def test_firmware_from_our_file_server(file_server):
    server, _ = file_server
    tenant = _tenant()
    firmware = files.file_create(
        tenant=tenant,
        name="eg8145v5-V2.bin",
        file_type="1 Firmware Upgrade Image",
        version="V2-OURS",
        content=b"CPESIM-FIRMWARE version=V2-OURS\n" + b"\x00" * 50_000,
    )

    async def scenario():
        cpe = cpe_for(server, history=5)
        assert_completed(await cpe.run_session(cpe.boot_events()), server)
        device = await asyncio.to_thread(Device.objects.get, serial_number=cpe.serial)
        task = await asyncio.to_thread(
            task_services.task_enqueue,
            device=device,
            type="download",
            args={
                "file_id": firmware.pk,
                "file_type": firmware.file_type,
                "expected_version": "V2-OURS",
            },
        )
        mark = cpe.sessions_completed
        first = await cpe.run_session(["6 CONNECTION REQUEST"])
        later = await cpe.wait_session(timeout=20, after=mark + 1)
        return task, first, later

    task, first, later = asyncio.run(scenario())
    assert_completed(first, server)
    assert_completed(later, server)
    task.refresh_from_db()
    assert task.state == TaskState.DONE, task.fault_string
    assert task.result["software_version"] == "V2-OURS"
    fetch = FileFetch.objects.get(file=firmware)
    assert (
        fetch.complete and fetch.bytes_sent == firmware.size and fetch.device_id == task.device_id
    )


def test_configuration_backup_and_restore(file_server):
    server, _ = file_server
    _tenant()

    async def scenario():
        cpe = cpe_for(server, history=5)
        assert_completed(await cpe.run_session(cpe.boot_events()), server)
        cpe.set(SSID, "before-backup")
        device = await asyncio.to_thread(Device.objects.get, serial_number=cpe.serial)
        backup = await asyncio.to_thread(
            task_services.task_enqueue, device=device, type="upload", args={}
        )
        mark = cpe.sessions_completed
        assert_completed(await cpe.run_session(["6 CONNECTION REQUEST"]), server)
        await cpe.wait_session(timeout=20, after=mark + 1)  # TransferComplete
        await asyncio.to_thread(backup.refresh_from_db)
        cpe.set(SSID, "changed-later")
        restore = await asyncio.to_thread(
            task_services.task_enqueue,
            device=device,
            type="download",
            args={"file_id": backup.result["file"], "file_type": "3 Vendor Configuration File"},
        )
        mark = cpe.sessions_completed
        assert_completed(await cpe.run_session(["6 CONNECTION REQUEST"]), server)
        await cpe.wait_session(timeout=20, after=mark + 1)
        return cpe, backup, restore

    cpe, backup, restore = asyncio.run(scenario())
    assert backup.state == TaskState.DONE, backup.fault_string
    uploaded = File.objects.get(pk=backup.result["file"])
    assert uploaded.device_id == backup.device_id and uploaded.size > 1000
    restore.refresh_from_db()
    assert restore.state == TaskState.DONE, restore.fault_string
    assert cpe.get(SSID) == "before-backup"


def test_download_reported_done_but_never_fetched_is_unconfirmed(transactional_db, settings):
    tenant = TenantFactory(slug="isp")
    firmware = files.file_create(
        tenant=tenant, name="fw.bin", file_type="1 Firmware Upgrade Image", content=b"x" * 100
    )
    cpe = ScriptedCPE(Client(), "/cwmp/isp/")
    cpe.session(inform_body("SN1"))
    device = Device.objects.get()
    task = task_services.task_enqueue(
        device=device,
        type="download",
        args={"file_id": firmware.pk, "file_type": firmware.file_type},
    )
    cpe.inform(inform_body("SN1", ("6 CONNECTION REQUEST",)))
    sent = codec.parse(cpe.post(b"").content)
    assert isinstance(sent.body, m.Download) and "/files/" in sent.body.url
    # The CPE claims it is done at once, without ever asking for the file.
    reply = m.Envelope(body=m.DownloadResponse(status=0), cwmp_ns=m.CWMP_NS_1_0, id=sent.id)
    assert cpe.post(codec.serialize(reply)).status_code == 204
    task.refresh_from_db()
    assert task.state == TaskState.FAULT
    assert task.result["unconfirmed"] is True
    assert "never fetched" in task.fault_string
