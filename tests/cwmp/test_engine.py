"""The session engine's rules, with a fake host: no server, no database."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from cwmp.protocol import engine
from cwmp.protocol import messages as m


@dataclass
class FakeHost:
    queue: list[Any] = field(default_factory=list)
    informs: list[m.Inform] = field(default_factory=list)
    cpe_requests: list[Any] = field(default_factory=list)
    answers: list[tuple[Any, Any]] = field(default_factory=list)
    refuse: m.Fault | None = None

    def on_inform(self, state, inform):
        self.informs.append(inform)
        state.device_pk = 1
        return self.refuse

    def on_cpe_request(self, state, request):
        self.cpe_requests.append(request)
        return getattr(m, type(request).__name__ + "Response")()

    def next_request(self, state):
        if self.queue:
            request = self.queue.pop(0)
            return request, f"ref-{type(request).__name__}"
        return None

    def on_response(self, state, ref, response):
        self.answers.append((ref, response))


def inform(*events: str, ns: str = m.CWMP_NS_1_0, **header: Any) -> m.Envelope:
    body = m.Inform(
        device_id=m.DeviceIdStruct(
            manufacturer="Huawei", oui="00259E", product_class="EG8145V5", serial_number="SN1"
        ),
        event=[m.EventStruct(event_code=e) for e in events],
        parameter_list=[
            m.ParameterValueStruct(
                name="InternetGatewayDevice.DeviceInfo.SoftwareVersion",
                value="V5",
                type="xsd:string",
            )
        ],
    )
    return m.Envelope(body=body, cwmp_ns=ns, id=header.pop("id", "42"), **header)


def new_state() -> engine.SessionState:
    return engine.SessionState(sid="S" * 24, tenant_id=1)


def test_inform_answers_inform_response_with_echoed_id_and_namespace():
    host, state = FakeHost(), new_state()
    reply = engine.start(state, inform("2 PERIODIC", ns=m.CWMP_NS_1_2, id="abc"), host)
    assert isinstance(reply.envelope.body, m.InformResponse)
    assert reply.envelope.body.max_envelopes == 1
    assert reply.envelope.id == "abc"
    assert reply.envelope.cwmp_ns == m.CWMP_NS_1_2
    assert state.events == ["2 PERIODIC"]
    assert len(host.informs) == 1


def test_empty_post_with_nothing_queued_ends_session_with_204():
    host, state = FakeHost(), new_state()
    engine.start(state, inform("2 PERIODIC"), host)
    reply = engine.handle(state, None, host)
    assert reply.ends_session and reply.status == 204
    assert state.ended and state.outcome == "ok"
    assert state.rpcs == ["Inform", "InformResponse"]


def test_empty_envelope_counts_as_empty_post():
    host, state = FakeHost(), new_state()
    engine.start(state, inform("2 PERIODIC"), host)
    reply = engine.handle(state, m.Envelope(body=None, cwmp_ns=m.CWMP_NS_1_0), host)
    assert reply.ends_session


def test_queued_rpc_is_sent_after_empty_post_and_its_answer_recorded():
    request = m.GetParameterValues(parameter_names=["InternetGatewayDevice."])
    host, state = FakeHost(queue=[request]), new_state()
    engine.start(state, inform("6 CONNECTION REQUEST"), host)
    reply = engine.handle(state, None, host)
    assert reply.envelope.body is request
    sent_id = reply.envelope.id
    answer = m.GetParameterValuesResponse(parameter_list=[])
    reply = engine.handle(state, m.Envelope(body=answer, cwmp_ns=m.CWMP_NS_1_0, id=sent_id), host)
    assert reply.ends_session
    assert host.answers == [("ref-GetParameterValues", answer)]


def test_each_acs_request_gets_its_own_id():
    host = FakeHost(queue=[m.Reboot(command_key="a"), m.FactoryReset()])
    state = new_state()
    engine.start(state, inform("1 BOOT"), host)
    first = engine.handle(state, None, host).envelope
    second = engine.handle(
        state, m.Envelope(body=m.RebootResponse(), cwmp_ns=m.CWMP_NS_1_0, id=first.id), host
    ).envelope
    assert first.id != second.id


def test_cpe_fault_answers_the_pending_request():
    host, state = FakeHost(queue=[m.Reboot()]), new_state()
    engine.start(state, inform("1 BOOT"), host)
    engine.handle(state, None, host)
    fault = m.Fault(fault_code=9000, fault_string="Method not supported")
    reply = engine.handle(state, m.Envelope(body=fault, cwmp_ns=m.CWMP_NS_1_0), host)
    assert reply.ends_session
    assert host.answers == [("ref-Reboot", fault)]
    assert state.faults == 1


def test_cpe_requests_are_answered_with_echoed_id():
    host, state = FakeHost(), new_state()
    engine.start(state, inform("7 TRANSFER COMPLETE", "M Download"), host)
    tc = m.TransferComplete(
        command_key="fw1", fault_struct=m.FaultStruct(fault_code=0, fault_string="")
    )
    reply = engine.handle(state, m.Envelope(body=tc, cwmp_ns=m.CWMP_NS_1_0, id="77"), host)
    assert isinstance(reply.envelope.body, m.TransferCompleteResponse)
    assert reply.envelope.id == "77"
    assert host.cpe_requests == [tc]


def test_get_rpc_methods_from_cpe_lists_acs_methods():
    host, state = FakeHost(), new_state()
    engine.start(state, inform("1 BOOT"), host)
    reply = engine.handle(
        state, m.Envelope(body=m.GetRPCMethods(), cwmp_ns=m.CWMP_NS_1_0, id="1"), host
    )
    assert "Inform" in reply.envelope.body.method_list
    assert "TransferComplete" in reply.envelope.body.method_list


def test_unknown_cpe_method_gets_8000_with_id():
    host, state = FakeHost(), new_state()
    engine.start(state, inform("1 BOOT"), host)
    body = m.UnknownMessage(name="X_VendorHello", namespace=m.CWMP_NS_1_0)
    reply = engine.handle(state, m.Envelope(body=body, cwmp_ns=m.CWMP_NS_1_0, id="9"), host)
    assert isinstance(reply.envelope.body, m.Fault)
    assert reply.envelope.body.fault_code == 8000
    assert reply.envelope.id == "9"


def test_response_that_answers_no_request_is_a_protocol_error():
    host, state = FakeHost(), new_state()
    engine.start(state, inform("1 BOOT"), host)
    with pytest.raises(engine.ProtocolError):
        engine.handle(state, m.Envelope(body=m.RebootResponse(), cwmp_ns=m.CWMP_NS_1_0), host)
    assert host.answers == []


def test_response_of_the_wrong_method_is_a_protocol_error():
    host, state = FakeHost(queue=[m.Reboot()]), new_state()
    engine.start(state, inform("1 BOOT"), host)
    engine.handle(state, None, host)
    with pytest.raises(engine.ProtocolError):
        engine.handle(state, m.Envelope(body=m.FactoryResetResponse(), cwmp_ns=m.CWMP_NS_1_0), host)
    assert host.answers == []


def test_inform_inside_a_session_is_a_protocol_error():
    host, state = FakeHost(), new_state()
    engine.start(state, inform("1 BOOT"), host)
    with pytest.raises(engine.ProtocolError):
        engine.handle(state, inform("1 BOOT"), host)


def test_empty_post_while_rpc_outstanding_records_a_lost_answer():
    host, state = FakeHost(queue=[m.Reboot()]), new_state()
    engine.start(state, inform("1 BOOT"), host)
    engine.handle(state, None, host)
    reply = engine.handle(state, None, host)
    assert reply.ends_session
    ((ref, answer),) = host.answers
    assert ref == "ref-Reboot" and isinstance(answer, m.Fault)


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("1 Boot", "1 BOOT"),
        ("2 periodic", "2 PERIODIC"),
        ("0 bootstrap", "0 BOOTSTRAP"),
        ("6 Connection Request", "6 CONNECTION REQUEST"),
        ("m reboot", "M Reboot"),
        ("M  Download", "M Download"),
        ("X 00259E Vendor Thing", "X 00259E Vendor Thing"),
        ("x 00259E Vendor Thing", "X 00259E Vendor Thing"),
        ("M X_ACME_Custom", "M X_ACME_Custom"),
    ],
)
def test_event_codes_are_normalised(sent, expected):
    assert engine.normalize_event(sent) == expected


def test_inform_without_serial_gets_8003_and_nothing_stored():
    host, state = FakeHost(), new_state()
    envelope = inform("1 BOOT")
    envelope.body.device_id.serial_number = ""
    reply = engine.start(state, envelope, host)
    assert reply.envelope.body.fault_code == 8003
    assert host.informs == [] and state.ended


def test_host_refusal_ends_session_with_fault():
    host, state = (
        FakeHost(refuse=m.Fault(fault_code=8001, fault_string="Request denied")),
        new_state(),
    )
    reply = engine.start(state, inform("1 BOOT"), host)
    assert reply.envelope.body.fault_code == 8001
    assert state.ended and state.outcome == "fault"


def test_version_negotiation_picks_highest_shared_and_answers_headers():
    host, state = FakeHost(), new_state()
    envelope = inform("1 BOOT", ns=m.CWMP_NS_1_2, supported_cwmp_versions="1.0,1.2,1.4")
    reply = engine.start(state, envelope, host)
    assert state.cwmp_version == "1.4"
    assert reply.envelope.use_cwmp_version == "1.4"
    assert reply.envelope.session_timeout == state.timeout


def test_no_shared_version_gets_8006():
    host, state = FakeHost(), new_state()
    envelope = inform("1 BOOT", ns=m.CWMP_NS_1_2, supported_cwmp_versions="2.0")
    reply = engine.start(state, envelope, host)
    assert reply.envelope.body.fault_code == 8006
    assert host.informs == []


def test_version_from_namespace_without_header():
    host, state = FakeHost(), new_state()
    reply = engine.start(state, inform("1 BOOT", ns=m.CWMP_NS_1_1), host)
    assert state.cwmp_version == "1.1"
    assert reply.envelope.use_cwmp_version is None


def test_cpe_session_timeout_header_extends_bounded():
    host, state = FakeHost(), new_state()
    engine.start(state, inform("1 BOOT", ns=m.CWMP_NS_1_2, session_timeout=90), host)
    assert state.timeout == 90
    state2 = new_state()
    engine.start(state2, inform("1 BOOT", ns=m.CWMP_NS_1_2, session_timeout=100000), FakeHost())
    assert state2.timeout == 300


def test_state_survives_a_round_trip_through_json():
    import json

    host, state = FakeHost(queue=[m.Reboot()]), new_state()
    engine.start(state, inform("1 BOOT"), host)
    engine.handle(state, None, host)
    copy = engine.SessionState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert copy == state


def test_the_acs_never_holds_the_cpes_requests():
    """TR-069 A.4.1.2: HoldRequests is the ACS's header; this ACS never sets it."""
    request = m.GetParameterValues(parameter_names=["InternetGatewayDevice."])
    host, state = FakeHost(queue=[request]), new_state()
    reply = engine.start(state, inform("6 CONNECTION REQUEST"), host)
    assert reply.envelope.hold_requests is None
    # A CPE that echoes the header on its own request is answered all the same.
    tc = m.Envelope(body=m.TransferComplete(command_key="k"), cwmp_ns=m.CWMP_NS_1_0, id="7")
    tc.hold_requests = True
    reply = engine.handle(state, tc, host)
    assert isinstance(reply.envelope.body, m.TransferCompleteResponse)
    assert reply.envelope.hold_requests is None
    reply = engine.handle(state, None, host)
    assert reply.envelope.body is request and reply.envelope.hold_requests is None
