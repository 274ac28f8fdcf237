"""The CWMP session engine: protocol rules over plain data, no Django.

One HTTP request of a CWMP session is one call of ``handle``: it takes the
session state and the envelope the CPE posted (``None`` for the empty POST)
and returns what to answer plus the new state. Everything that touches the
database goes through a ``Host`` the shell provides (the Django view gives it
one backed by the ORM; tests give it a fake), so every rule of TR-069 3.7
can be unit-tested without a server.

The flow (TR-069 3.7.1, MaxEnvelopes = 1):
  CPE: Inform                 -> ACS: InformResponse
  CPE: its own requests       -> ACS: their responses (TransferComplete, …)
  CPE: empty POST             -> ACS: first queued RPC, or 204 and done
  CPE: RPC response / Fault   -> ACS: next RPC, or 204 and done

HoldRequests (TR-069 A.4.1.2) is the ACS's to send: this ACS never holds a
CPE's requests (it answers them as they come, then sends its own), so it
never sets the header, and a CPE that echoes one is not misread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from cwmp.protocol import messages as m

# What the ACS offers to a CPE that asks GetRPCMethods (TR-069 A.4.1); all
# but Inform are requests a CPE may make inside a session (A.3.2).
ACS_METHODS = [
    "Inform",
    "GetRPCMethods",
    "TransferComplete",
    "AutonomousTransferComplete",
    "DUStateChangeComplete",
    "AutonomousDUStateChangeComplete",
    "RequestDownload",
    "Kicked",
]
CPE_REQUESTS = frozenset(ACS_METHODS) - {"Inform"}
CWMP_VERSIONS = ("1.0", "1.1", "1.2", "1.3", "1.4")

# Standard event codes (TR-069 3.7.1.5, Table 7) by their upper-case form, so
# a CPE that writes "1 Boot" or "m reboot" is understood.
_STANDARD_EVENTS = [
    "0 BOOTSTRAP",
    "1 BOOT",
    "2 PERIODIC",
    "3 SCHEDULED",
    "4 VALUE CHANGE",
    "5 KICKED",
    "6 CONNECTION REQUEST",
    "7 TRANSFER COMPLETE",
    "8 DIAGNOSTICS COMPLETE",
    "9 REQUEST DOWNLOAD",
    "10 AUTONOMOUS TRANSFER COMPLETE",
    "11 DU STATE CHANGE COMPLETE",
    "12 AUTONOMOUS DU STATE CHANGE COMPLETE",
    "13 WAKEUP",
    "14 HEARTBEAT",
    "M Reboot",
    "M ScheduleInform",
    "M Download",
    "M ScheduleDownload",
    "M Upload",
    "M ChangeDUState",
]
_EVENTS_BY_UPPER = {code.upper(): code for code in _STANDARD_EVENTS}


def normalize_event(code: str) -> str:
    """The standard spelling of an event code; vendor codes kept as sent."""
    code = " ".join(code.split())
    standard = _EVENTS_BY_UPPER.get(code.upper())
    if standard:
        return standard
    head, _, rest = code.partition(" ")
    if head.upper() in ("M", "X") and rest:
        return f"{head.upper()} {rest}"
    return code


@dataclass(slots=True)
class SessionState:
    """Everything a worker needs to serve the next request of a session."""

    sid: str
    tenant_id: int
    device_id: str = ""
    device_pk: int | None = None
    cwmp_ns: str = m.CWMP_NS_1_0
    cwmp_version: str = "1.0"
    remote: str = ""
    conn: str = ""
    username: str = ""
    # Which credentials authenticated the session: "tenant", "device" (the
    # device's own) or "certificate"; later requests are checked against them.
    credentials: str = ""
    started: float = 0.0
    last_seen: float = 0.0
    # When the ACS last answered: the gap to the CPE's next request is how
    # long that request waited in front of the server (cwmp/overload.py).
    replied: float = 0.0
    timeout: int = 30
    events: list[str] = field(default_factory=list)
    rpcs: list[str] = field(default_factory=list)
    messages: int = 0
    acs_seq: int = 0
    # The ACS request awaiting its answer: {"id", "method", "ref"}.
    pending: dict[str, Any] | None = None
    cpe_done: bool = False
    faults: int = 0
    log_pk: int | None = None
    # Whether the device may have tasks, and the RPCs it told us it lacks.
    has_tasks: bool = False
    unsupported: list[str] = field(default_factory=list)
    data_model: str = ""
    ended: bool = False
    outcome: str = "open"
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        # Shallow: the store serializes it at once (dataclasses.asdict's deep
        # copy cost a measurable share of a periodic session).
        return {name: getattr(self, name) for name in _STATE_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionState:
        return cls(**data)


_STATE_FIELDS = tuple(f.name for f in fields(SessionState))


@dataclass(slots=True)
class Reply:
    """What the shell sends back: an envelope, or nothing (204: session over)."""

    envelope: m.Envelope | None = None
    status: int = 200
    error: str = ""

    @property
    def ends_session(self) -> bool:
        return self.envelope is None


class Host(Protocol):
    """The engine's window on storage; the shell implements it."""

    def on_inform(self, state: SessionState, inform: m.Inform) -> m.Fault | None:
        """Register or update the device; a Fault refuses the session."""

    def on_cpe_request(self, state: SessionState, request: Any) -> m.Fault | None:
        """Record a CPE request (the engine answers it); a Fault refuses it instead."""

    def next_request(self, state: SessionState) -> tuple[Any, Any] | None:
        """The next RPC to send and an opaque reference to match its answer."""

    def on_response(self, state: SessionState, ref: Any, response: Any) -> None:
        """Store what the CPE answered (a response message or a Fault)."""


class ProtocolError(Exception):
    """A message that breaks the session rules; answered with a 4xx."""


def negotiate_version(envelope: m.Envelope) -> str | None:
    """The CWMP version to use (TR-069 A.2.2.2 / Amendment 5 headers).

    A CPE that lists ``SupportedCWMPVersions`` gets the highest shared one;
    otherwise the version implied by its namespace. None when nothing is
    shared (answered with fault 8006).
    """
    ns_version = m.CWMP_VERSION_BY_NS.get(envelope.cwmp_ns, "1.0")
    offered = envelope.supported_cwmp_versions
    if not offered:
        return ns_version
    theirs = {v.strip() for v in offered.split(",") if v.strip()}
    shared = [v for v in CWMP_VERSIONS if v in theirs]
    return shared[-1] if shared else None


def _fault_envelope(state: SessionState, request_id: str | None, code: int, text: str) -> Reply:
    fault = m.Fault(fault_code=code, fault_string=text or m.FAULT_STRINGS.get(code, ""))
    return Reply(m.Envelope(body=fault, cwmp_ns=state.cwmp_ns, id=request_id))


def start(
    state: SessionState, envelope: m.Envelope, host: Host, *, now: float | None = None
) -> Reply:
    """Handle the Inform that opens a session."""
    inform = envelope.body
    assert isinstance(inform, m.Inform)
    now = time.time() if now is None else now
    state.started = state.last_seen = now
    state.cwmp_ns = envelope.cwmp_ns
    state.messages = 1
    state.events = [normalize_event(e.event_code) for e in inform.event]
    state.rpcs.append("Inform")
    version = negotiate_version(envelope)
    if version is None:
        state.ended, state.outcome = True, "fault"
        state.detail = f"no shared CWMP version in {envelope.supported_cwmp_versions!r}"
        return _fault_envelope(state, envelope.id, 8006, "Unsupported CWMP version")
    state.cwmp_version = version
    if envelope.session_timeout:
        # A CPE that announces a longer timeout keeps its session that long
        # (bounded: an idle session holds the device lock).
        state.timeout = min(max(state.timeout, envelope.session_timeout), 300)
    device = inform.device_id
    if not (device.oui and device.serial_number):
        state.ended, state.outcome = True, "fault"
        state.detail = "Inform without OUI or SerialNumber"
        return _fault_envelope(state, envelope.id, 8003, "DeviceId needs OUI and SerialNumber")
    refusal = host.on_inform(state, inform)
    if refusal is not None:
        state.ended, state.outcome = True, "fault"
        state.detail = refusal.fault_string
        return Reply(m.Envelope(body=refusal, cwmp_ns=state.cwmp_ns, id=envelope.id))
    response = m.Envelope(
        body=m.InformResponse(max_envelopes=1),
        cwmp_ns=state.cwmp_ns,
        id=envelope.id,
    )
    if envelope.supported_cwmp_versions:
        response.use_cwmp_version = version
        response.session_timeout = state.timeout
    state.rpcs.append("InformResponse")
    return Reply(response)


def handle(
    state: SessionState, envelope: m.Envelope | None, host: Host, *, now: float | None = None
) -> Reply:
    """Handle one request after the Inform; ``envelope`` None is the empty POST."""
    state.last_seen = time.time() if now is None else now
    state.messages += 1
    body = None if envelope is None else envelope.body
    if body is None:
        # TR-069 3.7.1.4: the empty POST says the CPE has no more requests.
        # An empty POST while an RPC is outstanding means the CPE dropped it.
        if state.pending is not None:
            _answer(state, host, m.Fault(fault_code=8002, fault_string="No response from CPE"))
        state.cpe_done = True
        return _next(state, host)

    name = type(body).__name__
    request_id = envelope.id if envelope is not None else None
    if isinstance(body, m.Inform):
        raise ProtocolError("Inform inside a session")
    if isinstance(body, m.UnknownMessage):
        state.rpcs.append(body.name)
        if body.name.endswith("Response"):
            raise ProtocolError(f"unknown response {body.name}")
        return _fault_envelope(state, request_id, 8000, f"Method {body.name} not supported")
    if name in CPE_REQUESTS:
        state.rpcs.append(name)
        if name == "GetRPCMethods":
            response: Any = m.GetRPCMethodsResponse(method_list=list(ACS_METHODS))
        else:
            refusal = host.on_cpe_request(state, body)
            response = refusal if refusal is not None else cpe_request_response(body)
        if isinstance(response, m.Fault):
            state.faults += 1
        state.rpcs.append(type(response).__name__)
        return Reply(m.Envelope(body=response, cwmp_ns=state.cwmp_ns, id=request_id))

    # Anything else must answer the request we sent.
    pending = state.pending
    if pending is None:
        raise ProtocolError(f"{name} answers no request")
    if not isinstance(body, m.Fault) and name != pending["method"] + "Response":
        raise ProtocolError(f"{name} does not answer {pending['method']}")
    state.rpcs.append(name)
    if isinstance(body, m.Fault):
        state.faults += 1
    _answer(state, host, body)
    return _next(state, host)


def cpe_request_response(request: Any) -> Any:
    """The ACS's answer to a request the CPE made in its session (TR-069 A.3.2).

    Each has an empty response except Kicked, whose NextURL sends the
    browser on: no kick handlers are configured, so it goes where the CPE
    said it wanted to go (A.4.2.2).
    """
    if isinstance(request, m.Kicked):
        return m.KickedResponse(next_url=request.next)
    response = getattr(m, type(request).__name__ + "Response", None)
    if type(request).__name__ not in CPE_REQUESTS or response is None:
        return m.Fault(fault_code=8000, fault_string=f"{type(request).__name__} not supported")
    return response()


# A second Inform for a device whose session is open replaces that session
# when it comes from the same address (the CPE gave its session up: dropped
# connection, re-sent Inform) or when the open one has been silent this
# long; from elsewhere, while the first is active, it is refused: two boxes
# claiming one identity must not interleave their writes (TR-069 3.7.1.1
# allows one session per CPE at a time).
TAKE_OVER_IDLE_SECONDS = 10.0


def may_replace(open_session: dict[str, Any], *, remote: str, now: float) -> bool:
    """Whether a new Inform from ``remote`` may replace the device's open session."""
    idle = now - open_session.get("last_seen", 0)
    return open_session.get("remote") == remote or idle >= TAKE_OVER_IDLE_SECONDS


def _answer(state: SessionState, host: Host, response: Any) -> None:
    pending = state.pending
    state.pending = None
    assert pending is not None
    host.on_response(state, pending.get("ref"), response)


def _next(state: SessionState, host: Host) -> Reply:
    nxt = host.next_request(state)
    if nxt is None:
        state.ended = True
        if state.outcome == "open":
            state.outcome = "ok"
        return Reply(None, status=204)
    request, ref = nxt
    state.acs_seq += 1
    request_id = f"{state.sid[:8]}.{state.acs_seq}"
    method = type(request).__name__
    state.pending = {"id": request_id, "method": method, "ref": ref}
    state.rpcs.append(method)
    return Reply(m.Envelope(body=request, cwmp_ns=state.cwmp_ns, id=request_id))
