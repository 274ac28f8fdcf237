"""TR-143 diagnostics: requested with SetParameterValues, run after the session, reported with 8 DIAGNOSTICS COMPLETE."""

from __future__ import annotations

import asyncio
import re

import pytest

from cpesim import SimulatedCPE
from cpesim.diagnostics import resolve

from .fakeacs import FakeACS
from .helpers import async_test
from .test_rpc import fault, gpn, gpv, names_of, spv, values_of

ISO_MICRO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
UINT = "xsd:unsignedInt"
STR = "xsd:string"

PING = {
    "huawei-eg8145v5": "InternetGatewayDevice.IPPingDiagnostics.",
    "tplink-ex220": "Device.IP.Diagnostics.IPPing.",
}
TRACE = {
    "zte-h199a": "InternetGatewayDevice.TraceRouteDiagnostics.",
    "tplink-ex220": "Device.IP.Diagnostics.TraceRoute.",
}
DOWNLOAD = {
    "huawei-eg8145v5": "InternetGatewayDevice.DownloadDiagnostics.",
    "tplink-ex220": "Device.IP.Diagnostics.DownloadDiagnostics.",
}
UPLOAD = {
    "nokia-g1425ga": "InternetGatewayDevice.UploadDiagnostics.",
    "tplink-ec220-v3": "Device.IP.Diagnostics.UploadDiagnostics.",
}


async def diagnose(acs: FakeACS, dump: str, obj: str, *inputs: tuple[str, str, str]):
    """Request a diagnostic, wait for its 8 DIAGNOSTICS COMPLETE session; returns (cpe, results)."""
    acs.queue(
        spv(*((obj + n, v, t) for n, v, t in inputs), (obj + "DiagnosticsState", "Requested", STR))
    )
    cpe = SimulatedCPE(dump, acs_url=acs.url, history=5)
    first = await cpe.run_session(["1 BOOT"])
    assert first.ok and first.rpcs == ["SetParameterValues"], first
    assert cpe.get(obj + "DiagnosticsState") == "Requested"  # until the test ran
    acs.queue(gpv(obj))
    done = await cpe.wait_session(10, after=1)
    assert done.ok and done.events == ["8 DIAGNOSTICS COMPLETE"], done
    assert acs.sessions[-1].events == ["8 DIAGNOSTICS COMPLETE"]
    results = {k[len(obj) :]: v for k, v in values_of(acs.sessions[-1].response()).items()}
    await cpe.stop()
    return cpe, results


@pytest.mark.parametrize(
    ("dump", "host"), [("huawei-eg8145v5", "127.0.0.1"), ("tplink-ex220", "localhost")]
)
@async_test
async def test_ping_to_loopback_succeeds_with_real_round_trips(dump, host):
    obj = PING[dump]
    async with FakeACS() as acs:
        cpe, r = await diagnose(
            acs,
            dump,
            obj,
            ("Host", host, STR),
            ("NumberOfRepetitions", "5", UINT),
            ("Timeout", "1000", UINT),
        )
    assert r["DiagnosticsState"] == "Complete"
    assert (r["SuccessCount"], r["FailureCount"]) == ("5", "0")
    low, avg, high = (
        int(r[k]) for k in ("MinimumResponseTime", "AverageResponseTime", "MaximumResponseTime")
    )
    assert 0 <= low <= avg <= high < 1000
    if dump == "tplink-ex220":  # TR-181 2.7+ has microsecond results; this dump does
        detailed = [int(r[k + "ResponseTimeDetailed"]) for k in ("Minimum", "Average", "Maximum")]
        assert 0 < detailed[0] <= detailed[1] <= detailed[2] < 1_000_000
    else:
        assert "MinimumResponseTimeDetailed" not in r  # only parameters the dump has


@async_test
async def test_ping_to_a_remote_host_fails_every_repetition_without_contacting_it():
    obj = PING["huawei-eg8145v5"]
    async with FakeACS() as acs:
        _, r = await diagnose(
            acs,
            "huawei-eg8145v5",
            obj,
            ("Host", "192.0.2.1", STR),
            ("NumberOfRepetitions", "3", UINT),
        )
    assert (r["DiagnosticsState"], r["SuccessCount"], r["FailureCount"]) == ("Complete", "0", "3")
    assert r["AverageResponseTime"] == "0"


@async_test
async def test_ping_to_an_unresolvable_name():
    obj = PING["tplink-ex220"]
    async with FakeACS() as acs:
        _, r = await diagnose(acs, "tplink-ex220", obj, ("Host", "no-such-host.invalid", STR))
    assert r["DiagnosticsState"] == "Error_CannotResolveHostName"
    assert r["SuccessCount"] == "0"


@async_test
async def test_resolution_is_local():
    assert await resolve("127.0.0.5") == "127.0.0.5"
    assert await resolve("[::1]") == "::1"
    assert await resolve("localhost") in ("127.0.0.1", "::1")
    assert await resolve("") is None
    assert await resolve("no-such-host.invalid") is None


@pytest.mark.parametrize("dump", ["zte-h199a", "tplink-ex220"])
@async_test
async def test_traceroute_to_loopback_creates_one_route_hop(dump):
    obj = TRACE[dump]
    async with FakeACS() as acs:
        cpe, r = await diagnose(
            acs, dump, obj, ("Host", "127.0.0.1", STR), ("NumberOfTries", "3", UINT)
        )
        hop = obj + "RouteHops.1."
        assert r["DiagnosticsState"] == "Complete" and r["RouteHopsNumberOfEntries"] == "1"
        if dump == "zte-h199a":
            names = ("HopHost", "HopHostAddress", "HopErrorCode", "HopRTTimes")
        else:
            names = ("Host", "HostAddress", "ErrorCode", "RTTimes")
        assert r[f"RouteHops.1.{names[0]}"] == "127.0.0.1"
        assert r[f"RouteHops.1.{names[1]}"] == "127.0.0.1"
        assert r[f"RouteHops.1.{names[2]}"] == "0"
        assert re.fullmatch(r"\d+,\d+,\d+", r[f"RouteHops.1.{names[3]}"])
        assert cpe.tree.children(obj + "RouteHops.") == [hop]

        # A second run replaces the hops (numbered from 1 again); GetParameterNames sees them.
        acs.queue(
            spv((obj + "Host", "192.0.2.7", STR), (obj + "DiagnosticsState", "Requested", STR))
        )
        mark = cpe.sessions_completed
        await cpe.run_session(["2 PERIODIC"])
        acs.queue(gpn(obj + "RouteHops.", False), gpv(obj))
        await cpe.wait_session(10, after=mark + 1)
        assert names_of(acs.sessions[-1].response(0)) == [obj + "RouteHops."]
        again = values_of(acs.sessions[-1].response(1))
        assert again[obj + "DiagnosticsState"] == "Error_MaxHopCountExceeded"
        assert again[obj + "RouteHopsNumberOfEntries"] == "0"
        await cpe.stop()


@pytest.mark.parametrize("dump", sorted(DOWNLOAD))
@async_test
async def test_download_diagnostics_fetch_the_file_and_time_it(dump):
    obj = DOWNLOAD[dump]
    async with FakeACS() as acs:
        acs.files["speed.bin"] = b"x" * 300_000
        _, r = await diagnose(acs, dump, obj, ("DownloadURL", acs.file_url("speed.bin"), STR))
        fetched = [q for q in acs.requests if q.target == "/files/speed.bin"]
    assert len(fetched) == 1 and fetched[0].method == "GET"
    assert r["DiagnosticsState"] == "Completed"
    times = [
        r[k] for k in ("TCPOpenRequestTime", "TCPOpenResponseTime", "ROMTime", "BOMTime", "EOMTime")
    ]
    assert all(ISO_MICRO.match(t) for t in times), times
    assert times == sorted(times)
    received = int(r["TestBytesReceived"])
    assert 300_000 < received < 300_400  # the file plus the response head
    assert int(r["TotalBytesReceived"]) > received  # counted at the IP layer
    assert int(r["TotalBytesSent"]) > 0


@pytest.mark.parametrize(
    ("url", "state"),
    [
        (
            "http://192.0.2.10/file.bin",
            "Error_InitConnectionFailed",
        ),  # not loopback: never contacted
        ("http://127.0.0.1:9/file.bin", "Error_InitConnectionFailed"),  # nothing listens there
        ("ftp://127.0.0.1/file.bin", "Error_InitConnectionFailed"),
        ("FILE", "Error_TransferFailed"),  # 404
    ],
)
@async_test
async def test_download_diagnostics_errors(url, state):
    obj = DOWNLOAD["huawei-eg8145v5"]
    async with FakeACS() as acs:
        if url == "FILE":
            url = acs.file_url("missing.bin")
        _, r = await diagnose(acs, "huawei-eg8145v5", obj, ("DownloadURL", url, STR))
    assert r["DiagnosticsState"] == state
    assert r["TestBytesReceived"] == "0" and r["EOMTime"] == ""  # the dump's values, untouched


@async_test
async def test_download_diagnostics_with_no_response():
    async def silent(reader, writer):
        await reader.read(1000)
        writer.close()  # closes without answering

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    obj = DOWNLOAD["tplink-ex220"]
    try:
        async with FakeACS() as acs:
            _, r = await diagnose(
                acs, "tplink-ex220", obj, ("DownloadURL", f"http://127.0.0.1:{port}/f", STR)
            )
    finally:
        server.close()
    assert r["DiagnosticsState"] == "Error_NoResponse"
    assert ISO_MICRO.match(r["TCPOpenResponseTime"])  # the connection itself worked


@pytest.mark.parametrize("dump", sorted(UPLOAD))
@async_test
async def test_upload_diagnostics_put_test_file_length_bytes(dump):
    obj = UPLOAD[dump]
    async with FakeACS() as acs:
        _, r = await diagnose(
            acs,
            dump,
            obj,
            ("UploadURL", acs.upload_url("up.bin"), STR),
            ("TestFileLength", "200000", UINT),
        )
        assert acs.uploads["up.bin"] == b"\x00" * 200_000
        put = next(q for q in acs.requests if q.target == "/upload/up.bin")
        assert put.method == "PUT" and put.header("Content-Length") == "200000"
    assert r["DiagnosticsState"] == "Completed"
    times = [r[k] for k in ("ROMTime", "BOMTime", "EOMTime")]
    assert all(ISO_MICRO.match(t) for t in times) and times == sorted(times)
    assert int(r["TotalBytesSent"]) > 200_000
    if dump == "nokia-g1425ga":
        assert 200_000 < int(r["TestBytesSent"]) < 200_400


@async_test
async def test_upload_diagnostics_to_a_remote_host_is_refused():
    obj = UPLOAD["tplink-ec220-v3"]
    async with FakeACS() as acs:
        _, r = await diagnose(
            acs,
            "tplink-ec220-v3",
            obj,
            ("UploadURL", "http://198.51.100.3/up", STR),
            ("TestFileLength", "10", UINT),
        )
    assert r["DiagnosticsState"] == "Error_InitConnectionFailed"


@async_test
async def test_diagnostics_state_accepts_only_requested():
    obj = PING["huawei-eg8145v5"]
    async with FakeACS() as acs:
        acs.queue(
            spv((obj + "DiagnosticsState", "Complete", STR)),
            spv((obj + "Host", "127.0.0.1", STR), (obj + "DiagnosticsState", "None", STR)),
            gpv(obj + "DiagnosticsState", obj + "Host"),
        )
        cpe = SimulatedCPE("huawei-eg8145v5", acs_url=acs.url, history=3)
        result = await cpe.run_session(["1 BOOT"])
        assert result.faults_sent == [("SetParameterValues", 9003), ("SetParameterValues", 9003)]
        session = acs.sessions[0]
        assert fault(session.response(0)) == (9003, [(obj + "DiagnosticsState", 9007)])
        assert fault(session.response(1)) == (9003, [(obj + "DiagnosticsState", 9007)])
        assert values_of(session.response(2)) == {
            obj + "DiagnosticsState": "None",
            obj + "Host": "",
        }
        await asyncio.sleep(0.2)
        assert cpe.sessions_completed == 1  # nothing requested, nothing reported
        await cpe.stop()


@async_test
async def test_changing_an_input_cancels_a_requested_test():
    obj = PING["huawei-eg8145v5"]
    async with FakeACS() as acs:
        # Requested in one call, then an input changes in the next call of the same session.
        acs.queue(
            spv((obj + "Host", "127.0.0.1", STR), (obj + "DiagnosticsState", "Requested", STR)),
            spv((obj + "NumberOfRepetitions", "2", UINT)),
        )
        cpe = SimulatedCPE("huawei-eg8145v5", acs_url=acs.url)
        assert (await cpe.run_session(["1 BOOT"])).ok
        assert cpe.get(obj + "DiagnosticsState") == "None"
        await asyncio.sleep(0.3)
        assert cpe.sessions_completed == 1 and cpe.pending_events == []
        await cpe.stop()


@async_test
async def test_diagnostics_without_automatic_sessions_wait_for_the_next_one():
    obj = TRACE["tplink-ex220"]
    async with FakeACS() as acs:
        acs.queue(
            spv((obj + "Host", "127.0.0.1", STR), (obj + "DiagnosticsState", "Requested", STR))
        )
        cpe = SimulatedCPE("tplink-ex220", acs_url=acs.url, auto_sessions=False)
        assert (await cpe.run_session(["1 BOOT"])).ok
        for _ in range(100):
            if cpe.pending_events:
                break
            await asyncio.sleep(0.02)
        assert cpe.pending_events == [("8 DIAGNOSTICS COMPLETE", "")]
        assert (await cpe.run_session()).events == ["8 DIAGNOSTICS COMPLETE"]
        await cpe.stop()
