"""File transfers a CPE makes after a Download or Upload RPC, and the TransferComplete that reports them.

An accepted transfer (`Transfer`) waits for its delay, then is an HTTP GET or
PUT with Basic or Digest; what was fetched is applied (a firmware image sets
SoftwareVersion, a configuration file its values) and TransferComplete carries
the outcome. Only loopback hosts are contacted unless explicitly allowed: an
ACS under test must not be able to point a fleet of simulated devices at the
network.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from .digest import ClientAuth
from .httpclient import HttpConnection, HttpError, Url
from .soap import esc
from .tree import DeviceTree
from .values import UNKNOWN_TIME, utc_now, validate_value


@dataclass(slots=True)
class Transfer:
    """A Download, Upload or ScheduleDownload the CPE has accepted but not yet reported."""

    is_download: bool
    command_key: str
    file_type: str
    url: str
    username: str
    password: str
    file_size: int
    target_file: str
    delay: float
    event: str
    state: int = 1  # 1 not yet started, 2 in progress, 3 completed (TR-069 A.4.1.1)
    start_time: str = UNKNOWN_TIME
    complete_time: str = UNKNOWN_TIME
    #: Reboot once the transfer is over (`reboot-after-download`; a firmware image always does).
    reboot: bool = False
    task: object = field(default=None, repr=False)


class TransferFailed(Exception):
    """The transfer failed; the message goes into TransferComplete's FaultString."""


async def _request(
    method: str,
    url: str,
    username: str,
    password: str,
    body: bytes = b"",
    *,
    timeout: float = 30.0,
    ssl_context: ssl.SSLContext | None = None,
    allow_remote: bool = False,
    content_type: str | None = None,
) -> bytes:
    try:
        parsed = Url.parse(url)
    except ValueError as exc:
        raise TransferFailed(str(exc)) from exc
    if not allow_remote and not parsed.is_loopback:
        raise TransferFailed(f"refused: {parsed.host} is not a loopback host")
    conn = HttpConnection(
        parsed, ssl_context=ssl_context if parsed.scheme == "https" else None, timeout=timeout
    )
    auth = ClientAuth(username, password)
    try:
        for _attempt in range(3):
            headers: list[tuple[str, str]] = [("User-Agent", "cpesim")]
            if content_type:
                headers.append(("Content-Type", content_type))
            authorization = auth.header(method, parsed.target)
            if authorization:
                headers.append(("Authorization", authorization))
            response = await conn.request(method, parsed.target, headers, body)
            if response.status == 401 and (username or password):
                if auth.challenge(response.header_all("www-authenticate")):
                    continue
            if not 200 <= response.status < 300:
                raise TransferFailed(f"HTTP {response.status} {response.reason}".strip())
            return response.body
        raise TransferFailed("authentication failed")
    except (HttpError, OSError, TimeoutError) as exc:
        raise TransferFailed(f"{type(exc).__name__}: {exc}") from exc
    finally:
        conn.close()


async def fetch(
    url: str,
    username: str = "",
    password: str = "",
    *,
    timeout: float = 30.0,
    ssl_context: ssl.SSLContext | None = None,
    allow_remote: bool = False,
) -> bytes:
    """GET a file (Download)."""
    return await _request(
        "GET",
        url,
        username,
        password,
        timeout=timeout,
        ssl_context=ssl_context,
        allow_remote=allow_remote,
    )


async def put(
    url: str,
    data: bytes,
    username: str = "",
    password: str = "",
    *,
    timeout: float = 30.0,
    ssl_context: ssl.SSLContext | None = None,
    allow_remote: bool = False,
) -> None:
    """PUT a file (Upload; TR-069 3.4.5 names PUT for HTTP uploads)."""
    await _request(
        "PUT",
        url,
        username,
        password,
        data,
        timeout=timeout,
        ssl_context=ssl_context,
        allow_remote=allow_remote,
        content_type="application/octet-stream",
    )


async def run(
    t: Transfer,
    tree: DeviceTree,
    *,
    upload: Callable[[], bytes],
    timeout: float = 30.0,
    ssl_context: ssl.SSLContext | None = None,
    allow_remote: bool = False,
    firmware_version: str | None = None,
) -> tuple[str, bool]:
    """Carry out an accepted transfer after its delay; (TransferComplete body, new firmware runs).

    `upload` makes the file an Upload sends, when it is sent.
    """
    if t.delay:
        await asyncio.sleep(t.delay)
    t.state = 2
    t.start_time = utc_now()
    fault_code, fault_string = 0, ""
    firmware = t.is_download and t.file_type.startswith("1 ")
    try:
        if t.is_download:
            data = await fetch(
                t.url,
                t.username,
                t.password,
                timeout=timeout,
                ssl_context=ssl_context,
                allow_remote=allow_remote,
            )
            if t.file_size and len(data) != t.file_size:
                raise TransferFailed(
                    f"size mismatch: expected {t.file_size} bytes, got {len(data)}"
                )
            apply_download(tree, t, data, firmware_version)
        else:
            await put(
                t.url,
                upload(),
                t.username,
                t.password,
                timeout=timeout,
                ssl_context=ssl_context,
                allow_remote=allow_remote,
            )
    except TransferFailed as exc:
        fault_code = 9010 if t.is_download else 9011
        fault_string = str(exc)
        firmware = False
    t.state = 3
    t.complete_time = utc_now()
    body = (
        f"<cwmp:TransferComplete><CommandKey>{esc(t.command_key)}</CommandKey>"
        f"<FaultStruct><FaultCode>{fault_code}</FaultCode><FaultString>{esc(fault_string)}</FaultString></FaultStruct>"
        f"<StartTime>{t.start_time}</StartTime><CompleteTime>{t.complete_time}</CompleteTime></cwmp:TransferComplete>"
    )
    return body, firmware


def apply_download(
    tree: DeviceTree, t: Transfer, data: bytes, firmware_version: str | None = None
) -> None:
    """Install what a Download fetched: a firmware image or a configuration file."""
    if t.file_type.startswith("1 "):
        version = firmware_version or image_version(data, t.target_file or t.url)
        path = tree.root + "DeviceInfo.SoftwareVersion"
        if tree.exists(path):
            tree.set(path, version)
    elif t.file_type.startswith("3 "):
        # A configuration file in the format Upload produces: `Path=value` lines.
        for line in data.decode("utf-8", "replace").splitlines():
            name, sep, value = line.partition("=")
            node = tree.node(name.strip()) if sep and not line.startswith("#") else None
            if node is None or not node[0] or name.endswith("."):
                continue
            try:
                tree.set(name.strip(), validate_value(node[1], value))
            except ValueError:
                continue


def upload_content(t: Transfer, tree: DeviceTree, serial: str, log: Iterable[object]) -> bytes:
    """The file an Upload sends: a vendor log (`2 …`: the `log` entries) or the configuration."""
    if t.file_type.startswith("2 "):
        lines = [f"{utc_now()} cpesim {serial}: {entry}" for entry in log]
        return ("\n".join(lines) + "\n").encode()
    lines = [f"# cpesim configuration of {serial} ({tree.model.name})"]
    for path in tree.leaves(tree.root):
        node = tree.node(path)
        if node is not None and node[0]:
            lines.append(f"{path}={tree.get(path)}")
    return ("\n".join(lines) + "\n").encode()


def image_version(data: bytes, name: str) -> str:
    """A firmware image names its version on a `CPESIM-FIRMWARE version=X` first line; else the file name does."""
    first = data[:256].split(b"\n", 1)[0].decode("utf-8", "replace")
    if first.startswith("CPESIM-FIRMWARE"):
        for token in first.split():
            key, sep, value = token.partition("=")
            if sep and key.lower() == "version" and value:
                return value
    stem = PurePosixPath(name.split("?", 1)[0]).name
    for suffix in (".bin", ".img", ".fw", ".tar", ".gz"):
        stem = stem.removesuffix(suffix)
    return stem or "unknown"
