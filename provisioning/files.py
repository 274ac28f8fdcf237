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
actually fetched the file. An upload link names the Upload task that made
it, and stores one file, while that task waits for it.

Services write (``file_create``, ``upload_store``, ``fetch_start``,
``fetch_finish``); selectors read (``file_for_token``, ``upload_task_for``,
``file_fetched``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import logging
import secrets
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from django.conf import settings
from django.core.files.base import File as DjangoFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from devices.models import Device
from provisioning.models import File, FileFetch, FileType, Task, TaskState
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
#
# A link carries its proof as ONE opaque path segment of URL-safe base64
# (A-Z a-z 0-9 - _), never in a query string: no "&" for a CPE to mangle
# (one seen in the field fetched "...?d=1&amp;e=..." verbatim, having never
# decoded the XML entity in the Download URL), nothing for an XML writer to
# escape, and one segment that log redaction cuts (acsportal/accesslog.py).
# The first byte is the format's version; the MAC is HMAC-SHA256 with a
# key of its own per purpose.

_LINK_VERSION = 1
_DOWNLOAD_LINK = struct.Struct("!BQQ")  # version, device pk, expiry
_UPLOAD_LINK = struct.Struct("!BQQ")  # version, task pk, expiry
_MAC_BYTES = 32


def _key(purpose: str) -> bytes:
    """A key per purpose derived from SECRET_KEY, so no two uses share a MAC domain."""
    return hmac.new(
        settings.SECRET_KEY.encode(), f"acsportal.files.{purpose}".encode(), hashlib.sha256
    ).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Strict: only the one spelling ``_b64`` writes decodes.

    Base64's last character may carry bits the decoder drops, so several
    spellings of one link would decode alike; a link differing from ours in
    any character must fail, like any other tampering.
    """
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(raw) != text:
        raise ValueError("not the canonical spelling")
    return raw


def _seal(purpose: str, head: bytes, bound: bytes = b"") -> str:
    """``head`` and its MAC (over ``head`` and ``bound``, which the URL carries elsewhere)."""
    mac = hmac.new(_key(purpose), head + b"|" + bound, hashlib.sha256).digest()
    return _b64(head + mac)


def _unseal(purpose: str, link: str, layout: struct.Struct, bound: bytes = b"") -> tuple[int, ...]:
    """The fields of an authentic link; :class:`LinkError` if forged, malformed or expired.

    The MAC is compared in constant time before anything in the link is
    believed, so "expired" is only ever said of an authentic link. The last
    field of every layout is the expiry.
    """
    if not link or len(link) > 200 or not link.isascii():
        raise LinkError("invalid link")
    try:
        raw = _unb64(link)
    except (ValueError, binascii.Error):
        raise LinkError("invalid link") from None
    if len(raw) != layout.size + _MAC_BYTES:
        raise LinkError("invalid link")
    head, mac = raw[: layout.size], raw[layout.size :]
    expected = hmac.new(_key(purpose), head + b"|" + bound, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, mac):
        raise LinkError("invalid link signature")
    version, *fields = layout.unpack(head)
    if version != _LINK_VERSION:
        raise LinkError("invalid link")
    if fields[-1] < time.time():
        raise LinkError("link expired", expired=True)
    return tuple(fields)


def _url_name(name: str) -> str:
    # The name in the URL is cosmetic (some CPEs name the stored file after
    # it); the token alone identifies the file. No slash may enter the path.
    return name.replace("/", "_").replace("\\", "_").strip() or "file"


def file_download_url(file: File, *, device: Device, base_url: str, ttl: int | None = None) -> str:
    """A link that lets ``device`` fetch ``file`` until it expires, without credentials.

    ``{base_url}/files/<token>/<link>/<name>``, ``<link>`` one opaque
    segment sealing the device and the expiry to the file's token. The
    device is part of the proof so the fetch is logged against it
    (``file_fetched``) and the link is useless for another tenant's device.
    """
    if device.tenant_id != file.tenant_id:
        raise ValueError("a device can only be given files of its own tenant")
    expiry = int(time.time()) + (link_ttl() if ttl is None else ttl)
    head = _DOWNLOAD_LINK.pack(_LINK_VERSION, device.pk, expiry)
    path = reverse(
        "files:signed",
        kwargs={
            "token": file.token,
            "link": _seal("download", head, file.token.encode()),
            "name": _url_name(file.name),
        },
    )
    return f"{base_url.rstrip('/')}{path}"


def verify_download_link(*, token: str, link: str) -> int:
    """The device pk a download link was made for; :class:`LinkError` if forged or expired."""
    device_pk, _ = _unseal("download", link, _DOWNLOAD_LINK, token.encode())
    return device_pk


# Links made before issue 10 carried the proof in the query string
# (?d=<device>&e=<expiry>&s=<hex HMAC>). Accepted until the last of them
# expires: they live ACS_FILE_LINK_TTL (a day by default) after they were
# made, so a release later nothing can still hold one. Remove then.
def _legacy_download_mac(token: str, device_pk: int | str, expiry: int | str) -> str:
    message = f"{token}|{device_pk}|{expiry}".encode()
    return hmac.new(_key("download"), message, hashlib.sha256).hexdigest()


def verify_legacy_download_link(*, token: str, device: str, expiry: str, signature: str) -> int:
    """The device pk of a pre-issue-10 query-string link; :class:`LinkError` if forged or expired."""
    if not (device.isdigit() and expiry.isdigit()) or len(signature) != 64:
        raise LinkError("invalid link")
    expected = _legacy_download_mac(token, int(device), int(expiry))
    if not hmac.compare_digest(expected.encode(), signature.lower().encode("utf-8", "replace")):
        raise LinkError("invalid link signature")
    if int(expiry) < time.time():
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
#
# An upload link names the Upload task that made it and nothing else: the
# device, CommandKey and FileType are the task's. It is accepted only while
# that task is open and its RPC out (running), and only once: the first file
# stored against the task (its result's "file") closes the link, and so does
# the task's end, whatever it is. A link of a task that was queued again
# after a fault, cancelled, expired or done is refused. So a link cannot
# store a second file, nor a file for a task the operator has given up on.


class UploadRefused(LinkError):
    """An authentic upload link whose task no longer takes an upload (used, or over)."""


@dataclass(slots=True, frozen=True)
class UploadGrant:
    """What a verified upload link names: one Upload task, until an expiry."""

    task_pk: int
    expires: int


def upload_url_for(*, task: Task, base_url: str, ttl: int | None = None) -> str:
    """The URL to put in ``task``'s Upload RPC (TR-069 A.4.1.5): ``{base}/files/upload/<link>``.

    Made when the RPC is sent (a task may wait days for an offline device,
    longer than a link lives). URL-safe characters only.
    """
    if task.pk is None or task.type != "upload":
        raise ValueError("an upload link is made for a saved upload task")
    expiry = int(time.time()) + (link_ttl() if ttl is None else ttl)
    link = _seal("upload", _UPLOAD_LINK.pack(_LINK_VERSION, task.pk, expiry))
    return f"{base_url.rstrip('/')}{reverse('files:upload', kwargs={'token': link})}"


def verify_upload_token(token: str) -> UploadGrant:
    """Decode an upload link; :class:`LinkError` if forged, malformed or expired.

    Links of the format before issue 10 (``<payload>.<mac>``, naming a
    device and a CommandKey) are refused: they were the links that could
    store any number of files.
    """
    task_pk, expires = _unseal("upload", token, _UPLOAD_LINK)
    return UploadGrant(task_pk, expires)


def _uploading(tasks: Any, grant: UploadGrant) -> Any:
    return tasks.filter(
        pk=grant.task_pk, type="upload", args__acs_upload=True, state=TaskState.RUNNING
    )


def upload_task_for(grant: UploadGrant) -> Task:
    """The task a link names while it takes the upload, with its device and tenant.

    Raises :class:`UploadRefused` when the task is gone, over, queued again,
    or already has its file. Checked before the body is read (so a dead
    link costs no disk) and again, under the task's row lock, before the
    file is kept (``upload_store``).
    """
    task = _uploading(Task.objects.select_related("device__tenant"), grant).first()
    if task is None:
        raise UploadRefused("this upload link's task is over (done, cancelled, expired or queued)")
    if task.result.get("file"):
        raise UploadRefused("this upload link was used: its task has its file")
    return task


def upload_extension(file_type: str) -> str:
    """File name extension for an Upload FileType (A.4.1.5: configuration or log)."""
    lowered = file_type.lower()
    if "configuration" in lowered:
        return "cfg"
    if "log" in lowered:
        return "log"
    return "bin"


def upload_store(*, task: Task, content: IO[bytes] | Any) -> File:
    """File what a CPE uploaded (TR-069 A.4.1.5) against ``task``'s device and the task.

    The body is streamed to storage first, outside any transaction; then one
    transaction locks the task row, checks it still takes the upload (it
    may have ended, or another request may have stored its file, while
    this body arrived), inserts the row and writes ``result["file"]`` (one
    UPDATE). The task's state is left alone: TransferComplete (A.3.3.2)
    decides it. On any failure, :class:`UploadRefused` included, the stored
    content is deleted, so nothing is left behind.
    """
    device = task.device
    file_type = str(task.args.get("file_type") or "")
    name = f"{device.device_id}-{task.command_key}"
    ext = upload_extension(file_type)
    name = f"{name[: _NAME_MAX - len(ext) - 1]}.{ext}"
    instance = _new_file(
        tenant=device.tenant_id, name=name, file_type=file_type, device=device, task=task
    )
    _stream(instance, content)
    try:
        with transaction.atomic():
            locked = upload_task_for_update(task)
            instance.save()
            Task.objects.filter(pk=locked.pk).update(result={**locked.result, "file": instance.pk})
    except BaseException:
        _discard(instance)
        raise
    log.info(
        "upload from %s (task %s, CommandKey %r): file %s, %d bytes",
        device.device_id,
        task.pk,
        task.command_key,
        instance.pk,
        instance.size,
    )
    return instance


def upload_task_for_update(task: Task) -> Task:
    """``task`` locked, if it still takes its upload (``upload_task_for``'s rule)."""
    grant = UploadGrant(task.pk, 0)
    locked = _uploading(Task.objects.select_for_update(), grant).first()
    if locked is None:
        raise UploadRefused("this upload link's task ended while the file arrived")
    if locked.result.get("file"):
        raise UploadRefused("this upload link was used: its task has its file")
    return locked


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
