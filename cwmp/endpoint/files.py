"""The file server's HTTP shell: CPE downloads (TR-069 A.3.2.8) and uploads (A.4.1.5).

Nothing here is public. A download is served with a signed link
(``files.file_download_url``) or with HTTP Digest/Basic using the tenant's
CPE credentials or a device's own CWMP credentials, by the CWMP endpoint's
own implementation (``cwmp.endpoint.cpeauth``: the tenant's realm, stored
HA1 values, Basic only where allowed, the shared replay store).

Decisions worth knowing:

* A signed link is ``/files/<token>/<link>/<name>``: the proof (device,
  expiry, MAC) is the one opaque middle segment, never a query string, so
  there is no ``&`` for a CPE to leave XML-escaped and no query for a log
  to keep. Links made before issue 10 (``?d=&e=&s=``, also read with the
  ``amp;`` a CPE that never decoded the entity sends) are honoured until
  they expire, one ``ACS_FILE_LINK_TTL`` after the upgrade at most.
* The token in the path identifies the file and hence the tenant; the name
  after it is cosmetic. An unknown token, a signed link for another
  tenant's device, a Digest answer for another tenant's realm, and a
  device-uploaded file asked for by anyone but that device are all 404,
  never 403, so nothing tells a stranger a file exists.
* A Digest answer must name the file's token in its ``uri``: the full URI
  is not compared (proxies rewrite paths, as on the CWMP endpoint), but an
  answer captured for one file or for the CWMP endpoint cannot fetch another.
  File-server nonces are signed with their own key and their counts tracked
  in the CWMP session store (Redis when the workers share one).
* Ranges (RFC 9110 §14): one range ``a-b``, ``a-`` or ``-n`` is answered 206
  with Content-Range; an unsatisfiable one 416 with ``Content-Range: bytes
  */size``; several ranges are answered with the whole file (200), which
  RFC 9110 allows and every CPE copes with, rather than multipart/byteranges,
  which few CPEs parse. A malformed Range header is ignored (200). If-Range
  with anything but the current ETag also gives the whole file.
* Every request on an existing token is logged as a ``FileFetch``
  (refusals included, so a CPE that fails to authenticate shows up). A
  fetch is ``complete`` only when one response started at byte 0 and the
  server handed the last byte to the client: a full 200, or a 206 covering
  the whole file. Ranges spread over several requests are not stitched
  together. The row is updated when the stream ends or is closed early.
* Uploads answer 200 with a short text body: some CPE firmware treats 201
  and 204 as failures, none refuses 200.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO, Any

from asgiref.sync import sync_to_async
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.http import content_disposition_header, http_date
from django.views.decorators.csrf import csrf_exempt

from acsportal.infra.http import peer
from acsportal.infra.http import plain as _text
from cwmp.endpoint import cpeauth
from cwmp.endpoint.store import get_store
from cwmp.protocol import digest
from devices.models import Device
from provisioning import files
from provisioning.models import File
from tenants.models import Tenant

log = logging.getLogger("acsportal.files")

_RANGE_SPEC = re.compile(r"^(\d*)-(\d*)$")
_MAX_RANGE_HEADER = 1024
# Multipart overhead allowed above the size cap in a declared Content-Length
# (acsportal.handlers allows it to every path but /cwmp/).
MULTIPART_SLACK = 64 * 1024


def _remote_address(request: HttpRequest) -> str | None:
    """The client's IP for the fetch log (forwarded only by a trusted proxy)."""
    try:
        return str(ipaddress.ip_address(peer(request)[0]))
    except ValueError:
        return None


# ------------------------------------------------------------------ CPE auth


@dataclass(slots=True)
class _Identity:
    """Who a request is: a device when known; ``refusal`` when it is nobody we serve."""

    device: Device | None = None
    refusal: HttpResponse | None = None


def _authenticate(request: HttpRequest, tenant: Tenant, token: str) -> _Identity:
    """HTTP Digest/Basic against the tenant's CPE or device credentials.

    Same rules as the CWMP endpoint: Digest challenge by default, Basic only
    where the tenant allows it. A Digest answer for another realm is another
    tenant's client: 404.
    """
    creds = digest.parse_authorization(request.META.get("HTTP_AUTHORIZATION"))
    if creds is None:
        return _Identity(refusal=cpeauth.challenge(tenant, door=cpeauth.FILES))
    owner = cpeauth.credential_owner(tenant, creds.username)

    def ha1_for(username: str, algorithm: str) -> str | None:
        if owner is None or username != creds.username:
            return None
        return owner[1](algorithm) or None

    if isinstance(creds, digest.DigestCredentials) and tenant.allows_digest:
        if creds.realm != tenant.cpe_realm:
            return _Identity(refusal=_text(404, "no such file"))
        if token not in creds.uri:
            return _Identity(
                refusal=cpeauth.challenge(
                    tenant, door=cpeauth.FILES, reason="authentication failed"
                )
            )
    verdict = cpeauth.verify(
        request,
        tenant,
        creds,
        ha1_for=ha1_for,
        # The same replay store as the CWMP endpoint's (shared by the
        # workers); this door's nonces are signed with a key of its own.
        tracker=get_store(),
        binding=_remote_address(request) or "",
        door=cpeauth.FILES,
        who=f"file {token[:6]}…",
    )
    if isinstance(verdict, HttpResponse):
        return _Identity(refusal=verdict)
    if owner is None:  # unreachable: no HA1 without an owner
        return _Identity(
            refusal=cpeauth.refuse(request, tenant, creds, verdict, door=cpeauth.FILES)
        )
    return _Identity(device=owner[0])


def _legacy_link(request: HttpRequest) -> dict[str, str] | None:
    """The ``d``, ``e``, ``s`` of a link made before issue 10, if the query has one.

    A CPE that copies the Download URL without decoding XML entities asks
    for ``?d=1&amp;e=…&amp;s=…``: its keys arrive as ``amp;e``, and are
    taken for what they were.
    """
    fields: dict[str, str] = {}
    for key in request.GET:
        name = key.removeprefix("amp;")
        if name in ("d", "e", "s"):
            fields[name] = str(request.GET.get(key, ""))
    return fields or None


def _identify_for_download(request: HttpRequest, file: File, link: str | None) -> _Identity:
    """A signed link first (the normal case), else HTTP credentials."""
    legacy = _legacy_link(request) if link is None else None
    if link is not None or legacy is not None:
        try:
            if link is not None:
                device_pk = files.verify_download_link(token=file.token, link=link)
            else:
                assert legacy is not None
                device_pk = files.verify_legacy_download_link(
                    token=file.token,
                    device=legacy.get("d", ""),
                    expiry=legacy.get("e", ""),
                    signature=legacy.get("s", ""),
                )
        except files.LinkError as exc:
            if not request.META.get("HTTP_AUTHORIZATION"):
                return _Identity(refusal=_text(403, exc.message))
        else:
            device = Device.objects.filter(pk=device_pk, tenant_id=file.tenant_id).first()
            if device is None:
                return _Identity(refusal=_text(404, "no such file"))
            # A signed link may hand a device's backup to another device of
            # the tenant (restoring onto a replacement unit): the ACS chose.
            return _Identity(device=device)
    identity = _authenticate(request, file.tenant, file.token)
    if identity.refusal is None and file.device_id is not None:
        device = identity.device
        if device is None or device.pk != file.device_id:
            return _Identity(refusal=_text(404, "no such file"))
    return identity


# ------------------------------------------------------------------- ranges


class _Unsatisfiable(Exception):
    pass


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The one inclusive byte range a Range header asks for, or ``None`` for the whole file.

    RFC 9110 §14.1.2/§14.2: a header that is not ``bytes=`` or does not parse
    is ignored; several ranges are answered with the whole file (documented
    above); a single range starting past the end, or ``-0``, raises
    :class:`_Unsatisfiable`. Ranges on an empty file are ignored.
    """
    if not header or size == 0 or len(header) > _MAX_RANGE_HEADER:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    specs = [s.strip() for s in spec.split(",") if s.strip()]
    if len(specs) != 1:
        return None
    match = _RANGE_SPEC.match(specs[0])
    if match is None or match.group(0) == "-":
        return None
    first, last = match.groups()
    if not first:  # suffix: the last n bytes
        length = int(last)
        if length == 0:
            raise _Unsatisfiable
        return max(0, size - length), size - 1
    start = int(first)
    if last and int(last) < start:
        return None  # invalid, so ignored
    if start >= size:
        raise _Unsatisfiable
    return start, min(int(last), size - 1) if last else size - 1


def _etag(file: File) -> str | None:
    return f'"{file.sha256}"' if file.sha256 else None


def _etag_matches(header: str, etag: str | None) -> bool:
    """Weak comparison for If-None-Match (RFC 9110 §13.1.2)."""
    if etag is None:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


# ---------------------------------------------------------------- streaming


class _FetchStream:
    """Yields a byte window of a stored file and logs what was really written.

    A chunk counts as sent once the server asks for the next one (it has
    written the previous). The window counts as delivered when its last
    chunk is handed to the server, and is logged then, before the response
    ends: a CPE that reports its TransferComplete the moment it holds the
    last byte (it reads a Content-Length, not the server's close) must find
    the fetch already logged, or the ACS would call a real download
    unfetched. ``close()`` (called by the WSGI server, by Django when the
    response is closed, or by the test client) logs what was sent when the
    client went away before that.
    """

    def __init__(self, handle: IO[bytes], *, length: int, whole: bool, fetch_pk: int) -> None:
        self._handle = handle
        self._left = length
        self._whole = whole
        self._fetch_pk = fetch_pk
        self._sent = 0
        self._pending = 0
        self._done = False
        self._closed = False
        self._logged = False

    def __iter__(self) -> _FetchStream:
        return self

    def __next__(self) -> bytes:
        self._sent += self._pending
        self._pending = 0
        if self._left <= 0:
            self._done = True
            raise StopIteration
        chunk = self._handle.read(min(files.CHUNK_SIZE, self._left))
        if not chunk:  # the stored file is shorter than its row says
            log.error("files: fetch %s: stored content ended early", self._fetch_pk)
            raise StopIteration
        self._left -= len(chunk)
        self._pending = len(chunk)
        if self._left <= 0 and not self._logged:
            self._logged = True
            files.fetch_finish(
                fetch_pk=self._fetch_pk, bytes_sent=self._sent + len(chunk), complete=self._whole
            )
        return chunk

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._handle.close()
        finally:
            if not self._logged:
                self._logged = True
                files.fetch_finish(
                    fetch_pk=self._fetch_pk,
                    bytes_sent=self._sent,
                    complete=self._done and self._whole,
                )


class _AsyncFetchStream:
    """``_FetchStream`` for an ASGI server, chunk by chunk.

    Django's ASGI handler turns a synchronous iterator into a list before
    sending the first byte: a whole firmware image in memory, and a fetch
    logged complete even when the CPE went away after a kilobyte. Each chunk
    is read in a worker thread instead, as the server asks for it. Django
    closes the response when it was sent; when the client went away
    mid-way it does not, and the generator's own ``finally`` (run when the
    event loop finalises it) closes the stream, so the fetch log is written
    either way.
    """

    def __init__(self, stream: _FetchStream) -> None:
        self._stream = stream

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        read = sync_to_async(_next_chunk, thread_sensitive=False)
        try:
            while (chunk := await read(self._stream)) is not None:
                yield chunk
        finally:
            await sync_to_async(self.close, thread_sensitive=False)()

    def close(self) -> None:
        self._stream.close()


def _next_chunk(stream: _FetchStream) -> bytes | None:
    return next(stream, None)


@csrf_exempt
def download(
    request: HttpRequest, token: str, name: str, link: str | None = None
) -> HttpResponse | StreamingHttpResponse:
    """``GET|HEAD /files/<token>/[<link>/]<name>``: a file for a CPE (TR-069 A.3.2.8).

    With ``link`` (a signed link's proof) the device is the link's; without,
    the CPE's credentials say who it is.
    """
    if request.method not in ("GET", "HEAD"):
        return _text(405, "the file server takes GET and HEAD here", Allow="GET, HEAD")
    file = files.file_for_token(token)
    if file is None or not file.tenant.is_active:
        return _text(404, "no such file")
    remote = _remote_address(request)
    range_header = request.META.get("HTTP_RANGE", "")

    def logged(response: HttpResponse, device: Device | None = None) -> HttpResponse:
        files.fetch_start(
            file=file,
            device=device,
            remote_address=remote,
            range_header=range_header,
            status=response.status_code,
        )
        return response

    identity = _identify_for_download(request, file, link)
    if identity.refusal is not None:
        return logged(identity.refusal)
    device = identity.device

    size = file.size
    etag = _etag(file)
    headers = {
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, no-transform",
        "Last-Modified": http_date(file.created.timestamp()),
    }
    if etag:
        headers["ETag"] = etag
    if_none_match = request.META.get("HTTP_IF_NONE_MATCH", "")
    if if_none_match and _etag_matches(if_none_match, etag):
        response = HttpResponse(status=304)
        for key, value in headers.items():
            response[key] = value
        return logged(response, device)

    if_range = request.META.get("HTTP_IF_RANGE", "").strip()
    wanted = range_header if not if_range or if_range in (etag, headers["Last-Modified"]) else ""
    try:
        window = byte_range(wanted, size)
    except _Unsatisfiable:
        return logged(
            _text(
                416,
                "range not satisfiable",
                Content_Range=f"bytes */{size}",
                Accept_Ranges="bytes",
            ),
            device,
        )
    start, end = window if window is not None else (0, size - 1)
    length = end - start + 1 if size else 0
    status = 206 if window is not None else 200
    headers["Content-Length"] = str(length)
    headers["Content-Disposition"] = content_disposition_header(True, file.name) or "attachment"
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"

    if request.method == "HEAD":
        response = HttpResponse(status=status, content_type="application/octet-stream")
        for key, value in headers.items():
            response[key] = value
        return logged(response, device)

    try:
        handle = file.content.open("rb")
        handle.seek(start)
    except OSError:
        log.error(
            "files: content of file %s (%s) is missing from storage", file.pk, file.content.name
        )
        return logged(_text(404, "no such file"), device)
    fetch = files.fetch_start(
        file=file,
        device=device,
        remote_address=remote,
        range_header=range_header,
        status=status,
        streaming=True,
    )
    stream = _FetchStream(
        handle, length=length, whole=start == 0 and end == size - 1, fetch_pk=fetch.pk
    )
    content: _FetchStream | _AsyncFetchStream = stream
    if isinstance(request, ASGIRequest):
        content = _AsyncFetchStream(stream)
    streaming = StreamingHttpResponse(
        content, status=status, content_type="application/octet-stream"
    )
    for key, value in headers.items():
        streaming[key] = value
    return streaming


# ------------------------------------------------------------------- uploads


class _CappedUploadHandler(TemporaryFileUploadHandler):
    """Multipart file parts go to a temporary file, never memory, up to the size cap."""

    def __init__(self, request: HttpRequest, limit: int) -> None:
        super().__init__(request)
        self.limit = limit
        self.received = 0

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        self.received = 0
        super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.received += len(raw_data)
        if self.received > self.limit:
            raise files.FileTooLarge(self.limit)
        super().receive_data_chunk(raw_data, start)


def _body_stream(request: HttpRequest) -> IO[bytes] | HttpRequest:
    """The raw request body as a stream.

    Django reads nothing without a Content-Length, but a CPE may send a
    chunked PUT; a WSGI server that de-chunks says so with
    ``wsgi.input_terminated``, and its input is then read to the end.
    """
    if not request.META.get("CONTENT_LENGTH") and request.META.get("wsgi.input_terminated"):
        return request.META["wsgi.input"]
    return request


@csrf_exempt
def upload(request: HttpRequest, token: str) -> HttpResponse:
    """``PUT|POST /files/upload/<token>``: a file a CPE sends for an Upload (TR-069 A.4.1.5).

    The body is the file (PUT or POST), or a multipart/form-data POST with
    one file part. The signed token is the authorisation, for one file of
    the Upload task it names while that task waits for it: a forged or
    expired token is 403, one whose task has its file or is over is 410
    (before the body is read, and again before the file is kept).
    Credentials, if the CPE sends any, must be right and must not be
    another device's.
    """
    if request.method not in ("PUT", "POST"):
        return _text(405, "uploads take PUT or POST", Allow="PUT, POST")
    try:
        grant = files.verify_upload_token(token)
        task = files.upload_task_for(grant)
    except files.UploadRefused as exc:
        log.warning("files: upload refused from %s: %s", _remote_address(request), exc.message)
        return _text(410, exc.message)
    except files.LinkError as exc:
        log.warning("files: upload refused from %s: %s", _remote_address(request), exc.message)
        return _text(403, exc.message)
    device = task.device
    if not device.tenant.is_active:
        return _text(404, "no such device")
    if request.META.get("HTTP_AUTHORIZATION"):
        identity = _authenticate(request, device.tenant, token)
        if identity.refusal is not None:
            return identity.refusal
        if identity.device is not None and identity.device.pk != device.pk:
            return _text(403, "these credentials belong to another device")

    limit = files.max_file_bytes()
    multipart = request.method == "POST" and request.content_type == "multipart/form-data"
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _text(400, "Content-Length is not a number")
    if declared > limit + (MULTIPART_SLACK if multipart else 0):
        return _text(413, f"file larger than {limit} bytes")

    part = None
    handler = None
    if multipart:
        handler = _CappedUploadHandler(request, limit)
        request.upload_handlers = [handler]
        try:
            parts = [f for _, values in request.FILES.lists() for f in values]
        except files.FileTooLarge as exc:
            handler.upload_interrupted()
            return _text(413, str(exc))
        except MultiPartParserError as exc:
            handler.upload_interrupted()
            return _text(400, f"bad multipart body: {exc}")
        if len(parts) != 1:
            for extra in parts:
                extra.close()
            return _text(400, "a multipart upload must carry exactly one file part")
        part = parts[0]
    try:
        file = files.upload_store(
            task=task, content=part if part is not None else _body_stream(request)
        )
    except files.FileTooLarge as exc:
        log.warning("files: upload from %s too large", device.device_id)
        return _text(413, str(exc))
    except files.UploadRefused as exc:  # another request stored it, or the task ended, meanwhile
        log.warning("files: upload from %s refused: %s", device.device_id, exc.message)
        return _text(410, exc.message)
    finally:
        if part is not None:
            part.close()  # deletes the temporary file
    return _text(200, f"stored {file.size} bytes as {file.name}")
