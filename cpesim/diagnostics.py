"""TR-143 diagnostics as a CPE runs them: ping, traceroute, HTTP download and upload tests.

The ACS sets the inputs and `DiagnosticsState = Requested` with
SetParameterValues; after the session the device runs the test, writes the
results into its tree and calls back with `8 DIAGNOSTICS COMPLETE`
(TR-069 3.7.1.5). Only result parameters that exist in the device's dump are
written: dumps of real devices differ.

Nothing here leaves the machine:

* ping and traceroute never send ICMP (that needs privileges). A loopback
  target gets a real UDP round trip on the loopback interface per
  repetition (so response times are real, well under a millisecond); any
  other target is reported unreachable without being contacted (every
  repetition fails, as on a CPE without a route).
* download and upload tests really transfer over HTTP(S), to loopback hosts
  only (unless `allow_remote_transfers`); anything else is
  `Error_InitConnectionFailed` without a connection attempt.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import socket
import ssl
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Protocol

from .httpclient import Url, default_ssl_context, is_loopback_host, resolve
from .options import CPEOptions
from .tree import DeviceTree

log = logging.getLogger("cpesim.diagnostics")

STATE = "DiagnosticsState"

#: The diagnostics objects the simulator runs, relative to the root, and their kind.
OBJECTS: dict[str, str] = {
    # TR-098 (InternetGatewayDevice:1)
    "IPPingDiagnostics.": "ping",
    "TraceRouteDiagnostics.": "traceroute",
    "DownloadDiagnostics.": "download",
    "UploadDiagnostics.": "upload",
    # TR-181 (Device:2)
    "IP.Diagnostics.IPPing.": "ping",
    "IP.Diagnostics.TraceRoute.": "traceroute",
    "IP.Diagnostics.DownloadDiagnostics.": "download",
    "IP.Diagnostics.UploadDiagnostics.": "upload",
}

#: Result parameters, reset to the dump's values when a new test starts.
_RESULTS = {
    "ping": (
        "SuccessCount",
        "FailureCount",
        "AverageResponseTime",
        "MinimumResponseTime",
        "MaximumResponseTime",
        "AverageResponseTimeDetailed",
        "MinimumResponseTimeDetailed",
        "MaximumResponseTimeDetailed",
        "IPAddressUsed",
    ),
    "traceroute": ("ResponseTime", "RouteHopsNumberOfEntries", "IPAddressUsed"),
    "download": (
        "ROMTime",
        "BOMTime",
        "EOMTime",
        "TCPOpenRequestTime",
        "TCPOpenResponseTime",
        "TestBytesReceived",
        "TotalBytesReceived",
        "TotalBytesSent",
        "TestBytesReceivedUnderFullLoading",
        "TotalBytesReceivedUnderFullLoading",
        "TotalBytesSentUnderFullLoading",
        "PeriodOfFullLoading",
        "IPAddressUsed",
    ),
    "upload": (
        "ROMTime",
        "BOMTime",
        "EOMTime",
        "TCPOpenRequestTime",
        "TCPOpenResponseTime",
        "TestBytesSent",
        "TotalBytesSent",
        "TotalBytesReceived",
        "TestBytesSentUnderFullLoading",
        "TotalBytesSentUnderFullLoading",
        "TotalBytesReceivedUnderFullLoading",
        "PeriodOfFullLoading",
        "IPAddressUsed",
    ),
}

#: Most repetitions / tries a test runs, whatever the ACS asks (real CPEs cap them too).
MAX_REPETITIONS = 100
#: Bytes of IP + TCP header per segment, and payload per segment, for the
#: interface byte counters (TotalBytes*), which count at the IP layer.
_SEGMENT_OVERHEAD = 52
_MSS = 1448
_CHUNK = 64 * 1024


class DiagnosticsDevice(Protocol):
    """What a test needs from its device (a `SimulatedCPE` has it): tree, settings, cancelling."""

    serial: str
    tree: DeviceTree
    options: CPEOptions

    def cancel_diagnostic(self, obj: str) -> None: ...


def kind_of(tree: DeviceTree, obj: str) -> str | None:
    """'ping', 'traceroute', 'download', 'upload' for a diagnostics object path, else None."""
    root = tree.root
    return OBJECTS.get(obj[len(root) :]) if obj.startswith(root) else None


def is_state(path: str) -> bool:
    return path.endswith("." + STATE)


def after_set(cpe: DiagnosticsDevice, updates: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """Apply the DiagnosticsState rules to values just written by SetParameterValues.

    Returns the objects whose test was requested. Writing any other input of
    a diagnostics object (without requesting it in the same call) cancels a
    pending test and sets its DiagnosticsState to None (TR-098 / TR-181).
    """
    tree = cpe.tree
    requested: list[str] = []
    touched: list[str] = []
    for name, value in updates:
        obj = name.rpartition(".")[0] + "."
        if is_state(name):
            if value.strip() == "Requested" and obj not in requested:
                requested.append(obj)
        elif obj not in touched and tree.exists(obj + STATE):
            touched.append(obj)
    for obj in touched:
        if obj not in requested:
            cpe.cancel_diagnostic(obj)
            tree.set(obj + STATE, "None")
    return tuple(requested)


# -- helpers ---------------------------------------------------------------------


def iso(t: float) -> str:
    """ISO 8601 UTC with microseconds, as TR-143 result times are written."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _int(tree: DeviceTree, path: str, default: int, low: int = 0, high: int = 2**31) -> int:
    try:
        value = int(tree.get_or(path, str(default)).strip() or default)
    except ValueError:
        value = default
    return min(max(value, low), high)


class _Results:
    """Writes result parameters that exist in this device's tree; others are skipped."""

    __slots__ = ("obj", "tree")

    def __init__(self, tree: DeviceTree, obj: str) -> None:
        self.tree = tree
        self.obj = obj

    def put(self, name: str, value: object) -> None:
        path = self.obj + name
        if self.tree.exists(path):
            self.tree.set(path, str(value))

    def reset(self, names: Iterable[str]) -> None:
        values = self.tree.values
        if values:
            for name in names:
                values.pop(self.obj + name, None)


def _family(tree: DeviceTree, obj: str) -> int:
    """Address family asked for: TR-181 ProtocolVersion, or the vendor IPVer of TR-098 dumps."""
    version = tree.get_or(obj + "ProtocolVersion", "Any").strip()
    ipver = tree.get_or(obj + "IPVer", "").strip()
    if version == "IPv6" or ipver == "6":
        return socket.AF_INET6
    if version == "IPv4" or ipver == "4":
        return socket.AF_INET
    return socket.AF_UNSPEC


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


async def udp_round_trips(address: str, count: int, size: int, timeout: float) -> list[float]:
    """Round-trip times (seconds) of `count` UDP datagrams of `size` bytes over loopback.

    A socket bound to the loopback address sends each datagram to itself:
    a real trip through the host's IP stack, without ICMP privileges.
    Lost or late answers are left out.
    """
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    payload = b"\x00" * min(max(size, 1), 1400)
    rtts: list[float] = []
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        try:
            sock.bind((address, 0))
        except OSError:
            sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        destination = sock.getsockname()
        for _ in range(count):
            start = time.perf_counter()
            try:
                await loop.sock_sendto(sock, payload, destination)
                async with asyncio.timeout(timeout):
                    await loop.sock_recvfrom(sock, 2048)
            except (OSError, TimeoutError):
                continue
            rtts.append(time.perf_counter() - start)
    return rtts


def _ms(seconds: float) -> int:
    return int(seconds * 1000 + 0.5)


def _us(seconds: float) -> int:
    return int(seconds * 1_000_000 + 0.5)


def _ip_bytes(payload: int) -> int:
    """Bytes at the IP layer for a TCP payload (headers of every segment included)."""
    return payload + _SEGMENT_OVERHEAD * max(math.ceil(payload / _MSS), 1)


# -- the tests ---------------------------------------------------------------------


async def run(cpe: DiagnosticsDevice, obj: str) -> str:
    """Run the test of one diagnostics object and write its results; returns the final state."""
    tree = cpe.tree
    kind = kind_of(tree, obj)
    out = _Results(tree, obj)
    internal_error = "Error_Internal" if tree.root == "Device." else "Error_Other"
    if kind is None:
        # A diagnostics object the simulator does not implement (NSLookup, UDPEcho, vendor ones).
        state = internal_error
    else:
        out.reset(_RESULTS[kind])
        try:
            if kind == "ping":
                state = await _ping(cpe, obj, out)
            elif kind == "traceroute":
                state = await _traceroute(cpe, obj, out)
            elif kind == "download":
                state = await _download(cpe, obj, out)
            else:
                state = await _upload(cpe, obj, out)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: %s diagnostics crashed", cpe.serial, kind)
            state = internal_error
    tree.set(obj + STATE, state)
    return state


async def _ping(cpe: DiagnosticsDevice, obj: str, out: _Results) -> str:
    tree = cpe.tree
    count = _int(tree, obj + "NumberOfRepetitions", 1, 1, MAX_REPETITIONS)
    timeout = _int(tree, obj + "Timeout", 1000, 1, 60_000) / 1000
    size = _int(tree, obj + "DataBlockSize", 56, 0, 65_535)
    address = await resolve(tree.get_or(obj + "Host"), _family(tree, obj), min(timeout, 5.0))
    if address is None:
        return "Error_CannotResolveHostName"
    # Never contacted unless loopback: offline, a CPE has no route to it.
    rtts = await udp_round_trips(address, count, size, timeout) if _loopback(address) else []
    out.put("SuccessCount", len(rtts))
    out.put("FailureCount", count - len(rtts))
    if rtts:
        average = sum(rtts) / len(rtts)
        out.put("AverageResponseTime", _ms(average))
        out.put("MinimumResponseTime", _ms(min(rtts)))
        out.put("MaximumResponseTime", _ms(max(rtts)))
        out.put("AverageResponseTimeDetailed", _us(average))
        out.put("MinimumResponseTimeDetailed", _us(min(rtts)))
        out.put("MaximumResponseTimeDetailed", _us(max(rtts)))
        out.put("IPAddressUsed", address)
    return "Complete"


#: Names of a RouteHops entry: TR-098 prefixes them with "Hop", TR-181 does not.
_HOP_FIELDS = {
    "InternetGatewayDevice.": ("HopHost", "HopHostAddress", "HopErrorCode", "HopRTTimes"),
    "Device.": ("Host", "HostAddress", "ErrorCode", "RTTimes"),
}


async def _traceroute(cpe: DiagnosticsDevice, obj: str, out: _Results) -> str:
    tree = cpe.tree
    table = obj + "RouteHops."
    if tree.exists(table):
        tree.clear_table(table)
    tries = _int(tree, obj + "NumberOfTries", 3, 1, 10)
    timeout = _int(tree, obj + "Timeout", 5000, 1, 60_000) / 1000
    size = _int(tree, obj + "DataBlockSize", 38, 0, 65_535)
    host = tree.get_or(obj + "Host").strip()
    address = await resolve(host, _family(tree, obj), min(timeout, 5.0))
    if address is None:
        return "Error_CannotResolveHostName"
    if not _loopback(address):
        # Offline there is no first hop to answer: the trace never reaches the host.
        out.put("RouteHopsNumberOfEntries", 0)
        return "Error_MaxHopCountExceeded"
    rtts = await udp_round_trips(address, tries, size, timeout)
    if tree.exists(table):
        name, addr, error, times = _HOP_FIELDS[tree.root]
        tree.create_instance(
            table,
            (
                (name, "xsd:string", host if host != address else address),
                (addr, "xsd:string", address),
                (error, "xsd:unsignedInt", "0"),
                (times, "xsd:string", ",".join(str(_ms(r)) for r in rtts)),
            ),
        )
    out.put("RouteHopsNumberOfEntries", 1)
    out.put("ResponseTime", _ms(sum(rtts) / len(rtts)) if rtts else 0)
    out.put("IPAddressUsed", address)
    return "Complete"


class _Failed(Exception):
    def __init__(self, state: str) -> None:
        super().__init__(state)
        self.state = state


async def _open(
    cpe: DiagnosticsDevice, obj: str, url_param: str, out: _Results
) -> tuple[Url, asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect for an HTTP(S) test, recording TCPOpenRequestTime/ResponseTime."""
    tree = cpe.tree
    opts = cpe.options
    tr181 = tree.root == "Device."
    try:
        url = Url.parse(tree.get_or(obj + url_param).strip())
    except ValueError:
        raise _Failed("Error_InitConnectionFailed") from None
    if not opts.allow_remote_transfers and not is_loopback_host(url.host):
        raise _Failed("Error_InitConnectionFailed")  # never contacted
    request_time = time.time()
    try:
        async with asyncio.timeout(opts.timeout):
            reader, writer = await asyncio.open_connection(url.host, url.port)
    except socket.gaierror:
        raise _Failed(
            "Error_CannotResolveHostName" if tr181 else "Error_InitConnectionFailed"
        ) from None
    except (OSError, TimeoutError):
        raise _Failed("Error_InitConnectionFailed") from None
    out.put("TCPOpenRequestTime", iso(request_time))
    out.put("TCPOpenResponseTime", iso(time.time()))
    local = writer.get_extra_info("sockname")
    if local:
        out.put("IPAddressUsed", local[0])
    if url.scheme == "https":
        context = opts.ssl_context or default_ssl_context()
        try:
            async with asyncio.timeout(opts.timeout):
                await writer.start_tls(context, server_hostname=url.host)
        except (OSError, TimeoutError, ssl.SSLError):
            writer.transport.abort()
            raise _Failed("Error_InitConnectionFailed") from None
    return url, reader, writer


async def _read_head(reader: asyncio.StreamReader, timeout: float) -> tuple[bytes, bytes, float]:
    """(head, body bytes already read, time of the first byte); _Failed('NoResponse') if none."""
    buffer = b""
    first = 0.0
    try:
        async with asyncio.timeout(timeout):
            while b"\r\n\r\n" not in buffer:
                chunk = await reader.read(_CHUNK)
                if not chunk:
                    break
                if not first:
                    first = time.time()
                buffer += chunk
                if len(buffer) > 65536:
                    break
    except (OSError, TimeoutError):
        pass
    head, sep, rest = buffer.partition(b"\r\n\r\n")
    if not sep:
        raise _Failed("Error_NoResponse")
    return head + sep, rest, first


def _status(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return 0, {}
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def _drain_body(
    reader: asyncio.StreamReader, headers: dict[str, str], already: bytes, timeout: float
) -> int:
    """Read the body without keeping it; returns the bytes received on the wire."""
    total = len(already)
    length = headers.get("content-length")
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    async with asyncio.timeout(timeout) as cm:
        if length is not None and not chunked:
            wanted = int(length)
            while total < wanted:
                chunk = await reader.read(min(_CHUNK, wanted - total))
                if not chunk:
                    raise _Failed("Error_TransferFailed")
                total += len(chunk)
                cm.reschedule(asyncio.get_running_loop().time() + timeout)
            return total
        # Chunked or until the server closes: count everything (chunk framing included).
        tail = already[-5:]
        ended = chunked and tail == b"0\r\n\r\n"
        while not ended:
            chunk = await reader.read(_CHUNK)
            if not chunk:
                break
            total += len(chunk)
            tail = (tail + chunk)[-5:]
            ended = chunked and tail == b"0\r\n\r\n"
            cm.reschedule(asyncio.get_running_loop().time() + timeout)
        if chunked and not ended:
            raise _Failed("Error_TransferFailed")
    return total


async def _download(cpe: DiagnosticsDevice, obj: str, out: _Results) -> str:
    timeout = cpe.options.timeout
    try:
        url, reader, writer = await _open(cpe, obj, "DownloadURL", out)
    except _Failed as failed:
        return failed.state
    try:
        request = (
            f"GET {url.target} HTTP/1.1\r\nHost: {url.host_header}\r\n"
            f"User-Agent: cpesim ({cpe.tree.model.name})\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        ).encode("latin-1")
        rom = time.time()
        writer.write(request)
        await writer.drain()
        head, rest, bom = await _read_head(reader, timeout)
        status, headers = _status(head)
        if not 200 <= status < 300:
            return "Error_TransferFailed" if status else "Error_NoResponse"
        received = len(head) + await _drain_body(reader, headers, rest, timeout)
        eom = time.time()
    except _Failed as failed:
        return failed.state
    except (OSError, TimeoutError, ValueError):
        return "Error_TransferFailed"
    finally:
        writer.transport.abort()
    total_received = _ip_bytes(received)
    # What the CPE sent meanwhile: the request, then about one ACK per two segments.
    total_sent = _ip_bytes(len(request)) + _SEGMENT_OVERHEAD * math.ceil(received / _MSS / 2)
    out.put("ROMTime", iso(rom))
    out.put("BOMTime", iso(bom))
    out.put("EOMTime", iso(eom))
    out.put("TestBytesReceived", received)
    out.put("TotalBytesReceived", total_received)
    out.put("TotalBytesSent", total_sent)
    out.put("PeriodOfFullLoading", _us(eom - bom))
    out.put("TestBytesReceivedUnderFullLoading", received)
    out.put("TotalBytesReceivedUnderFullLoading", total_received)
    out.put("TotalBytesSentUnderFullLoading", total_sent)
    return "Completed"  # TR-143 objects say "Completed", ping and traceroute "Complete"


async def _upload(cpe: DiagnosticsDevice, obj: str, out: _Results) -> str:
    tree = cpe.tree
    timeout = cpe.options.timeout
    length = _int(tree, obj + "TestFileLength", 0, 0, 2**32 - 1)
    try:
        url, reader, writer = await _open(cpe, obj, "UploadURL", out)
    except _Failed as failed:
        return failed.state
    try:
        head = (
            f"PUT {url.target} HTTP/1.1\r\nHost: {url.host_header}\r\n"
            f"User-Agent: cpesim ({cpe.tree.model.name})\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
        ).encode("latin-1")
        rom = time.time()
        writer.write(head)
        bom = time.time()
        block = b"\x00" * _CHUNK
        left = length
        async with asyncio.timeout(timeout) as cm:
            while left:
                piece = block if left >= _CHUNK else block[:left]
                writer.write(piece)
                left -= len(piece)
                await writer.drain()
                cm.reschedule(asyncio.get_running_loop().time() + timeout)
            await writer.drain()
        answer, rest, _first = await _read_head(reader, timeout)
        eom = time.time()
        status, headers = _status(answer)
        if not 200 <= status < 300:
            return "Error_NoTransferComplete" if status else "Error_NoResponse"
    except _Failed as failed:
        return failed.state
    except (OSError, TimeoutError, ValueError):
        return "Error_NoTransferComplete"
    finally:
        writer.transport.abort()
    sent = len(head) + length
    total_sent = _ip_bytes(sent)
    total_received = _ip_bytes(len(answer) + len(rest)) + _SEGMENT_OVERHEAD * math.ceil(
        sent / _MSS / 2
    )
    out.put("ROMTime", iso(rom))
    out.put("BOMTime", iso(bom))
    out.put("EOMTime", iso(eom))
    out.put("TestBytesSent", sent)
    out.put("TotalBytesSent", total_sent)
    out.put("TotalBytesReceived", total_received)
    out.put("PeriodOfFullLoading", _us(eom - bom))
    out.put("TestBytesSentUnderFullLoading", sent)
    out.put("TotalBytesSentUnderFullLoading", total_sent)
    out.put("TotalBytesReceivedUnderFullLoading", total_received)
    return "Completed"
