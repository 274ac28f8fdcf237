"""Firmware from the ACS's own file server, configuration backup and restore."""

from __future__ import annotations

import asyncio
import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest
from django.test import Client

from cwmp.protocol import codec
from cwmp.protocol import messages as m
from devices.models import Device
from provisioning import files
from provisioning import services as task_services
from provisioning.models import File, FileFetch, Task, TaskState
from tests.cwmp.cpe import ScriptedCPE, inform_body
from tests.e2e.conftest import ROOT, free_port
from tests.e2e.test_sessions import assert_completed, cpe_for
from tests.factories import DeviceFactory, TenantFactory

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


# --- Issue 10: single-use upload links, opaque download links, logs -------------------


def _request(method: str, url: str, body: bytes | None = None) -> tuple[int, bytes]:
    """One request over real HTTP, the URL's bytes sent exactly as given."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target, body=body, headers={"Content-Type": "text/plain"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _upload_task(device: Device, state: str = TaskState.RUNNING) -> Task:
    """An Upload to the ACS whose RPC is out, as a session leaves it."""
    return Task.objects.create(
        tenant=device.tenant,
        device=device,
        type="upload",
        args={"file_type": "1 Vendor Configuration File", "acs_upload": True},
        command_key="bk",
        state=state,
    )


def test_an_upload_link_stores_one_file_and_dies_with_its_task(file_server):
    """Issue 10: one upload link stored three files. Now: one, while its task waits."""
    server, base = file_server
    device = DeviceFactory(tenant=_tenant())
    task = _upload_task(device)
    url = files.upload_url_for(task=task, base_url=base)
    assert [_request("PUT", url, body)[0] for body in (b"one", b"two", b"three")] == [
        200,
        410,
        410,
    ]
    assert File.objects.filter(device=device).count() == 1
    task.refresh_from_db()
    assert File.objects.get(pk=task.result["file"]).size == 3

    # The device answered Upload with Status 1 and never uploaded; the operator gives up.
    later = _upload_task(device)
    later.progress = {"waiting": True}
    later.save()
    url = files.upload_url_for(task=later, base_url=base)
    assert task_services.task_cancel(task=later).state == TaskState.CANCELLED
    status, answer = _request("PUT", url, b"late")
    assert status == 410 and b"over" in answer
    assert File.objects.filter(device=device).count() == 1
    assert url.rsplit("/", 1)[1] not in server.log()  # the link never reached a log line


def _wire_url(url: str) -> str:
    """The Download URL as it stands in the SOAP the ACS sends, entities not decoded.

    What a CPE that copies the text of the URL element without XML
    decoding fetches (seen in the field: ``…?d=1&amp;e=…``).
    """
    envelope = m.Envelope(
        body=m.Download(command_key="k", file_type="1 Firmware Upgrade Image", url=url),
        cwmp_ns=m.CWMP_NS_1_0,
        id="1",
    )
    raw = re.search(rb"<URL>([^<]*)</URL>", codec.serialize(envelope))
    assert raw is not None
    return raw.group(1).decode()


def test_a_cpe_that_does_not_decode_xml_entities_gets_the_file(file_server):
    server, base = file_server
    tenant = _tenant()
    device = DeviceFactory(tenant=tenant)
    content = b"FIRMWARE" * 1000
    firmware = files.file_create(
        tenant=tenant, name="fw.bin", file_type="1 Firmware Upgrade Image", content=content
    )
    url = files.file_download_url(firmware, device=device, base_url=base)
    on_the_wire = _wire_url(url)
    assert on_the_wire == url and "&" not in url  # nothing an XML writer escapes
    assert _request("GET", on_the_wire) == (200, content)
    fetch = _finished(FileFetch.objects.get(file=firmware))
    assert fetch.device == device and fetch.complete and fetch.bytes_sent == len(content)

    # A link made before issue 10 still works until it expires, mangled or not.
    expiry = int(time.time()) + 60
    mac = files._legacy_download_mac(firmware.token, device.pk, expiry)
    legacy = f"{base}/files/{firmware.token}/fw.bin?d={device.pk}&e={expiry}&s={mac}"
    assert "&amp;" in _wire_url(legacy)
    assert _request("GET", _wire_url(legacy)) == (200, content)
    assert _request("GET", legacy) == (200, content)

    log = server.log()
    assert "[redacted]" in log
    for secret in (link_of(url), mac):
        assert secret not in log


def _finished(fetch: FileFetch, timeout: float = 5) -> FileFetch:
    """The fetch once the server wrote its outcome (right after the last byte went out)."""
    deadline = time.monotonic() + timeout
    while fetch.finished is None and time.monotonic() < deadline:
        time.sleep(0.05)
        fetch.refresh_from_db()
    return fetch


def link_of(url: str) -> str:
    return urlsplit(url).path.split("/")[3]


def test_nginx_logs_no_file_link(file_server, tmp_path):
    """The nginx fronts (make run-cluster, scripts/run-tls.sh) log /files/ requests redacted."""
    from tests.e2e.test_mtls import _nginx_unavailable, _stop, _wait_for_port

    nginx = shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if nginx is None:
        _nginx_unavailable("nginx is not installed (scripts/install-nginx.sh)")
    server, base = file_server
    tenant = _tenant()
    device = DeviceFactory(tenant=tenant)
    firmware = files.file_create(
        tenant=tenant, name="fw.bin", file_type="1 Firmware Upgrade Image", content=b"fw"
    )
    prefix = tmp_path / "nginx"
    for sub in ("logs", "tmp"):
        (prefix / sub).mkdir(parents=True)
    port = free_port()
    conf = prefix / "nginx.conf"
    subprocess.run(
        [
            sys.executable, str(ROOT / "deploy/nginx/render.py"), "--plain",
            "--prefix", str(prefix), "--listen", f"127.0.0.1:{port}",
            "--upstream", base.removeprefix("http://"), "--workers", "1", "-o", str(conf),
        ],
        check=True,
    )  # fmt: skip
    process = subprocess.Popen(
        [nginx, "-p", f"{prefix}/", "-e", str(prefix / "logs/error.log"), "-c", str(conf),
         "-g", "daemon off;"],
        start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for_port(port, process, "nginx")
        front = f"http://127.0.0.1:{port}"
        url = files.file_download_url(firmware, device=device, base_url=front)
        upload = files.upload_url_for(task=_upload_task(device), base_url=front)
        assert _request("GET", url) == (200, b"fw")
        assert _request("PUT", upload, b"cfg")[0] == 200
        assert _request("GET", f"{front}/files/{firmware.token}/fw.bin?d=1&e=2&s=3")[0] == 403
    finally:
        _stop(process)
    access = (prefix / "logs/access.log").read_text()
    assert access.count("[redacted]") == 3, access
    assert link_of(url) not in access and upload.rsplit("/", 1)[1] not in access
    assert "s=3" not in access


def test_a_download_cut_short_is_logged_incomplete(file_server):
    """Under make run's ASGI server a file is streamed as the CPE reads it, not loaded whole.

    Django's ASGI handler would turn a synchronous stream into a list before
    the first byte (the whole image in memory, and every fetch "complete");
    the CPE here reads 64 KiB of 16 MiB and hangs up.
    """
    server, base = file_server
    tenant = _tenant()
    device = DeviceFactory(tenant=tenant)
    size = 16 * 1024 * 1024
    firmware = files.file_create(
        tenant=tenant, name="big.bin", file_type="1 Firmware Upgrade Image", content=b"\0" * size
    )
    url = urlsplit(files.file_download_url(firmware, device=device, base_url=base))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.connect((url.hostname, url.port))
    sock.sendall(f"GET {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n".encode())
    received = 0
    while received < 64 * 1024:
        received += len(sock.recv(16 * 1024))
    sock.close()
    fetch = _finished(FileFetch.objects.get(file=firmware), timeout=15)
    assert fetch.finished is not None and fetch.status == 200
    assert not fetch.complete and fetch.bytes_sent < size
