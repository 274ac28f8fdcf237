"""The CWMP endpoint through Django's test client: sessions, auth, refusals."""

from __future__ import annotations

import gzip
import io

import pytest
from django.test import Client

from cwmp.protocol import codec
from cwmp.protocol import messages as m
from devices.models import CpeRequest, Device, Parameter, SessionLog
from tests.cwmp.cpe import IGD, ScriptedCPE, basic, digest_answer, inform_body
from tests.factories import DeviceFactory, TenantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant():
    return TenantFactory(slug="isp")


@pytest.fixture
def cpe(tenant):
    return ScriptedCPE(Client(), "/cwmp/isp/")


def test_periodic_session_registers_device_and_logs_it(cpe):
    first, last = cpe.session(inform_body("SN1", ("1 BOOT",)))
    assert first["Content-Type"].startswith("text/xml")
    envelope = codec.parse(first.content)
    assert isinstance(envelope.body, m.InformResponse)
    assert envelope.id == "1"
    assert last.status_code == 204 and last.content == b""
    device = Device.objects.get()
    assert device.device_id == "00259E-EG8145V5-SN1"
    assert device.software_version == "V5R019"
    assert device.ip_address == "192.0.2.10"
    assert device.connection_request_url == "http://127.0.0.1:7547/cr"
    assert device.last_boot is not None
    log = SessionLog.objects.get()
    assert log.events == ["1 BOOT"]
    assert log.outcome == "ok"
    assert log.rpcs == ["Inform", "InformResponse"]
    assert log.remote_address == "198.51.100.7"
    assert Parameter.objects.filter(device=device).count() == 7


def test_rpc_elements_use_the_literal_cwmp_prefix(cpe):
    first = cpe.inform(inform_body("SN1"))
    assert b"<cwmp:InformResponse>" in first.content
    assert b"<MaxEnvelopes>1</MaxEnvelopes>" in first.content


def test_inform_response_is_never_empty_and_sets_a_cookie(cpe):
    first = cpe.inform(inform_body("SN1"))
    assert first.content.strip()
    assert "cwmpsid" in first.cookies


def test_first_contact_without_bootstrap_registers(cpe):
    cpe.session(inform_body("SN1", ("2 PERIODIC",)))
    assert Device.objects.filter(serial_number="SN1").exists()


def test_identity_with_unsafe_characters(cpe):
    cpe.session(inform_body("A B/C!", product_class="G-1425G-A"))
    device = Device.objects.get()
    assert device.device_id == "00259E-G%2D1425G%2DA-A%20B%2FC%21"
    assert device.product_class == "G-1425G-A" and device.serial_number == "A B/C!"


def test_digest_challenge_then_success(cpe):
    cpe.auth = "digest"
    first, last = cpe.session(inform_body("SN1"))
    assert cpe.log == [401, 200, 204]
    assert Device.objects.count() == 1


def test_challenge_is_digest_even_after_preemptive_basic_when_basic_is_off(tenant, cpe):
    tenant.cpe_auth_methods = "digest"
    tenant.save()
    response = cpe.inform(inform_body("SN1"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Digest ")
    assert Device.objects.count() == 0
    # The CPE that can only answer Digest answers it:
    cpe.authorization = digest_answer(
        response["WWW-Authenticate"], "cpe", "cpe-secret", uri=cpe.url
    )
    assert cpe.post(inform_body("SN1")).status_code == 200


def test_basic_only_tenant_challenges_with_basic(tenant, cpe):
    tenant.cpe_auth_methods = "basic"
    tenant.save()
    cpe.auth = "digest"
    response = cpe.post(inform_body("SN1"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic ")


def test_preemptive_basic_is_accepted_without_challenge(cpe):
    response = cpe.inform(inform_body("SN1"))
    assert cpe.log == [200]
    assert response.status_code == 200


@pytest.mark.parametrize("auth", ["basic", "digest"])
def test_wrong_password_is_refused_and_nothing_stored(cpe, auth):
    cpe.auth, cpe.password = auth, "wrong"
    response = cpe.inform(inform_body("SN1"))
    assert response.status_code == 401
    assert "WWW-Authenticate" in response
    assert Device.objects.count() == 0 and SessionLog.objects.count() == 0


def test_per_device_credentials_are_bound_to_the_device(tenant, cpe):
    device = DeviceFactory(tenant=tenant, serial_number="SN-A")
    device.set_cwmp_credentials("dev-a", "pw-a")
    device.save()
    cpe.username, cpe.password = "dev-a", "pw-a"
    # Its own credentials, another identity: refused.
    assert cpe.inform(inform_body("SN-B")).status_code == 401
    # The tenant credentials for a device that has its own: refused.
    cpe.username, cpe.password = "cpe", "cpe-secret"
    assert cpe.inform(inform_body("SN-A")).status_code == 401
    # Its own credentials, its own identity: accepted.
    cpe.username, cpe.password = "dev-a", "pw-a"
    assert cpe.inform(inform_body("SN-A")).status_code == 200
    assert not Device.objects.filter(serial_number="SN-B").exists()


def test_device_of_another_tenant_is_refused(tenant, cpe):
    other = TenantFactory(slug="other")
    DeviceFactory(tenant=other, serial_number="SN1")
    response = cpe.inform(inform_body("SN1"))
    assert response.status_code == 403
    assert Device.objects.filter(tenant=tenant).count() == 0
    assert SessionLog.objects.count() == 0


def test_unknown_tenant_is_404(client):
    response = client.post("/cwmp/nope/", data=inform_body(), content_type="text/xml")
    assert response.status_code == 404


def test_get_is_405(client, tenant):
    assert client.get("/cwmp/isp/").status_code == 405


def test_url_without_trailing_slash(tenant):
    cpe = ScriptedCPE(Client(), "/cwmp/isp")
    cpe.session(inform_body("SN1"))
    assert cpe.log == [200, 204]


def test_session_follows_connection_without_cookies(cpe):
    cpe.use_cookies = False
    cpe.session(inform_body("SN1"))
    assert cpe.log == [200, 204]
    assert SessionLog.objects.get().outcome == "ok"


def test_no_session_on_another_connection_without_cookie(cpe):
    cpe.use_cookies = False
    cpe.inform(inform_body("SN1"))
    cpe.port += 1
    response = cpe.post(b"")
    assert response.status_code == 400
    assert b"session starts with an Inform" in response.content


@pytest.mark.parametrize(
    "cookie",
    [
        "cwmpsid={sid}; Path=/cwmp/isp/; HttpOnly",
        "other=1, cwmpsid={sid}",
        '$Version=1; cwmpsid="{sid}"; $Path=/',
        "cwmpsid={sid},other=2",
    ],
)
def test_cookie_forms_seen_in_the_field(cpe, cookie):
    first = cpe.inform(inform_body("SN1"))
    sid = first.cookies["cwmpsid"].value
    cpe.use_cookies = False
    cpe.port += 1  # a new connection: only the cookie can find the session
    response = cpe.post(b"", HTTP_COOKIE=cookie.format(sid=sid))
    assert response.status_code == 204


def test_stale_cookie_on_a_new_inform_starts_a_new_session(cpe):
    cpe.session(inform_body("SN1"))
    stale = cpe.client.cookies["cwmpsid"].value
    first = cpe.inform(inform_body("SN1"))
    assert first.status_code == 200
    assert first.cookies["cwmpsid"].value != stale
    assert cpe.post(b"").status_code == 204
    assert SessionLog.objects.filter(outcome="ok").count() == 2


def test_same_cwmp_id_on_every_inform(cpe):
    for _ in range(2):
        cpe.session(inform_body("SN1", id="1"))
    assert SessionLog.objects.filter(outcome="ok").count() == 2


def test_abandoned_session_does_not_lock_the_device(cpe):
    cpe.inform(inform_body("SN1"))
    # The CPE drops the session after the InformResponse, then comes back.
    cpe.client.cookies.clear()
    cpe.port += 1
    cpe.session(inform_body("SN1", ("2 PERIODIC",)))
    assert cpe.log[-2:] == [200, 204]
    outcomes = sorted(SessionLog.objects.values_list("outcome", flat=True))
    assert outcomes == ["abandoned", "ok"]


def test_second_session_from_elsewhere_is_refused_while_first_is_active(tenant):
    first = ScriptedCPE(Client(), "/cwmp/isp/")
    first.inform(inform_body("SN1"))
    clone = ScriptedCPE(Client(), "/cwmp/isp/", address="203.0.113.9")
    response = clone.inform(inform_body("SN1"))
    assert response.status_code == 503
    assert response["Retry-After"]
    assert first.post(b"").status_code == 204
    assert clone.session(inform_body("SN1"))[1].status_code == 204


def test_overload_gets_503_with_retry_after(tenant, settings):
    settings.CWMP_MAX_SESSIONS = 1
    a = ScriptedCPE(Client(), "/cwmp/isp/")
    a.inform(inform_body("SN1"))
    b = ScriptedCPE(Client(), "/cwmp/isp/", address="203.0.113.2")
    response = b.inform(inform_body("SN2"))
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert not Device.objects.filter(serial_number="SN2").exists()
    a.post(b"")
    assert b.inform(inform_body("SN2")).status_code == 200


def test_gzip_request_body(cpe):
    cpe.authorization = basic("cpe", "cpe-secret")
    response = cpe.post(gzip.compress(inform_body("SN1")), HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 200
    assert Device.objects.count() == 1


def test_only_changed_inform_values_are_written(cpe):
    cpe.session(inform_body("SN1"))
    before = dict(Parameter.objects.values_list("path", "updated"))
    ip = f"{IGD}.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.ExternalIPAddress"
    cpe.session(inform_body("SN1", params={ip: "192.0.2.99"}))
    after = dict(Parameter.objects.values_list("path", "updated"))
    changed = {p for p in after if after[p] != before[p]}
    assert changed == {ip}
    assert Parameter.objects.get(path=ip).value == "192.0.2.99"
    assert Device.objects.get().ip_address == "192.0.2.99"


def test_transfer_complete_is_recorded(cpe):
    cpe.inform(inform_body("SN1", ("7 TRANSFER COMPLETE", "M Download")))
    tc = m.TransferComplete(
        command_key="fw-1",
        fault_struct=m.FaultStruct(fault_code=9010, fault_string="Download failed"),
    )
    response = cpe.post(codec.serialize(m.Envelope(body=tc, cwmp_ns=m.CWMP_NS_1_0, id="5")))
    envelope = codec.parse(response.content)
    assert isinstance(envelope.body, m.TransferCompleteResponse) and envelope.id == "5"
    assert cpe.post(b"").status_code == 204
    record = CpeRequest.objects.get()
    assert (record.method, record.command_key, record.fault_code) == (
        "TransferComplete",
        "fw-1",
        9010,
    )
    assert SessionLog.objects.get().rpcs == [
        "Inform",
        "InformResponse",
        "TransferComplete",
        "TransferCompleteResponse",
    ]


def test_response_that_answers_nothing_is_refused_without_changes(cpe):
    cpe.inform(inform_body("SN1"))
    answer = m.Envelope(body=m.GetParameterValuesResponse(), cwmp_ns=m.CWMP_NS_1_0, id="x")
    response = cpe.post(codec.serialize(answer))
    assert response.status_code == 400
    assert b"answers no request" in response.content
    assert SessionLog.objects.get().outcome == "error"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"<not xml", 400),
        (
            b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><x>&e;</x>",
            400,
        ),
        (b"\xff\xfe<Envelope/>", 400),
        (b"<a>" * 5000 + b"</a>" * 5000, 400),
        (b"<html><body>hello</body></html>", 400),
    ],
    ids=["malformed", "xxe", "bad-utf8", "deep", "not-soap"],
)
def test_bad_bodies_get_a_4xx_and_change_nothing(cpe, body, status):
    cpe.authorization = basic("cpe", "cpe-secret")
    response = cpe.post(body)
    assert response.status_code == status
    assert Device.objects.count() == 0


def test_oversize_body_is_413(cpe, settings):
    settings.CWMP_MAX_BODY_BYTES = 10_000
    cpe.authorization = basic("cpe", "cpe-secret")
    assert cpe.post(b" " * 20_000).status_code == 413


def test_gzip_bomb_is_413(cpe, settings):
    settings.CWMP_MAX_BODY_BYTES = 100_000
    cpe.authorization = basic("cpe", "cpe-secret")
    bomb = gzip.compress(b"<" + b"a" * 10_000_000)
    assert cpe.post(bomb, HTTP_CONTENT_ENCODING="gzip").status_code == 413


def test_nonce_reused_within_session_accepted_but_not_elsewhere(cpe):
    cpe.auth = "digest"
    cpe.inform(inform_body("SN1"))
    reused = cpe.authorization  # the same nonce and nc=00000001 again
    assert cpe.post(b"").status_code == 204
    # Replayed on another connection as a new Inform: refused.
    replay = ScriptedCPE(Client(), "/cwmp/isp/", port=50000, auth="none", authorization=reused)
    assert replay.post(inform_body("SN1")).status_code == 401


def test_nonce_reused_in_the_same_session_on_another_connection_is_refused(cpe):
    cpe.auth = "digest"
    challenge = cpe.post(inform_body("SN1"))["WWW-Authenticate"]
    cpe.authorization = digest_answer(challenge, "cpe", "cpe-secret", uri=cpe.url)
    assert cpe.post(inform_body("SN1")).status_code == 200
    cpe.port += 1  # another TCP connection, with the session's cookie ...
    assert cpe.post(b"").status_code == 401  # ... and nc=00000001 again: a replay
    # A count that moves on is fine from anywhere in the session.
    cpe.authorization = digest_answer(challenge, "cpe", "cpe-secret", uri=cpe.url, nc=2)
    assert cpe.post(b"").status_code == 204


def test_trusted_proxy_forwarded_peer(tenant, settings):
    settings.CWMP_TRUSTED_PROXIES = ["127.0.0.1/32"]
    cpe = ScriptedCPE(Client(), "/cwmp/isp/", address="127.0.0.1", use_cookies=False)
    fwd = {"HTTP_X_FORWARDED_FOR": "198.51.100.50", "HTTP_X_CLIENT_PORT": "5555"}
    cpe.authorization = basic("cpe", "cpe-secret")
    assert cpe.post(inform_body("SN1"), **fwd).status_code == 200
    # Same proxy connection port but another forwarded client port: no session.
    assert (
        cpe.post(b"", HTTP_X_FORWARDED_FOR="198.51.100.50", HTTP_X_CLIENT_PORT="6666").status_code
        == 400
    )
    assert cpe.post(b"", **fwd).status_code == 204
    assert SessionLog.objects.get().remote_address == "198.51.100.50"


def test_forwarded_headers_ignored_from_untrusted_peers(cpe):
    cpe.authorization = basic("cpe", "cpe-secret")
    cpe.post(inform_body("SN1"), HTTP_X_FORWARDED_FOR="10.9.9.9")
    assert Device.objects.get().sessions.get().remote_address == "198.51.100.7"


@pytest.mark.parametrize("content_type", ["text/xml", "text/html", "", "application/octet-stream"])
@pytest.mark.parametrize(
    "soapaction", [None, "", '""', "cwmp:Inform", '"urn:dslforum-org:cwmp-1-0#Inform"']
)
def test_headers_seen_in_the_field_do_not_matter(tenant, content_type, soapaction):
    client = Client()
    extra = {"HTTP_AUTHORIZATION": basic("cpe", "cpe-secret"), "REMOTE_ADDR": "198.51.100.1"}
    if soapaction is not None:
        extra["HTTP_SOAPACTION"] = soapaction
    first = client.post(
        "/cwmp/isp/", data=inform_body("SN1"), content_type=content_type, secure=True, **extra
    )
    assert first.status_code == 200
    last = client.post("/cwmp/isp/", data=b"", content_type=content_type, secure=True, **extra)
    assert last.status_code == 204


@pytest.mark.parametrize(
    "empty",
    [
        b"",
        b"  \r\n\t ",
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body/></soap:Envelope>',
        b'<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">'
        b"<SOAP-ENV:Header/><SOAP-ENV:Body></SOAP-ENV:Body></SOAP-ENV:Envelope>",
    ],
    ids=["empty", "whitespace", "empty-envelope", "empty-envelope-header"],
)
def test_forms_of_the_empty_post(cpe, empty):
    cpe.inform(inform_body("SN1"))
    assert cpe.post(empty).status_code == 204


RAW_INFORM = """<?xml version="1.0" encoding="UTF-8"?>
<{p}:Envelope xmlns:{p}="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:SOAP-ENC="http://schemas.xmlsoap.org/soap/encoding/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:cwmp="urn:dslforum-org:cwmp-1-3">
  {header}
  <{p}:Body>
    <cwmp:Inform>
      <DeviceId>
        <Manufacturer>ZTE</Manufacturer>
        <OUI>C0B101</OUI>
        <ProductClass>ZXHN H199A</ProductClass>
        <SerialNumber>ZTEYH86LCN10105</SerialNumber>
      </DeviceId>
      <Event SOAP-ENC:arrayType="cwmp:EventStruct[7]">
        <EventStruct><EventCode>1 Boot</EventCode><CommandKey></CommandKey></EventStruct>
        <EventStruct><EventCode>X 00259E Vendor</EventCode><CommandKey/></EventStruct>
      </Event>
      <MaxEnvelopes>1</MaxEnvelopes>
      <CurrentTime>2024-01-02T03:04:05.123456</CurrentTime>
      <RetryCount>0</RetryCount>
      <ParameterList SOAP-ENC:arrayType="cwmp:ParameterValueStruct[1]">
        <ParameterValueStruct>
          <Name>InternetGatewayDevice.DeviceInfo.SoftwareVersion</Name>
          <Value>V9.0</Value>
        </ParameterValueStruct>
        <ParameterValueStruct>
          <Name>InternetGatewayDevice.ManagementServer.PeriodicInformEnable</Name>
          <Value xsi:type="xsd:boolean">true</Value>
        </ParameterValueStruct>
      </ParameterList>
    </cwmp:Inform>
  </{p}:Body>
</{p}:Envelope>"""


@pytest.mark.parametrize("prefix", ["SOAP-ENV", "soap_env", "soapenv", "soap"])
@pytest.mark.parametrize("with_header", [True, False])
def test_raw_field_inform_variants(cpe, prefix, with_header):
    header = (
        f'<{prefix}:Header><cwmp:ID {prefix}:mustUnderstand="1">7</cwmp:ID></{prefix}:Header>'
        if with_header
        else ""
    )
    body = RAW_INFORM.format(p=prefix, header=header).encode()
    response = cpe.inform(body)
    assert response.status_code == 200
    assert b'xmlns:cwmp="urn:dslforum-org:cwmp-1-3"' in response.content
    envelope = codec.parse(response.content)
    assert envelope.id == ("7" if with_header else None)
    assert cpe.post(b"").status_code == 204
    device = Device.objects.get()
    assert device.device_id == "C0B101-ZXHN%20H199A-ZTEYH86LCN10105"
    assert device.software_version == "V9.0"
    assert SessionLog.objects.get().events == ["1 BOOT", "X 00259E Vendor"]
    assert Parameter.objects.get(path__endswith="PeriodicInformEnable").type == "xsd:boolean"


ISSUER = "CN=ISP Lab CA,O=ISP"
CERT_HEADERS = {
    "HTTP_X_SSL_CLIENT_VERIFY": "SUCCESS",
    "HTTP_X_SSL_CLIENT_I_DN": ISSUER,
}


@pytest.fixture
def cert_tenant(tenant, settings):
    settings.CWMP_TRUSTED_PROXIES = ["127.0.0.1/32"]
    tenant.cpe_auth_methods = "certificate"
    tenant.cpe_cert_issuer = ISSUER
    tenant.save()
    return tenant


def cert_cpe(**extra):
    cpe = ScriptedCPE(Client(), "/cwmp/isp/", address="127.0.0.1", auth="none")
    return cpe, {
        **CERT_HEADERS,
        "HTTP_X_FORWARDED_FOR": "198.51.100.3",
        "HTTP_X_CLIENT_PORT": "4444",
        **extra,
    }


def test_client_certificate_authenticates_its_device(cert_tenant):
    cpe, headers = cert_cpe(HTTP_X_SSL_CLIENT_S_DN="CN=00259E-EG8145V5-SN1,O=ISP")
    assert cpe.post(inform_body("SN1"), **headers).status_code == 200
    assert cpe.post(b"", **headers).status_code == 204
    assert Device.objects.get().serial_number == "SN1"


def test_client_certificate_by_serial_number(cert_tenant):
    cpe, headers = cert_cpe(HTTP_X_SSL_CLIENT_S_DN="O=ISP,CN=SN1")
    assert cpe.post(inform_body("SN1"), **headers).status_code == 200


def test_client_certificate_of_another_device_is_refused(cert_tenant):
    cpe, headers = cert_cpe(HTTP_X_SSL_CLIENT_S_DN="CN=SN2,O=ISP")
    response = cpe.post(inform_body("SN1"), **headers)
    assert response.status_code == 403
    assert not Device.objects.exists()


def test_client_certificate_of_another_ca_is_refused(cert_tenant):
    cpe, headers = cert_cpe(HTTP_X_SSL_CLIENT_S_DN="CN=SN1", HTTP_X_SSL_CLIENT_I_DN="CN=Other CA")
    assert cpe.post(inform_body("SN1"), **headers).status_code == 403


def test_missing_certificate_is_refused_when_required(cert_tenant):
    cpe, headers = cert_cpe(HTTP_X_SSL_CLIENT_VERIFY="NONE", HTTP_X_SSL_CLIENT_S_DN="")
    assert cpe.post(inform_body("SN1"), **headers).status_code == 403


def test_certificate_headers_from_an_untrusted_peer_mean_nothing(cert_tenant, settings):
    settings.CWMP_TRUSTED_PROXIES = []
    cpe, headers = cert_cpe(HTTP_X_SSL_CLIENT_S_DN="CN=SN1")
    assert cpe.post(inform_body("SN1"), **headers).status_code == 403
    assert not Device.objects.exists()


def test_digest_still_works_beside_certificates(cert_tenant):
    cert_tenant.cpe_auth_methods = "certificate,digest"
    cert_tenant.save()
    cpe = ScriptedCPE(Client(), "/cwmp/isp/", auth="digest")
    first, last = cpe.session(inform_body("SN1"))
    assert last.status_code == 204


def test_default_url_serves_the_only_tenant(tenant):
    cpe = ScriptedCPE(Client(), "/cwmp/")
    cpe.session(inform_body("SN1"))
    assert Device.objects.get().tenant == tenant
    TenantFactory(slug="second")
    assert ScriptedCPE(Client(), "/cwmp/").inform(inform_body("SN2")).status_code == 404


def test_first_post_without_credentials_is_challenged_unparsed(cpe, monkeypatch):
    """The Inform that only earns a 401 is not parsed (it comes again with credentials)."""
    parsed = []
    real_parse = codec.parse
    monkeypatch.setattr(
        codec, "parse", lambda body, **kw: parsed.append(1) or real_parse(body, **kw)
    )
    cpe.authorization = None
    response = cpe.post(inform_body("SN1"))
    assert response.status_code == 401 and "Digest" in response["WWW-Authenticate"]
    assert parsed == []
    assert Device.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e 'x'>]><Inform>&e;</Inform>",
        b"\xff\xfe<Inform/>",
    ],
    ids=["xxe", "not-ascii-compatible"],
)
def test_hostile_inform_without_credentials_is_refused_not_challenged(cpe, body):
    cpe.authorization = None
    assert cpe.post(body).status_code == 400


def test_non_inform_without_credentials_or_session_is_still_400(cpe):
    cpe.authorization = None
    response = cpe.post(codec.serialize(m.Envelope(body=m.GetRPCMethods(), cwmp_ns=m.CWMP_NS_1_0)))
    assert response.status_code == 400


def test_a_session_whose_cpe_went_silent_is_closed_by_housekeeping(cpe, settings):
    from cwmp.endpoint import housekeeping
    from cwmp.endpoint.store import get_store

    settings.CWMP_SESSION_TIMEOUT = 1
    cpe.inform(inform_body("SN1"))  # ... and nothing more: no empty POST, no new Inform
    assert SessionLog.objects.get().outcome == "open"
    assert housekeeping.close_abandoned() == 0  # not expired yet
    import time

    time.sleep(1.1)
    assert housekeeping.close_abandoned() == 1
    log = SessionLog.objects.get()
    assert log.outcome == "abandoned" and "silent" in log.detail
    assert housekeeping.close_abandoned(get_store()) == 0


def test_housekeeping_runs_beside_sessions_at_most_once_per_interval(cpe, settings, monkeypatch):
    from cwmp.endpoint import housekeeping

    runs = []
    monkeypatch.setattr(housekeeping, "close_abandoned", lambda store=None: runs.append(1))
    monkeypatch.setattr(housekeeping, "_next_run", 0.0)
    settings.CWMP_HOUSEKEEPING_INTERVAL = 3600
    cpe.session(inform_body("SN1"))
    cpe.session(inform_body("SN1"))
    assert runs == [1]


def test_housekeeping_command(cpe, settings):
    import time

    from django.core.management import call_command

    settings.CWMP_SESSION_TIMEOUT = 1
    cpe.inform(inform_body("SN1"))
    time.sleep(1.1)
    out = io.StringIO()
    call_command("acs_housekeeping", stdout=out)
    assert out.getvalue().strip() == "1 abandoned session(s) closed"
    assert SessionLog.objects.get().outcome == "abandoned"


def test_past_the_limit_a_new_session_is_refused_before_its_challenge(
    tenant, settings, monkeypatch
):
    from cwmp.endpoint.store import get_store

    settings.CWMP_MAX_SESSIONS = 1
    a = ScriptedCPE(Client(), "/cwmp/isp/")
    a.inform(inform_body("SN1"))  # the one session the server holds
    parsed = []
    real_parse = codec.parse
    monkeypatch.setattr(
        codec, "parse", lambda body, **kw: parsed.append(1) or real_parse(body, **kw)
    )
    b = ScriptedCPE(Client(), "/cwmp/isp/", address="203.0.113.2", auth="digest")
    first = b.post(inform_body("SN2"))  # no credentials yet: would be a 401
    assert first.status_code == 503 and int(first["Retry-After"]) > 0
    assert parsed == []
    # What this process saw of the load goes stale: then the CPE is challenged again.
    get_store()._load = (1, 0.0)
    assert b.post(inform_body("SN2")).status_code == 401
    # The end of the session is seen too.
    a.post(b"")
    assert b.inform(inform_body("SN2")).status_code == 200


def test_while_requests_queue_a_new_session_is_refused_before_its_challenge(
    tenant, settings, monkeypatch
):
    from cwmp.endpoint import overload

    settings.CWMP_QUEUE_TARGET_MS = 250
    waits = []
    watch = overload.queue_watch()
    monkeypatch.setattr(watch, "note", waits.append)
    a = ScriptedCPE(Client(), "/cwmp/isp/")
    a.inform(inform_body("SN1"))
    a.post(b"")
    # The session's second request was timed from the ACS's answer to its Inform.
    assert len(waits) == 1 and 0 <= waits[0] < 5
    monkeypatch.setattr(watch, "congested", lambda: True)
    b = ScriptedCPE(Client(), "/cwmp/isp/", address="203.0.113.2", auth="digest")
    refused = b.post(inform_body("SN2"))
    assert refused.status_code == 503 and int(refused["Retry-After"]) > 0
    settings.CWMP_QUEUE_TARGET_MS = 0  # off
    assert b.post(inform_body("SN2")).status_code == 401


def test_while_requests_queue_a_session_asked_for_by_connection_request_is_let_in(
    tenant, settings, monkeypatch
):
    """The ACS asked for it: refused, the CPE would not call again before its next Inform."""
    from cwmp.endpoint import overload

    settings.CWMP_QUEUE_TARGET_MS = 250
    monkeypatch.setattr(overload.queue_watch(), "congested", lambda: True)
    cpe = ScriptedCPE(Client(), "/cwmp/isp/", address="203.0.113.2", auth="digest")
    body = inform_body("SN2", events=("6 CONNECTION REQUEST",))
    assert cpe.post(body).status_code == 401
    assert cpe.inform(body).status_code == 200
    # The hard limit still holds for it.
    settings.CWMP_MAX_SESSIONS = 1
    other = ScriptedCPE(Client(), "/cwmp/isp/", address="203.0.113.3", auth="digest")
    assert other.post(inform_body("SN3", events=("6 CONNECTION REQUEST",))).status_code == 503


def test_a_database_failure_finding_the_tenant_is_a_503(tenant, monkeypatch):
    from django.db import OperationalError

    from cwmp.endpoint import views

    def down(slug):
        raise OperationalError("too many clients already")

    monkeypatch.setattr(views, "tenant_for_slug", down)
    response = Client().post("/cwmp/isp/", inform_body("SN1"), content_type="text/xml")
    assert response.status_code == 503 and int(response["Retry-After"]) > 0
