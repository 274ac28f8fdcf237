"""Each field quirk, visible on the wire (the fake ACS records raw requests)."""

from __future__ import annotations

import gzip
import re

import pytest

from cpesim import Quirks, SimulatedCPE

from .fakeacs import FakeACS, find, findall, text_of
from .helpers import async_test

GPV_BOOL = (
    "<cwmp:GetParameterValues><ParameterNames><string>"
    "InternetGatewayDevice.ManagementServer.PeriodicInformEnable"
    "</string></ParameterNames></cwmp:GetParameterValues>"
)


async def wire(
    quirks: str | None,
    *,
    sessions: int = 1,
    rpcs: tuple[str, ...] = (),
    cpe_kwargs=None,
    **acs_kwargs,
):
    """Run sessions of a device with these quirks; returns (fake ACS, results)."""
    async with FakeACS(**acs_kwargs) as acs:
        acs.queue(*rpcs)
        cpe = SimulatedCPE(
            "huawei-eg8145v5",
            acs_url=acs.url,
            username="cpe",
            password="secret",
            quirks=quirks,
            auto_sessions=False,
            **(cpe_kwargs or {}),
        )
        results = [await cpe.run_session() for _ in range(sessions)]
        return acs, results


def informs(acs):
    return [r for r in acs.requests if r.rpc == "Inform"]


@async_test
async def test_default_behaviour_for_reference():
    acs, [result] = await wire(None)
    inform, empty = acs.requests
    assert result.ok and result.statuses == [200, 204]
    assert inform.header("SOAPAction") == '"urn:dslforum-org:cwmp-1-0#Inform"'
    assert inform.header("Content-Type") == 'text/xml; charset="utf-8"'
    assert (
        empty.body == b""
        and not empty.has_header("Content-Type")
        and not empty.has_header("SOAPAction")
    )
    assert empty.header("Cookie") == "acs_session=1"
    assert inform.connection == empty.connection  # one keep-alive connection
    assert inform.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<SOAP-ENV:Envelope')
    assert re.search(rb"<CurrentTime>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ</CurrentTime>", inform.body)
    assert b"<MaxEnvelopes>1</MaxEnvelopes>" in inform.body


@async_test
async def test_no_cookies():
    acs, [result] = await wire("no-cookies")
    assert result.ok and not any(r.has_header("Cookie") for r in acs.requests)
    assert result.cookies == {"acs_session": "1"}  # seen, just never sent back


@async_test
async def test_cookie_attrs_and_cookie_comma():
    cookies = ("a=1; Path=/; HttpOnly", "b=2; Path=/")
    acs, _ = await wire("cookie-attrs", set_cookies=cookies)
    assert acs.requests[1].header("Cookie") == "a=1; Path=/; HttpOnly; b=2; Path=/"
    acs, _ = await wire("cookie-comma", set_cookies=cookies)
    assert acs.requests[1].header("Cookie") == "cpesim=1, a=1, b=2"
    # With the one cookie an ACS sets, there are still two, comma-joined.
    acs, _ = await wire("cookie-comma")
    assert acs.requests[1].header("Cookie") == "cpesim=1, acs_session=1"
    acs, _ = await wire(None, set_cookies=cookies)
    assert acs.requests[1].header("Cookie") == "a=1; b=2"


@async_test
async def test_stale_cookie_sends_the_previous_sessions_cookie_with_the_inform():
    acs, _ = await wire("stale-cookie", sessions=2)
    first, second = informs(acs)
    assert first.header("Cookie") is None
    assert second.header("Cookie") == "acs_session=1"
    assert acs.requests[-1].header("Cookie") == "acs_session=2"
    acs, _ = await wire(None, sessions=2)
    assert informs(acs)[1].header("Cookie") is None


@async_test
async def test_preemptive_basic():
    acs, [result] = await wire("preemptive-basic", auth="basic")
    assert result.statuses == [200, 204]  # no challenge needed
    assert acs.requests[0].header("Authorization") == "Basic Y3BlOnNlY3JldA=="
    acs, [result] = await wire(None, auth="basic")
    assert result.ok and result.statuses == [401, 200, 204]


@async_test
async def test_preemptive_basic_digest_only():
    acs, [result] = await wire("preemptive-basic-digest-only", auth="digest")
    assert result.ok and result.statuses == [401, 200, 204]
    assert acs.requests[0].header("Authorization").startswith("Basic ")
    assert acs.requests[1].header("Authorization").startswith("Digest ")
    # Its Basic refused, it cannot answer a Basic challenge (preemptive-basic would).
    _, [result] = await wire("preemptive-basic-digest-only", auth="basic", password="other")
    assert not result.ok and result.statuses == [401]
    _, [result] = await wire("preemptive-basic", auth="basic", password="other")
    assert not result.ok and result.statuses == [401]


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
@async_test
async def test_digest_session_counts_nonces(algorithm):
    acs, [result] = await wire(None, auth="digest", algorithm=algorithm, rpcs=(GPV_BOOL,))
    assert result.ok and result.statuses == [401, 200, 200, 204]
    [ncs] = acs.nonces.values()
    assert ncs == ["00000001", "00000002", "00000003"]
    assert f"algorithm={algorithm}" in acs.requests[1].header("Authorization")


@async_test
async def test_wrong_password_fails_without_looping():
    _, [result] = await wire(None, auth="digest", password="other")
    assert not result.ok and result.statuses == [401, 401]
    assert "401" in result.error


@async_test
async def test_nonce_reuse():
    acs, [result] = await wire("nonce-reuse", auth="digest", rpcs=(GPV_BOOL,))
    assert result.ok
    [ncs] = acs.nonces.values()
    assert ncs == ["00000001"] * 3


@pytest.mark.parametrize("prefix", ["SOAP-ENV", "soap_env", "soapenv", "soap"])
@async_test
async def test_envelope_prefix(prefix):
    acs, _ = await wire(f"prefix={prefix}", rpcs=(GPV_BOOL,))
    assert f"<{prefix}:Envelope xmlns:{prefix}=".encode() in acs.requests[0].body
    assert f"<{prefix}:Body>".encode() in acs.requests[2].body  # responses too


@async_test
async def test_namespace_quirk():
    acs, _ = await wire("ns=cwmp-1-3")
    assert b'xmlns:cwmp="urn:dslforum-org:cwmp-1-3"' in acs.requests[0].body
    assert acs.requests[0].header("SOAPAction") == '"urn:dslforum-org:cwmp-1-3#Inform"'


@async_test
async def test_event_case_and_vendor_event():
    acs, _ = await wire("event-case,vendor-event", cpe_kwargs={"bootstrap": True})
    assert acs.sessions[0].events == ["0 Bootstrap", "1 Boot", "X 00259E VENDOR EVENT"]


@async_test
async def test_no_header():
    acs, [result] = await wire("no-header")
    assert result.ok
    assert find(acs.sessions[0].envelope, "Header") is None


@async_test
async def test_pretty():
    acs, _ = await wire("pretty", rpcs=(GPV_BOOL,))
    assert b">\n  <SOAP-ENV:Body>" in acs.requests[0].body or b"\n  <" in acs.requests[0].body
    assert b"\n" in acs.requests[2].body.strip()


@async_test
async def test_no_xsi_type():
    acs, _ = await wire("no-xsi-type", rpcs=(GPV_BOOL,))
    assert b"xsi:type" not in acs.requests[0].body and b"xsi:type" not in acs.requests[2].body
    acs, _ = await wire(None)
    assert b'xsi:type="xsd:string"' in acs.requests[0].body


@pytest.mark.parametrize(
    ("quirk", "shown"), [(None, "1"), ("bool-words", "true"), ("bool-digits", "1")]
)
@async_test
async def test_boolean_spelling(quirk, shown):
    set_digit = (
        "<cwmp:SetParameterValues><ParameterList><ParameterValueStruct>"
        "<Name>InternetGatewayDevice.ManagementServer.PeriodicInformEnable</Name>"
        '<Value xsi:type="xsd:boolean">1</Value></ParameterValueStruct></ParameterList>'
        "<ParameterKey></ParameterKey></cwmp:SetParameterValues>"
    )
    acs, _ = await wire(quirk, rpcs=(set_digit, GPV_BOOL))
    assert (
        text_of(acs.sessions[0].response(1), "ParameterList", "ParameterValueStruct", "Value")
        == shown
    )


@pytest.mark.parametrize(
    ("quirk", "pattern"),
    [
        ("time-naive", rb"<CurrentTime>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d</CurrentTime>"),
        ("time-micro", rb"<CurrentTime>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z</CurrentTime>"),
    ],
)
@async_test
async def test_current_time_formats(quirk, pattern):
    acs, _ = await wire(quirk)
    assert re.search(pattern, acs.requests[0].body)


@async_test
async def test_bad_arraytype():
    acs, _ = await wire("bad-arraytype")
    inform = acs.sessions[0].inform
    event = find(inform, "Event")
    declared = event.get("{http://schemas.xmlsoap.org/soap/encoding/}arrayType")
    assert declared == f"cwmp:EventStruct[{len(event) + 1}]"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("missing", None), ("empty", ""), ("quoted-empty", '""'), ("unquoted", "cwmp:Inform")],
)
@async_test
async def test_soapaction_variants(mode, expected):
    acs, [result] = await wire(f"soapaction={mode}")
    assert result.ok
    assert acs.requests[0].header("SOAPAction") == expected


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("text/xml", "text/xml"), ("text/html", "text/html"), ("none", None), ("empty", "")],
)
@async_test
async def test_content_type_variants_on_every_post(mode, expected):
    acs, [result] = await wire(f"content-type={mode}")
    assert result.ok
    assert [r.header("Content-Type") for r in acs.requests] == [expected, expected]


@async_test
async def test_empty_post_variants():
    acs, [result] = await wire("empty-envelope")
    assert result.ok
    body = acs.requests[1].body
    assert body.startswith(b"<?xml") and b"<SOAP-ENV:Body></SOAP-ENV:Body>" in body
    acs, [result] = await wire("empty-whitespace")
    assert result.ok and acs.requests[1].body.strip() == b"" and acs.requests[1].body != b""


@async_test
async def test_same_id():
    acs, _ = await wire("same-id", sessions=2)
    ids = [text_of(r.root, "Header", "ID") for r in informs(acs)]
    assert ids == ["1", "1"]
    acs, _ = await wire(None, sessions=2)
    ids = [text_of(r.root, "Header", "ID") for r in informs(acs)]
    assert ids[0] != ids[1]


@async_test
async def test_gzip_request_bodies():
    acs, [result] = await wire("gzip", rpcs=(GPV_BOOL,), gzip_responses=True)
    assert result.ok
    inform = acs.requests[0]
    assert (
        inform.header("Content-Encoding") == "gzip" and inform.header("Accept-Encoding") == "gzip"
    )
    assert gzip.decompress(inform.raw_body) == inform.body
    assert not acs.requests[1].has_header(
        "Content-Encoding"
    )  # nothing to compress in the empty POST


@async_test
async def test_abandon_after_inform():
    acs, [result] = await wire("abandon-after-inform", rpcs=(GPV_BOOL,))
    assert result.ok and [r.rpc for r in acs.requests] == ["Inform"]
    assert result.transcript[-1][:2] == ("--", "abandoned")


@async_test
async def test_resend_inform():
    acs, [result] = await wire("resend-inform")
    assert result.ok
    first, second = informs(acs)
    assert first.connection != second.connection
    assert text_of(first.root, "Body", "Inform", "RetryCount") == "0"
    assert text_of(second.root, "Body", "Inform", "RetryCount") == "1"
    assert result.transcript[0] == ("->", "Inform", "dropped")


@pytest.mark.parametrize(
    ("quirk", "first", "later"),
    [
        (None, ["0 BOOTSTRAP", "1 BOOT"], ["2 PERIODIC"]),
        ("first-boot-periodic", ["2 PERIODIC"], ["2 PERIODIC"]),
        ("first-boot-boot", ["1 BOOT"], ["2 PERIODIC"]),
    ],
)
@async_test
async def test_first_contact_events(quirk, first, later):
    acs, _ = await wire(quirk, sessions=2, cpe_kwargs={"bootstrap": True})
    assert [s.events for s in acs.sessions] == [first, later]


def test_quirk_parsing():
    q = Quirks.parse("no-cookies, prefix=soap ,gzip")
    assert "no-cookies" in q and "gzip" in q and q.prefix == "soap"
    assert Quirks.parse(["gzip", "no-cookies,prefix=soap"]) is q  # parsed once, shared
    assert Quirks.parse({"gzip": True, "prefix": "soap", "no-cookies": True}) is q
    assert Quirks.parse("ns=1-2").ns == "urn:dslforum-org:cwmp-1-2"
    for bad in ("no-such-quirk", "soapaction=weird", "bool-words,bool-digits", "prefix="):
        with pytest.raises(ValueError):
            Quirks.parse(bad)


@async_test
async def test_inform_parameter_list_is_well_formed():
    acs, _ = await wire(None)
    params = findall(find(acs.sessions[0].inform, "ParameterList"), "ParameterValueStruct")
    names = [text_of(p, "Name") for p in params]
    assert "InternetGatewayDevice.ManagementServer.ConnectionRequestURL" in names
    assert len(names) == len(set(names))


@async_test
async def test_connection_per_request():
    acs, [result] = await wire("connection-per-request", auth="digest", rpcs=(GPV_BOOL,))
    assert result.ok and result.statuses == [401, 200, 200, 204]
    assert [r.connection for r in acs.requests] == [1, 2, 3, 4]
    assert result.connections == 4
    assert all(r.header("Connection") == "close" for r in acs.requests)
    assert acs.requests[-1].header("Cookie") == "acs_session=1"


GPV_QUALIFIED = (
    "<cwmp:GetParameterValues><cwmp:ParameterNames><string>"
    "InternetGatewayDevice.ManagementServer.PeriodicInformEnable"
    "</string></cwmp:ParameterNames></cwmp:GetParameterValues>"
)
GPV_OTHER_PREFIX = (
    '<acs:GetParameterValues xmlns:acs="urn:dslforum-org:cwmp-1-0"><ParameterNames><string>'
    "InternetGatewayDevice.ManagementServer.PeriodicInformEnable"
    "</string></ParameterNames></acs:GetParameterValues>"
)


@async_test
async def test_literal_cwmp_prefix():
    _, [result] = await wire("literal-cwmp-prefix", rpcs=(GPV_BOOL,))
    assert result.ok and result.rpcs == ["GetParameterValues"]
    for rpc, why in ((GPV_QUALIFIED, "ParameterNames"), (GPV_OTHER_PREFIX, "<cwmp:Get")):
        acs, [result] = await wire("literal-cwmp-prefix", rpcs=(rpc,))
        assert not result.ok and why in result.error
        assert len(acs.sessions[0].responses) == 0  # never answered
        # A namespace-aware CPE reads both.
        _, [result] = await wire(None, rpcs=(rpc,))
        assert result.ok


@async_test
async def test_fault_injected_for_the_first_calls():
    acs, results = await wire(
        "fault=GetParameterValues:9002:2", sessions=3, rpcs=(GPV_BOOL, GPV_BOOL, GPV_BOOL)
    )
    assert all(r.ok for r in results)
    assert [r.faults_sent for r in results] == [
        [("GetParameterValues", 9002), ("GetParameterValues", 9002)],
        [],
        [],
    ]
    names = [name for s in acs.sessions for name, _ in s.responses]
    assert names == ["Fault", "Fault", "GetParameterValuesResponse"]


@pytest.mark.parametrize(
    "spec", ["fault=GetParameterValues", "fault=X:12", "fault=Reboot:9002:0", "fault=9:9002"]
)
def test_bad_fault_quirk_is_refused(spec):
    with pytest.raises(ValueError, match="fault"):
        Quirks.parse(spec)


def test_fault_quirk_parsed():
    assert Quirks.parse("fault=Reboot:9004").fault == ("Reboot", 9004, 1)
    assert Quirks.parse("no-cookies,fault=Reboot:9002:3").fault == ("Reboot", 9002, 3)
