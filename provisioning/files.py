"""The ACS file server: storing files, signing links, logging fetches.

CPEs fetch firmware and configuration files the ACS names in a Download
(TR-069 A.3.2.8) and send configuration backups and logs to the URL the ACS
names in an Upload (A.4.1.5). Both URLs point at this server; the views in
``cwmp/endpoint/files.py`` are the HTTP shell around these functions.

Why signed links: the Download and Upload RPCs carry a URL plus optional
Username/Password for the file server, and many CPEs mishandle file-server
credentials (they reuse their ACS credentials, or send none). A link that
carries its own proof (an HMAC over the file token, the device and an
expiry) works with every CPE and names the device that fetched, so the
fetch log can tell whether a device that reported a successful Download
actually fetched the file.

Services write (``file_create``, ``upload_store``, ``fetch_start``,
``fetch_finish``); selectors read (``file_for_token``, ``file_fetched``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import json
import logging
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.files.base import File as DjangoFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from devices.models import Device
from provisioning.models import OPEN_STATES, File, FileFetch, FileType, Task
from tenants.models import Tenant

log = logging.getLogger("acsportal.files")

CHUNK_SIZE = 64 * 1024
_NAME_MAX = 200  # File.name max_length


class FileTooLarge(ValueError):
    """The content is larger than ``ACS_MAX_FILE_BYTES``; nothing was stored."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"file larger than {limit} bytes (ACS_MAX_FILE_BYTES)")
        self.limit = limit


class LinkError(Exception):
    """A signed download link or upload token that cannot be honoured.

    ``expired`` separates an authentic but late link (the CPE waited too
    long, the operator may queue the task again) from a forged one.
    """

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.expired = expired


# --------------------------------------------------------------------- settings


def max_file_bytes() -> int:
    """Largest file the server stores, from a tenant or from a CPE."""
    return int(settings.ACS_MAX_FILE_BYTES)


def link_ttl() -> int:
    """Default lifetime of signed download links and upload tokens, in seconds."""
    return int(settings.ACS_FILE_LINK_TTL)


def public_base_url() -> str:
    """The base URL CPEs use to reach the ACS (scheme, host, port, no trailing slash)."""
    default = f"http://{settings.ACS_HOST}:{settings.ACS_PORT}"
    return str(settings.ACS_PUBLIC_URL or default).rstrip("/")


# ---------------------------------------------------------------------- storing


class _HashingReader(DjangoFile):
    """Feeds a source to storage chunk by chunk, hashing and counting on the way.

    Storage backends call ``chunks()``; the cap is enforced there, so an
    oversize body is refused after at most ``limit + CHUNK_SIZE`` bytes were
    read, never loaded whole into memory.
    """

    def __init__(self, source: IO[bytes] | Any, name: str, limit: int) -> None:
        super().__init__(source, name)
        self._source = source
        self._limit = limit
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False)

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        while True:
            chunk = self._source.read(chunk_size or CHUNK_SIZE)
            if not chunk:
                return
            if isinstance(chunk, str):
                raise TypeError("file content must be bytes, not text")
            self.size += len(chunk)
            if self.size > self._limit:
                raise FileTooLarge(self._limit)
            self.sha256.update(chunk)
            self.md5.update(chunk)
            yield chunk

    def multiple_chunks(self, chunk_size: int | None = None) -> bool:
        return True


def _new_token() -> str:
    # 22 URL-safe characters, 128 bits: unguessable, fits File.token.
    return secrets.token_urlsafe(16)


def _discard(instance: File) -> None:
    """Delete stored content of a file whose row will not exist."""
    name = instance.content.name
    if name:
        try:
            instance.content.storage.delete(name)
        except OSError:
            log.exception("could not delete %s after a failed store", name)


def _stream(instance: File, content: IO[bytes] | bytes | Any) -> None:
    """Write ``content`` to storage as ``instance.content`` and set size and hashes.

    On any failure the partially written file is removed, so storage never
    holds a file that has no row.
    """
    limit = max_file_bytes()
    source = io.BytesIO(content) if isinstance(content, bytes | bytearray) else content
    known = getattr(source, "size", None)
    if isinstance(known, int) and known > limit:
        raise FileTooLarge(limit)
    reader = _HashingReader(source, instance.token, limit)
    storage = instance.content.storage
    expected = instance.content.field.generate_filename(instance, instance.token)
    try:
        instance.content.save(instance.token, reader, save=False)
    except BaseException:
        # FileSystemStorage leaves a partial file behind when chunks() raises.
        if instance.content.name:
            _discard(instance)
        elif storage.exists(expected):
            storage.delete(expected)
        raise
    instance.size = reader.size
    instance.sha256 = reader.sha256.hexdigest()
    instance.md5 = reader.md5.hexdigest()


def _new_file(
    *,
    tenant: Tenant | int,
    name: str,
    file_type: str,
    version: str = "",
    oui: str = "",
    product_class: str = "",
    device: Device | None = None,
    task: Task | None = None,
    created_by: Any = None,
) -> File:
    name = (name or "").strip()
    if not name:
        raise ValueError("a file needs a name")
    if len(name) > _NAME_MAX:
        raise ValueError(f"file name longer than {_NAME_MAX} characters")
    if not file_type:
        raise ValueError("a file needs a TR-069 FileType such as '1 Firmware Upgrade Image'")
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    return File(
        tenant_id=tenant_id,
        name=name,
        file_type=file_type,
        version=version,
        oui=oui,
        product_class=product_class,
        device=device,
        task=task,
        created_by=created_by if getattr(created_by, "pk", None) else None,
        token=_new_token(),
    )


def file_create(
    *,
    tenant: Tenant,
    name: str,
    file_type: str,
    content: IO[bytes] | bytes | Any,
    version: str = "",
    oui: str = "",
    product_class: str = "",
    device: Device | None = None,
    task: Task | None = None,
    created_by: Any = None,
) -> File:
    """Store a file for CPEs to download (TR-069 A.3.2.8) and record it.

    ``content`` is bytes or any object with ``read(n)`` (an uploaded file, a
    request body): it is streamed to storage in chunks while size, SHA-256
    and MD5 are computed, so a 512 MiB image never sits in memory. Raises
    :class:`FileTooLarge` above ``ACS_MAX_FILE_BYTES``, with nothing stored.
    The stream runs outside any transaction (a long write must not hold the
    database's write lock); the row is one INSERT afterwards.
    """
    instance = _new_file(
        tenant=tenant,
        name=name,
        file_type=file_type,
        version=version,
        oui=oui,
        product_class=product_class,
        device=device,
        task=task,
        created_by=created_by,
    )
    _stream(instance, content)
    try:
        instance.save()
    except BaseException:
        _discard(instance)
        raise
    log.info("file %s stored: %s (%d bytes)", instance.pk, instance.name, instance.size)
    return instance


# ---------------------------------------------------------------- signed links


def _key(purpose: str) -> bytes:
    """A key per purpose derived from SECRET_KEY, so no two uses share a MAC domain."""
    return hmac.new(
        settings.SECRET_KEY.encode(), f"acsportal.files.{purpose}".encode(), hashlib.sha256
    ).digest()


def _download_mac(token: str, device_pk: int | str, expiry: int | str) -> str:
    message = f"{token}|{device_pk}|{expiry}".encode()
    return hmac.new(_key("download"), message, hashlib.sha256).hexdigest()


def _url_name(name: str) -> str:
    # The name in the URL is cosmetic (some CPEs name the stored file after
    # it); the token alone identifies the file. No slash may enter the path.
    return name.replace("/", "_").replace("\\", "_").strip() or "file"


def file_download_url(file: File, *, device: Device, base_url: str, ttl: int | None = None) -> str:
    """A link that lets ``device`` fetch ``file`` until it expires, without credentials.

    ``{base_url}/files/<token>/<name>?d=<device>&e=<expiry>&s=<HMAC-SHA256>``.
    The device is part of the proof so the fetch is logged against it
    (``file_fetched``) and the link is useless for another tenant's device.
    """
    if device.tenant_id != file.tenant_id:
        raise ValueError("a device can only be given files of its own tenant")
    expiry = int(time.time()) + (link_ttl() if ttl is None else ttl)
    path = reverse("files:download", kwargs={"token": file.token, "name": _url_name(file.name)})
    query = urlencode(
        {"d": device.pk, "e": expiry, "s": _download_mac(file.token, device.pk, expiry)}
    )
    return f"{base_url.rstrip('/')}{path}?{query}"


def verify_download_link(
    *, token: str, device: str, expiry: str, signature: str, now: float | None = None
) -> int:
    """The device pk a signed link was made for; :class:`LinkError` if forged or expired.

    The MAC is compared in constant time before the expiry is looked at, so
    an expiry can only be reported for an authentic link.
    """
    if not (device.isdigit() and expiry.isdigit()) or len(signature) != 64:
        raise LinkError("invalid link")
    expected = _download_mac(token, int(device), int(expiry))
    if not hmac.compare_digest(expected.encode(), signature.lower().encode("utf-8", "replace")):
        raise LinkError("invalid link signature")
    if int(expiry) < (time.time() if now is None else now):
        raise LinkError("link expired", expired=True)
    return int(device)


def download_args_for_file(file: File, *, device: Device, base_url: str) -> dict[str, Any]:
    """Arguments of a ``download`` task that fetches ``file`` (TR-069 A.3.2.8).

    Username and Password stay empty: the signed URL is the credential.
    FileSize lets the CPE check space before it starts.
    """
    return {
        "url": file_download_url(file, device=device, base_url=base_url),
        "file_type": file.file_type,
        "file_size": file.size,
        "target_file_name": file.name,
        "username": "",
        "password": "",
    }


def restore_args(upload_file: File, *, device: Device, base_url: str) -> dict[str, Any]:
    """Download arguments that put a configuration backup back on a device.

    The backup is one the device sent with Upload (A.4.1.5, "1 Vendor
    Configuration File"); it goes back as a Download of FileType "3 Vendor
    Configuration File" (A.3.2.8). Restoring onto another device of the same
    tenant (a replacement unit) is allowed; across tenants it is not.
    """
    if upload_file.tenant_id != device.tenant_id:
        raise ValueError("the file belongs to another tenant")
    args = download_args_for_file(upload_file, device=device, base_url=base_url)
    args["file_type"] = FileType.VENDOR_CONFIG.value
    return args


# ---------------------------------------------------------------------- uploads


@dataclass(slots=True, frozen=True)
class UploadGrant:
    """What a verified upload token allows: one device, one CommandKey, one FileType."""

    device_pk: int
    command_key: str
    file_type: str
    expires: int


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _upload_mac(payload: str) -> str:
    return _b64(hmac.new(_key("upload"), payload.encode("ascii"), hashlib.sha256).digest())


def upload_url_for(
    *,
    device: Device,
    command_key: str,
    file_type: str,
    base_url: str,
    ttl: int | None = None,
) -> str:
    """The URL to put in an Upload RPC (TR-069 A.4.1.5): ``{base}/files/upload/<token>``.

    The token signs device, CommandKey, FileType and expiry, so whatever the
    CPE PUTs or POSTs there is filed against the right device and task
    without file-server credentials. Only URL-safe characters and one dot.
    """
    expiry = int(time.time()) + (link_ttl() if ttl is None else ttl)
    payload = _b64(
        json.dumps([device.pk, command_key, file_type, expiry], separators=(",", ":")).encode()
    )
    token = f"{payload}.{_upload_mac(payload)}"
    return f"{base_url.rstrip('/')}{reverse('files:upload', kwargs={'token': token})}"


def verify_upload_token(token: str, *, now: float | None = None) -> UploadGrant:
    """Decode an upload token; :class:`LinkError` if forged, malformed or expired."""
    payload, _, mac = token.partition(".")
    if not payload or not mac or len(token) > 2048:
        raise LinkError("invalid upload link")
    if not hmac.compare_digest(_upload_mac(payload).encode(), mac.encode("utf-8", "replace")):
        raise LinkError("invalid upload link signature")
    try:
        device_pk, command_key, file_type, expires = json.loads(_unb64(payload))
    except (ValueError, TypeError, binascii.Error):
        raise LinkError("invalid upload link") from None
    if int(expires) < (time.time() if now is None else now):
        raise LinkError("upload link expired", expired=True)
    return UploadGrant(int(device_pk), str(command_key), str(file_type), int(expires))


def upload_extension(file_type: str) -> str:
    """File name extension for an Upload FileType (A.4.1.5: configuration or log)."""
    lowered = file_type.lower()
    if "configuration" in lowered:
        return "cfg"
    if "log" in lowered:
        return "log"
    return "bin"


def upload_store(*, device: Device, grant: UploadGrant, content: IO[bytes] | Any) -> File:
    """File what a CPE uploaded (TR-069 A.4.1.5) against the device and its Upload task.

    The body is streamed to storage first, outside any transaction; then one
    transaction inserts the row and writes ``result["file"]`` into the
    device's open ``upload`` task with that CommandKey (one UPDATE, under a
    row lock so a concurrent write to the result is not lost). The task's
    state is left alone: TransferComplete (A.3.3.2) decides it. On any
    failure the stored content is deleted, so nothing is left behind.
    """
    name = f"{device.device_id}-{grant.command_key}"
    ext = upload_extension(grant.file_type)
    name = f"{name[: _NAME_MAX - len(ext) - 1]}.{ext}"
    instance = _new_file(
        tenant=device.tenant_id, name=name, file_type=grant.file_type, device=device
    )
    _stream(instance, content)
    try:
        with transaction.atomic():
            task = (
                Task.objects.select_for_update()
                .filter(
                    device_id=device.pk,
                    type="upload",
                    command_key=grant.command_key,
                    state__in=OPEN_STATES,
                )
                .order_by("-id")
                .first()
            )
            instance.task = task
            instance.save()
            if task is not None:
                Task.objects.filter(pk=task.pk).update(result={**task.result, "file": instance.pk})
    except BaseException:
        _discard(instance)
        raise
    log.info(
        "upload from %s (CommandKey %r): file %s, %d bytes, task %s",
        device.device_id,
        grant.command_key,
        instance.pk,
        instance.size,
        instance.task_id,
    )
    return instance


# ------------------------------------------------------------------- fetch log


def fetch_start(
    *,
    file: File,
    device: Device | None,
    remote_address: str | None,
    range_header: str,
    status: int,
    streaming: bool = False,
) -> FileFetch:
    """Log one request for a file.

    A response without a body (refusals, HEAD, 304, 416) is finished at
    once; a streaming one is finished by ``fetch_finish`` when it ends.
    """
    return FileFetch.objects.create(
        file=file,
        device=device,
        remote_address=remote_address,
        range=range_header[:100],
        status=status,
        finished=None if streaming else timezone.now(),
    )


def fetch_finish(*, fetch_pk: int, bytes_sent: int, complete: bool) -> None:
    """Record what a response actually wrote, when its stream ends or is closed early."""
    FileFetch.objects.filter(pk=fetch_pk).update(
        bytes_sent=bytes_sent, complete=complete, finished=timezone.now()
    )


# -------------------------------------------------------------------- selectors


def file_for_token(token: str) -> File | None:
    """The file a URL names, with its tenant (one query); ``None`` if unknown."""
    if not token or len(token) > 32:
        return None
    return File.objects.select_related("tenant").filter(token=token).first()


def file_fetched(*, file: File, device: Device, since: datetime) -> bool:
    """True when ``device`` fetched all of ``file`` in a request that started after ``since``.

    A CPE that answers Download with Status 0 (or a TransferComplete without
    fault) but never fetched the file is lying or fetched it elsewhere; the
    task layer flags such a Download as unconfirmed. A fetch counts as
    complete when one response delivered the file from its first to its
    last byte (see ``cwmp/endpoint/files.py``); ranges stitched across
    requests are not added up.
    """
    return FileFetch.objects.filter(
        file=file, device=device, complete=True, started__gte=since
    ).exists()
