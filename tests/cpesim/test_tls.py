"""HTTPS towards the ACS and for transfers: CA verification, mutual TLS, --insecure."""

from __future__ import annotations

import ssl

import pytest

from cpesim import BackgroundLoop, SimulatedCPE, make_ssl_context
from cpesim.cli import main

from .fakeacs import FakeACS, text_of
from .helpers import async_test
from .pki import Pki, make_pki
from .test_rpc import _download, spv

IGD = "InternetGatewayDevice."


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def server_context(pki: Pki, *, client_certs: bool = True) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    if client_certs:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki.ca)
    return context


@async_test
async def test_mutual_tls_session_with_the_right_client_certificate(pki):
    client = make_ssl_context(ca=str(pki.ca), cert=str(pki.client_cert), key=str(pki.client_key))
    async with FakeACS(ssl_context=server_context(pki)) as acs:
        devices = [
            SimulatedCPE("tplink-ex220", serial=f"TLS{i}", acs_url=acs.url, ssl_context=client)
            for i in range(2)
        ]
        for cpe in devices:
            result = await cpe.run_session()
            assert result.ok, result
        assert acs.url.startswith("https://")
        assert [s.serial for s in acs.sessions] == ["TLS0", "TLS1"]
        assert acs.client_cns == ["SIM-CPE-1", "SIM-CPE-1"]
        assert all(d.options.ssl_context is client for d in devices)  # one context, shared


@pytest.mark.parametrize("who", ["no-certificate", "rogue-certificate", "untrusted-server"])
@async_test
async def test_tls_failures_are_clean_session_errors(pki, who):
    if who == "no-certificate":
        client = make_ssl_context(ca=str(pki.ca))
    elif who == "rogue-certificate":
        client = make_ssl_context(ca=str(pki.ca), cert=str(pki.rogue_cert), key=str(pki.rogue_key))
    else:  # the system's CAs do not know our test CA
        client = make_ssl_context(cert=str(pki.client_cert), key=str(pki.client_key))
    async with FakeACS(ssl_context=server_context(pki)) as acs:
        cpe = SimulatedCPE("huawei-eg8145v5", acs_url=acs.url, ssl_context=client, timeout=5)
        for _ in range(2):  # the device survives and can try again
            result = await cpe.run_session()
            assert not result.ok and result.error
            assert "internal error" not in result.error
        if who == "untrusted-server":
            assert "CERTIFICATE_VERIFY_FAILED" in result.error
        else:  # TLS 1.3: the server's refusal only shows as the connection closing
            assert "client certificate missing or refused" in result.error
        assert acs.sessions == []  # no Inform got through
        assert cpe.sessions_failed == 2 and cpe.retry_count == 2
        await cpe.stop()


@async_test
async def test_insecure_accepts_a_self_signed_acs(pki):
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(pki.rogue_cert, pki.rogue_key)
    async with FakeACS(ssl_context=server) as acs:
        strict = SimulatedCPE("zte-h199a", acs_url=acs.url, ssl_context=make_ssl_context())
        assert not (await strict.run_session()).ok
        lab = SimulatedCPE(
            "zte-h199a", acs_url=acs.url, ssl_context=make_ssl_context(insecure=True)
        )
        assert (await lab.run_session()).ok


@async_test
async def test_https_transfers_and_diagnostics_use_the_same_context(pki):
    client = make_ssl_context(ca=str(pki.ca), cert=str(pki.client_cert), key=str(pki.client_key))
    obj = IGD + "DownloadDiagnostics."
    async with FakeACS(ssl_context=server_context(pki)) as acs:
        image = b"CPESIM-FIRMWARE version=TLS-1.0\n" + b"\0" * 5000
        acs.files["fw.bin"] = image
        acs.files["speed.bin"] = b"s" * 50_000
        acs.queue(
            _download(acs.file_url("fw.bin"), size=len(image)),
            spv(
                (obj + "DownloadURL", acs.file_url("speed.bin"), "xsd:string"),
                (obj + "DiagnosticsState", "Requested", "xsd:string"),
            ),
        )
        cpe = SimulatedCPE("huawei-eg8145v5", acs_url=acs.url, ssl_context=client, history=5)
        assert (await cpe.run_session(["1 BOOT"])).ok
        # Two follow-up sessions (order depends on which finishes first), or one with both events.
        for _ in range(2):
            await cpe.wait_session(10)
            events = {c for s in acs.sessions[1:] for c in s.events}
            if {"7 TRANSFER COMPLETE", "8 DIAGNOSTICS COMPLETE"} <= events:
                break
        assert {"7 TRANSFER COMPLETE", "8 DIAGNOSTICS COMPLETE"} <= events
        tc = next(el for s in acs.sessions for n, el in s.cpe_requests if n == "TransferComplete")
        assert text_of(tc, "FaultStruct", "FaultCode") == "0"
        assert cpe.get(IGD + "DeviceInfo.SoftwareVersion") == "TLS-1.0"
        assert cpe.get(obj + "DiagnosticsState") == "Completed"
        assert int(cpe.get(obj + "TestBytesReceived")) > 50_000
        await cpe.stop()


def test_cli_tls_options(pki, capsys):
    with BackgroundLoop() as bg:
        acs = FakeACS(ssl_context=server_context(pki))
        bg.run(acs.__aenter__())
        base = ["--acs-url", acs.url, "--once", "--quiet", "--retries", "0"]
        tls = ["--ca", str(pki.ca), "--cert", str(pki.client_cert), "--key", str(pki.client_key)]
        assert main([*base, *tls]) == 0
        assert main([*base, "--ca", str(pki.ca)]) == 1  # no client certificate: refused
        assert main([*base, "--cert", str(pki.dir / "missing.crt")]) == 2
        assert "cpesim:" in capsys.readouterr().err
        assert len(acs.sessions) == 1
        bg.run(acs.__aexit__(None, None, None))
