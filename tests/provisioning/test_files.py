"""The ACS file server: storing, signed links, CPE auth, ranges, the fetch log, uploads."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections
from django.test import Client, RequestFactory
from django.utils import timezone

from cwmp.endpoint import files as views
from provisioning import files
from provisioning.models import File, FileFetch, Task, TaskState
from tests.factories import CPE_PASSWORD, CPE_USERNAME, DeviceFactory, TenantFactory

pytestmark = pytest.mark.django_db

BASE = "http://acs.example:7547"
CONTENT = bytes(range(256)) * 1000  # 256000 bytes, several chunks


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.ACS_PUBLIC_URL = BASE
    return tmp_path


@pytest.fixture
def tenant():
    return TenantFactory(slug="isp")


@pytest.fixture
def device(tenant):
    return DeviceFactory(tenant=tenant)


@pytest.fixture
def firmware(tenant):
    return files.file_create(
        tenant=tenant, name="fw v2.bin", file_type="1 Firmware Upgrade Image", content=CONTENT
    )


@pytest.fixture
def client():
    return Client()


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def stored_files(root) -> list:
    return [p for p in root.rglob("*") if p.is_file()]


def digest(challenge: str, username: str, password: str, *, method: str, uri: str) -> str:
    """RFC 7616 qop=auth answer computed here, independently of cwmp.protocol.digest."""
    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    realm, nonce, opaque = params["realm"], params["nonce"], params["opaque"]
    nc, cnonce = "00000001", "c0ffee42"
    ha1 = hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    response = hashlib.md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
    return (
        f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'algorithm=MD5, qop=auth, nc={nc}, cnonce="{cnonce}", response="{response}", '
        f'opaque="{opaque}"'
    )


def digest_get(client, uri, username=CPE_USERNAME, password=CPE_PASSWORD, method="GET", **extra):
    first = client.generic(method, uri)
    assert first.status_code == 401
    answer = digest(first["WWW-Authenticate"], username, password, method=method, uri=uri)
    return client.generic(method, uri, HTTP_AUTHORIZATION=answer, **extra)


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


# ------------------------------------------------------------------- storing


def test_create_streams_to_storage_and_hashes(firmware, media, tenant):
    firmware.refresh_from_db()
    assert firmware.size == len(CONTENT)
    assert firmware.sha256 == hashlib.sha256(CONTENT).hexdigest()
    assert firmware.md5 == hashlib.md5(CONTENT).hexdigest()
    assert len(firmware.token) >= 20
    assert firmware.content.name == f"files/{tenant.pk}/{firmware.token}"
    assert (media / firmware.content.name).read_bytes() == CONTENT


def test_create_from_a_file_object_reads_in_chunks(tenant):
    class Source(io.BytesIO):
        biggest = 0

        def read(self, n=-1):
            assert n > 0, "never read whole"
            Source.biggest = max(Source.biggest, n)
            return super().read(n)

    file = files.file_create(
        tenant=tenant,
        name="cfg.xml",
        file_type="3 Vendor Configuration File",
        content=Source(CONTENT),
    )
    assert file.size == len(CONTENT) and Source.biggest <= files.CHUNK_SIZE


def test_create_refuses_oversize_and_stores_nothing(tenant, settings, media):
    settings.ACS_MAX_FILE_BYTES = 1000
    with pytest.raises(files.FileTooLarge) as err:
        files.file_create(
            tenant=tenant,
            name="big",
            file_type="1 Firmware Upgrade Image",
            content=io.BytesIO(CONTENT),
        )
    assert isinstance(err.value, ValueError) and "1000" in str(err.value)
    assert not File.objects.exists()
    assert stored_files(media) == []


# ---------------------------------------------------------------- signed links


LINK = re.compile(r"^/files/(?P<token>[^/]+)/(?P<link>[A-Za-z0-9_-]+)/(?P<name>[^/?&]+)$")


def link_segment(url: str) -> str:
    match = LINK.match(path_of(url))
    assert match, url
    return match.group("link")


def test_signed_link_serves_the_file(client, firmware, device):
    url = files.file_download_url(firmware, device=device, base_url=BASE)
    # One opaque segment between the token and the name: no query, no "&".
    assert url.startswith(f"{BASE}/files/{firmware.token}/") and url.endswith("/fw%20v2.bin")
    assert "?" not in url and "&" not in url and "=" not in url
    link_segment(url)
    response = client.get(path_of(url))
    assert response.status_code == 200
    assert body(response) == CONTENT
    assert response["Content-Length"] == str(len(CONTENT))
    assert response["Accept-Ranges"] == "bytes"
    assert response["ETag"] == f'"{firmware.sha256}"'
    fetch = FileFetch.objects.get()
    assert (fetch.status, fetch.device, fetch.bytes_sent, fetch.complete) == (
        200,
        device,
        len(CONTENT),
        True,
    )
    assert fetch.remote_address == "127.0.0.1" and fetch.finished is not None


def test_download_args_name_the_file(firmware, device):
    args = files.download_args_for_file(firmware, device=device, base_url=BASE)
    assert args["file_type"] == "1 Firmware Upgrade Image"
    assert args["file_size"] == len(CONTENT)
    assert args["target_file_name"] == "fw v2.bin"
    assert args["username"] == args["password"] == ""
    assert args["url"].startswith(f"{BASE}/files/{firmware.token}/")


def test_expired_link_is_refused(client, firmware, device):
    url = files.file_download_url(firmware, device=device, base_url=BASE, ttl=-5)
    response = client.get(path_of(url))
    assert response.status_code == 403
    assert b"expired" in response.content


def _flip(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


@pytest.mark.parametrize("at", [0, 3, 10, 20, -1])
def test_tampered_link_is_refused(client, firmware, device, at):
    """Any changed character: the version, the device, the expiry, the MAC."""
    url = path_of(files.file_download_url(firmware, device=device, base_url=BASE))
    link = link_segment(url)
    response = client.get(url.replace(link, _flip(link, at % len(link))))
    assert response.status_code == 403
    assert FileFetch.objects.get().status == 403


@pytest.mark.parametrize("link", ["x", "A" * 66, "a.b", "%26amp%3B", "Zm9v" * 40])
def test_malformed_link_is_refused(client, firmware, link):
    assert client.get(f"/files/{firmware.token}/{link}/fw.bin").status_code == 403


def test_link_for_another_tenants_device_is_404(client, firmware):
    stranger = DeviceFactory(tenant=TenantFactory(slug="other"))
    firmware_of_other = files.file_create(
        tenant=stranger.tenant, name="x.bin", file_type="1 Firmware Upgrade Image", content=b"x"
    )
    # A link signed for a device of tenant "other", on tenant "isp"'s file.
    url = files.file_download_url(firmware_of_other, device=stranger, base_url=BASE)
    forged = url.replace(firmware_of_other.token, firmware.token)
    assert client.get(path_of(forged)).status_code == 403  # the MAC covers the token
    with pytest.raises(ValueError):
        files.file_download_url(firmware, device=stranger, base_url=BASE)
    # Even an authentic MAC for a device of another tenant is 404, never served.
    expiry = int(timezone.now().timestamp()) + 60
    head = files._DOWNLOAD_LINK.pack(1, stranger.pk, expiry)
    link = files._seal("download", head, firmware.token.encode())
    assert client.get(f"/files/{firmware.token}/{link}/x").status_code == 404


def _legacy(firmware, device, expiry: int) -> str:
    mac = files._legacy_download_mac(firmware.token, device.pk, expiry)
    return f"/files/{firmware.token}/fw.bin?d={device.pk}&e={expiry}&s={mac}"


def test_links_made_before_issue_10_work_until_they_expire(client, firmware, device):
    url = _legacy(firmware, device, int(timezone.now().timestamp()) + 60)
    response = client.get(url)
    assert response.status_code == 200 and body(response) == CONTENT
    # As a CPE that never decoded the XML entity in the Download URL asks for it.
    mangled = client.get(url.replace("&", "&amp;"))
    assert mangled.status_code == 200 and body(mangled) == CONTENT
    assert FileFetch.objects.filter(device=device, complete=True).count() == 2
    late = client.get(_legacy(firmware, device, int(timezone.now().timestamp()) - 1))
    assert late.status_code == 403 and b"expired" in late.content
    forged = client.get(url[:-4] + "0000")
    assert forged.status_code == 403


def test_unknown_token_is_404_and_never_public(client, firmware):
    assert client.get("/files/nosuchtoken/fw.bin").status_code == 404
    response = client.get(f"/files/{firmware.token}/fw.bin")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Digest ")


# ---------------------------------------------------------------- HTTP auth


def test_digest_with_tenant_credentials(client, firmware):
    uri = f"/files/{firmware.token}/fw.bin"
    response = digest_get(client, uri)
    assert response.status_code == 200 and body(response) == CONTENT
    assert FileFetch.objects.filter(status=200, complete=True, device=None).count() == 1


def test_digest_with_wrong_password_is_401(client, firmware):
    response = digest_get(client, f"/files/{firmware.token}/fw.bin", password="wrong")
    assert response.status_code == 401
    assert "Digest " in response["WWW-Authenticate"]


def test_digest_answer_for_another_file_is_refused(client, firmware, tenant):
    other = files.file_create(
        tenant=tenant, name="b", file_type="1 Firmware Upgrade Image", content=b"b"
    )
    first = client.get(f"/files/{other.token}/b")
    answer = digest(
        first["WWW-Authenticate"],
        CPE_USERNAME,
        CPE_PASSWORD,
        method="GET",
        uri=f"/files/{other.token}/b",
    )
    response = client.get(f"/files/{firmware.token}/fw.bin", HTTP_AUTHORIZATION=answer)
    assert response.status_code == 401


def test_digest_of_another_tenant_is_404(client):
    other = TenantFactory(slug="other", credentials=("other", "other-pw"))
    theirs = files.file_create(
        tenant=other, name="t.bin", file_type="1 Firmware Upgrade Image", content=b"t"
    )
    mine = TenantFactory(slug="isp")
    uri = f"/files/{theirs.token}/t.bin"
    # A CPE of "isp" answering with its own realm and credentials.
    challenge = client.get(uri)["WWW-Authenticate"].replace(other.cpe_realm, mine.cpe_realm)
    answer = digest(challenge, CPE_USERNAME, CPE_PASSWORD, method="GET", uri=uri)
    assert client.get(uri, HTTP_AUTHORIZATION=answer).status_code == 404


def test_basic_only_where_the_tenant_allows_it(client, firmware, tenant):
    uri = f"/files/{firmware.token}/fw.bin"
    # Over TLS: Basic over plain HTTP is refused anyway (tests/cwmp/test_cpe_doors.py).
    ok = client.get(uri, HTTP_AUTHORIZATION=basic(CPE_USERNAME, CPE_PASSWORD), secure=True)
    assert ok.status_code == 200
    bad = client.get(uri, HTTP_AUTHORIZATION=basic(CPE_USERNAME, "nope"), secure=True)
    assert bad.status_code == 401
    tenant.cpe_auth_methods = "digest"
    tenant.save()
    response = client.get(uri, HTTP_AUTHORIZATION=basic(CPE_USERNAME, CPE_PASSWORD), secure=True)
    assert response.status_code == 401


def test_device_upload_is_served_only_to_that_device(client, tenant, device):
    device.set_cwmp_credentials("dev1", "pw1")
    device.save()
    other = DeviceFactory(tenant=tenant)
    other.set_cwmp_credentials("dev2", "pw2")
    other.save()
    backup = files.file_create(
        tenant=tenant,
        name="b.cfg",
        file_type="1 Vendor Configuration File",
        content=b"cfg",
        device=device,
    )
    uri = f"/files/{backup.token}/b.cfg"
    assert digest_get(client, uri, "dev2", "pw2").status_code == 404
    assert digest_get(client, uri).status_code == 404  # tenant credentials name no device
    own = digest_get(client, uri, "dev1", "pw1")
    assert own.status_code == 200 and body(own) == b"cfg"
    assert FileFetch.objects.get(status=200).device == device


# -------------------------------------------------------------------- ranges


@pytest.fixture
def link(firmware, device):
    return path_of(files.file_download_url(firmware, device=device, base_url=BASE))


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=100-199", 100, 199),
        ("bytes=255990-", 255990, 255999),
        ("bytes=-10", 255990, 255999),
        ("bytes=1000-999999999", 1000, 255999),
    ],
)
def test_single_range_is_206(client, link, header, start, end):
    response = client.get(link, HTTP_RANGE=header)
    assert response.status_code == 206
    assert body(response) == CONTENT[start : end + 1]
    assert response["Content-Range"] == f"bytes {start}-{end}/{len(CONTENT)}"
    assert response["Content-Length"] == str(end - start + 1)
    fetch = FileFetch.objects.get()
    assert (fetch.status, fetch.range, fetch.bytes_sent, fetch.complete) == (
        206,
        header,
        end - start + 1,
        False,
    )


def test_range_covering_the_whole_file_is_complete(client, link):
    response = client.get(link, HTTP_RANGE=f"bytes=0-{len(CONTENT) - 1}")
    assert response.status_code == 206 and len(body(response)) == len(CONTENT)
    assert FileFetch.objects.get().complete is True


@pytest.mark.parametrize("header", ["bytes=256000-", "bytes=300000-300010", "bytes=-0"])
def test_unsatisfiable_range_is_416(client, link, header):
    response = client.get(link, HTTP_RANGE=header)
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(CONTENT)}"
    assert FileFetch.objects.get().status == 416


@pytest.mark.parametrize("header", ["bytes=0-9,20-29", "bytes=9-0", "items=0-5", "bytes=x-"])
def test_multiple_or_malformed_ranges_get_the_whole_file(client, link, header):
    response = client.get(link, HTTP_RANGE=header)
    assert response.status_code == 200 and body(response) == CONTENT
    assert "Content-Range" not in response


def test_if_range_with_an_old_etag_gets_the_whole_file(client, link, firmware):
    stale = client.get(link, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"old"')
    assert stale.status_code == 200 and len(body(stale)) == len(CONTENT)
    fresh = client.get(link, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=f'"{firmware.sha256}"')
    assert fresh.status_code == 206 and body(fresh) == CONTENT[:10]


def test_if_none_match_is_304(client, link, firmware):
    response = client.get(link, HTTP_IF_NONE_MATCH=f'"{firmware.sha256}"')
    assert response.status_code == 304 and response.content == b""


def test_head_gives_headers_only(client, link):
    response = client.head(link, HTTP_RANGE="bytes=0-99")
    assert response.status_code == 206 and response.content == b""
    assert response["Content-Length"] == "100"
    full = client.head(link)
    assert full.status_code == 200 and full["Content-Length"] == str(len(CONTENT))
    assert list(FileFetch.objects.values_list("bytes_sent", "complete")) == [(0, False)] * 2
    assert not FileFetch.objects.filter(finished=None).exists()


def test_empty_file(client, tenant, device):
    empty = files.file_create(tenant=tenant, name="e", file_type="2 Web Content", content=b"")
    link = path_of(files.file_download_url(empty, device=device, base_url=BASE))
    response = client.get(link, HTTP_RANGE="bytes=0-10")
    assert response.status_code == 200 and response["Content-Length"] == "0"
    assert body(response) == b""
    assert FileFetch.objects.get().complete is True


def test_download_takes_only_get_and_head(client, link):
    assert client.post(link).status_code == 405


# ----------------------------------------------------------------- fetch log


def test_connection_dropped_half_way_is_incomplete(link, firmware):
    # Called directly, as a WSGI server would: read one chunk, then close.
    response = views.download(
        RequestFactory().get(link), token=firmware.token, name="fw", link=link_segment(link)
    )
    assert response.status_code == 200
    next(iter(response.streaming_content))
    request_finished.disconnect(close_old_connections)  # keep the test's connection open
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)
    fetch = FileFetch.objects.get()
    assert fetch.complete is False and fetch.finished is not None
    assert 0 <= fetch.bytes_sent < len(CONTENT)


def test_file_fetched_selector(client, link, firmware, device):
    before = timezone.now() - timedelta(seconds=1)
    assert not files.file_fetched(file=firmware, device=device, since=before)
    body(client.get(link, HTTP_RANGE="bytes=0-99"))
    assert not files.file_fetched(file=firmware, device=device, since=before)
    body(client.get(link))
    assert files.file_fetched(file=firmware, device=device, since=before)
    assert not files.file_fetched(
        file=firmware, device=device, since=timezone.now() + timedelta(seconds=5)
    )
    assert not files.file_fetched(
        file=firmware, device=DeviceFactory(tenant=device.tenant), since=before
    )


# ------------------------------------------------------------------- uploads


@pytest.fixture
def upload_task(device):
    """An Upload to the ACS whose RPC is out (what session_next_rpc leaves)."""
    return Task.objects.create(
        tenant=device.tenant,
        device=device,
        type="upload",
        args={"file_type": "1 Vendor Configuration File", "acs_upload": True},
        command_key="backup-1",
        state=TaskState.RUNNING,
        result={"status": 1},
    )


def chunked(data: bytes) -> dict:
    """What a WSGI server that de-chunks a body without Content-Length hands Django."""
    return {
        "content_type": "application/octet-stream",
        "CONTENT_LENGTH": "",
        "wsgi.input": io.BytesIO(data),
        "wsgi.input_terminated": True,
    }


def upload_path(task, ttl=None):
    url = files.upload_url_for(task=task, base_url=BASE, ttl=ttl)
    assert re.fullmatch(rf"{BASE}/files/upload/[A-Za-z0-9_-]+", url), url
    return path_of(url)


def test_upload_by_put_files_it_against_device_and_task(client, device, upload_task, media):
    response = client.put(
        upload_path(upload_task), data=b"<config/>", content_type="application/octet-stream"
    )
    assert response.status_code == 200
    file = File.objects.get()
    assert (file.tenant, file.device, file.task) == (device.tenant, device, upload_task)
    assert file.name == f"{device.device_id}-backup-1.cfg"
    assert file.file_type == "1 Vendor Configuration File"
    assert file.size == 9 and file.sha256 == hashlib.sha256(b"<config/>").hexdigest()
    assert (media / file.content.name).read_bytes() == b"<config/>"
    upload_task.refresh_from_db()
    assert upload_task.result == {"status": 1, "file": file.pk}
    assert upload_task.state == TaskState.RUNNING


def test_upload_by_multipart_post(client, device, upload_task, media):
    part = io.BytesIO(CONTENT)
    part.name = "backup.bin"
    response = client.post(upload_path(upload_task), {"file": part})
    assert response.status_code == 200
    file = File.objects.get()
    assert file.size == len(CONTENT) and file.device == device and file.task == upload_task
    assert (media / file.content.name).read_bytes() == CONTENT
    upload_task.refresh_from_db()
    assert upload_task.result["file"] == file.pk


def test_an_upload_link_stores_one_file(client, upload_task, media):
    """Issue 10: one upload link stored three files."""
    path = upload_path(upload_task)
    first = client.put(path, data=b"one", content_type="text/plain")
    assert first.status_code == 200
    for again in (b"two", b"three"):
        response = client.put(path, data=again, content_type="text/plain")
        assert response.status_code == 410 and b"used" in response.content
    # A second link of the same task (the RPC sent again) is no way round it.
    response = client.put(upload_path(upload_task), data=b"four", content_type="text/plain")
    assert response.status_code == 410
    assert File.objects.count() == 1 and len(stored_files(media)) == 1


@pytest.mark.parametrize(
    "state", [TaskState.QUEUED, TaskState.DONE, TaskState.FAULT, TaskState.CANCELLED, TaskState.EXPIRED]
)  # fmt: skip
def test_an_upload_link_dies_with_its_task(client, upload_task, media, state):
    path = upload_path(upload_task)
    Task.objects.filter(pk=upload_task.pk).update(state=state)
    response = client.put(path, data=b"late", content_type="text/plain")
    assert response.status_code == 410 and b"over" in response.content
    assert not File.objects.exists() and stored_files(media) == []


def test_an_upload_link_names_its_task_only(client, device, upload_task):
    """Another task of the device, or one that is not an ACS upload, takes nothing from it."""
    other = Task.objects.create(
        tenant=device.tenant, device=device, type="reboot", state=TaskState.RUNNING
    )
    with pytest.raises(ValueError):
        files.upload_url_for(task=other, base_url=BASE)
    foreign = Task.objects.create(
        tenant=device.tenant,
        device=device,
        type="upload",
        args={"url": "http://elsewhere/", "file_type": "1 Vendor Configuration File"},
        state=TaskState.RUNNING,
    )
    response = client.put(upload_path(foreign), data=b"x", content_type="text/plain")
    assert response.status_code == 410
    Task.objects.filter(pk=upload_task.pk).delete()
    assert (
        client.put(upload_path(upload_task), data=b"x", content_type="text/plain").status_code
        == 410
    )


def test_the_task_ending_while_the_body_arrives_keeps_nothing(upload_task, media):
    grant = files.verify_upload_token(link_of(upload_path(upload_task)))
    task = files.upload_task_for(grant)

    class EndsMidway(io.BytesIO):
        def read(self, n=-1):
            Task.objects.filter(pk=task.pk).update(state=TaskState.CANCELLED)
            return super().read(n)

    with pytest.raises(files.UploadRefused):
        files.upload_store(task=task, content=EndsMidway(b"cfg"))
    assert not File.objects.exists() and stored_files(media) == []


def link_of(path: str) -> str:
    return path.rsplit("/", 1)[1]


def test_chunked_upload_without_content_length(client, upload_task):
    response = client.put(upload_path(upload_task), **chunked(b"chunked"))
    assert response.status_code == 200 and File.objects.get().size == 7


@pytest.mark.parametrize("how", ["put-declared", "put-streamed", "multipart"])
def test_oversize_upload_is_413_and_leaves_nothing(
    client, device, upload_task, settings, media, how
):
    settings.ACS_MAX_FILE_BYTES = 1000
    path = upload_path(upload_task)
    if how == "put-declared":
        response = client.put(path, data=CONTENT, content_type="application/octet-stream")
    elif how == "put-streamed":  # no Content-Length to refuse on: the cap stops the stream
        response = client.put(path, **chunked(CONTENT))
    else:
        part = io.BytesIO(b"x" * 1500)
        part.name = "big.cfg"
        response = client.post(path, {"file": part})
    assert response.status_code == 413
    assert not File.objects.exists()
    assert stored_files(media) == []
    upload_task.refresh_from_db()
    assert "file" not in upload_task.result


def test_expired_forged_or_old_format_upload_token_is_403(client, device, upload_task, media):
    expired = client.put(upload_path(upload_task, ttl=-5), data=b"x", content_type="text/plain")
    assert expired.status_code == 403 and b"expired" in expired.content
    path = upload_path(upload_task)
    forged = client.put(_flip(path, len(path) - 2), data=b"x", content_type="text/plain")
    assert forged.status_code == 403
    # The format before issue 10, <payload>.<mac> naming a device: the link
    # that stored any number of files is not honoured, however authentic.
    payload = base64.urlsafe_b64encode(
        f'[{device.pk},"backup-1","1 Vendor Configuration File",{2**40}]'.encode()
    ).rstrip(b"=")
    mac = base64.urlsafe_b64encode(
        hmac.new(files._key("upload"), payload, hashlib.sha256).digest()
    ).rstrip(b"=")
    old = client.put(
        f"/files/upload/{payload.decode()}.{mac.decode()}", data=b"x", content_type="text/plain"
    )
    assert old.status_code == 403
    assert not File.objects.exists() and stored_files(media) == []


def test_upload_with_another_devices_credentials_is_refused(client, device, tenant, upload_task):
    other = DeviceFactory(tenant=tenant)
    other.set_cwmp_credentials("dev2", "pw2")
    other.save()
    path = upload_path(upload_task)
    response = client.put(
        path,
        data=b"x",
        content_type="text/plain",
        HTTP_AUTHORIZATION=basic("dev2", "pw2"),
        secure=True,
    )
    assert response.status_code == 403
    response = client.put(
        path,
        data=b"x",
        content_type="text/plain",
        HTTP_AUTHORIZATION=basic("cpe", "bad"),
        secure=True,
    )
    assert response.status_code == 401
    ok = client.put(
        path,
        data=b"x",
        content_type="text/plain",
        HTTP_AUTHORIZATION=basic(CPE_USERNAME, CPE_PASSWORD),
        secure=True,
    )
    assert ok.status_code == 200


def test_restore_args_send_a_backup_back(device):
    backup = files.file_create(
        tenant=device.tenant,
        name="b.cfg",
        file_type="1 Vendor Configuration File",
        content=b"c",
        device=device,
    )
    args = files.restore_args(backup, device=device, base_url=BASE)
    assert args["file_type"] == "3 Vendor Configuration File"
    assert args["target_file_name"] == "b.cfg" and args["file_size"] == 1
    assert "/files/" in args["url"] and "?" not in args["url"]
    with pytest.raises(ValueError):
        files.restore_args(
            backup, device=DeviceFactory(tenant=TenantFactory(slug="x")), base_url=BASE
        )
