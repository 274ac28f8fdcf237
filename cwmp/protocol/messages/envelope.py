"""The SOAP envelope, the Message base, faults and the CWMP namespaces.

What every message shares, whichever direction it travels in: the envelope
and its CWMP headers, the namespaces that carry the protocol version, the
fault codes of Annex A.5 and the two bodies that are not RPCs (a Fault and a
method the ACS does not know).
"""

# The field helpers return dataclasses.field() objects (see fields.py), so the
# per-class shared-default hazard RUF009 guards against cannot happen here;
# ruff just cannot see through the helper.
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import dataclass, field

from .fields import _int, _repeated, _text
from .structs import SetParameterValuesFault

# --------------------------------------------------------------------------
# Namespaces
# --------------------------------------------------------------------------

#: CWMP 1.0 (TR-069 Amendment 1), cwmp-1-0.xsd.
CWMP_NS_1_0 = "urn:dslforum-org:cwmp-1-0"
#: CWMP 1.1 (TR-069 Amendment 2), cwmp-1-1.xsd.
CWMP_NS_1_1 = "urn:dslforum-org:cwmp-1-1"
#: CWMP 1.2 (Amendment 3). CWMP 1.3 (Amendment 4) and 1.4 (Amendment 5/6) keep
#: this namespace: cwmp-1-3.xsd and cwmp-1-4.xsd both declare
#: targetNamespace="urn:dslforum-org:cwmp-1-2" and only add header elements
#: (SessionTimeout; SupportedCWMPVersions, UseCWMPVersion), fault 8006 and the
#: "13 WAKEUP" event. The protocol version above 1.2 is negotiated with those
#: headers (TR-069 Amendment 6 section 3.5), not with the namespace.
CWMP_NS_1_2 = "urn:dslforum-org:cwmp-1-2"
#: Not defined by any BBF schema; some CPEs (seen on ZTE/Huawei firmware) send
#: it anyway. Accepted on input and echoed back to the CPE that used it.
CWMP_NS_1_3 = "urn:dslforum-org:cwmp-1-3"
#: Not defined by any BBF schema either (cwmp-1-4.xsd targets cwmp-1-2);
#: accepted for the same reason as CWMP_NS_1_3.
CWMP_NS_1_4 = "urn:dslforum-org:cwmp-1-4"

#: Namespace URI -> the CWMP version it implies. For cwmp-1-2 this is the
#: lowest version using it; the real 1.2/1.3/1.4 version is negotiated.
CWMP_VERSION_BY_NS: dict[str, str] = {
    CWMP_NS_1_0: "1.0",
    CWMP_NS_1_1: "1.1",
    CWMP_NS_1_2: "1.2",
    CWMP_NS_1_3: "1.3",
    CWMP_NS_1_4: "1.4",
}

# --------------------------------------------------------------------------
# Fault codes (TR-069 Amendment 6 A.5.1 CPE fault codes, A.5.2 ACS fault
# codes; wording from the documentation in cwmp-1-2.xsd / cwmp-1-4.xsd)
# --------------------------------------------------------------------------

FAULT_STRINGS: dict[int, str] = {
    8000: "Method not supported",
    8001: "Request denied (no reason specified)",
    8002: "Internal error",
    8003: "Invalid arguments",
    8004: "Resources exceeded",
    8005: "Retry request",
    8006: "ACS version incompatible with CPE",
    9000: "Method not supported",
    9001: "Request denied (no reason specified)",
    9002: "Internal error",
    9003: "Invalid arguments",
    9004: "Resources exceeded",
    9005: "Invalid parameter name",
    9006: "Invalid parameter type",
    9007: "Invalid parameter value",
    9008: "Attempt to set a non-writable parameter",
    9009: "Notification request rejected",
    9010: "File transfer failure",
    9011: "Upload failure",
    9012: "File transfer server authentication failure",
    9013: "Unsupported protocol for file transfer",
    9014: "File transfer failure: unable to join multicast group",
    9015: "File transfer failure: unable to contact file server",
    9016: "File transfer failure: unable to access file",
    9017: "File transfer failure: unable to complete download",
    9018: "File transfer failure: file corrupted",
    9019: "File transfer failure: file authentication failure",
    9020: "File transfer failure: unable to complete download within specified time windows",
    9021: "Cancelation of file transfer not permitted in current transfer state",
    9022: "Invalid UUID Format",
    9023: "Unknown Execution Environment",
    9024: "Disabled Execution Environment",
    9025: "Deployment Unit to Execution Environment Mismatch",
    9026: "Duplicate Deployment Unit",
    9027: "System Resources Exceeded",
    9028: "Unknown Deployment Unit",
    9029: "Invalid Deployment Unit State",
    9030: "Invalid Deployment Unit Update - Downgrade not permitted",
    9031: "Invalid Deployment Unit Update - Version not specified",
    9032: "Invalid Deployment Unit Update - Version already exists",
}

#: Fault codes whose SOAP faultcode is "Client": the fault blames the content
#: of the request (bad arguments, names, types, values, a state the requester
#: should have checked). Everything else, including vendor ranges 8800-8899 and
#: 9800-9899, is "Server": the responder could not or would not carry out a
#: well-formed request. TR-069 section 3.5 says the receiver MAY ignore the
#: SOAP faultcode entirely; the CWMP FaultCode in the detail is what counts.
CLIENT_FAULT_CODES: frozenset[int] = frozenset(
    {
        8003,  # Invalid arguments
        8006,  # ACS version incompatible with CPE (the CPE's offered versions)
        9003,  # Invalid arguments
        9005,  # Invalid parameter name
        9006,  # Invalid parameter type
        9007,  # Invalid parameter value
        9008,  # Attempt to set a non-writable parameter
        9021,  # Cancelation not permitted in current transfer state
        9022,  # Invalid UUID Format
        9023,  # Unknown Execution Environment
        9025,  # Deployment Unit to Execution Environment Mismatch
        9026,  # Duplicate Deployment Unit
        9028,  # Unknown Deployment Unit
        9029,  # Invalid Deployment Unit State
        9030,  # Invalid DU Update - Downgrade not permitted
        9031,  # Invalid DU Update - Version not specified
        9032,  # Invalid DU Update - Version already exists
    }
)


def soap_faultcode_for(fault_code: int) -> str:
    """Pick the SOAP 1.1 faultcode that TR-069 section 3.5 asks for."""
    return "Client" if fault_code in CLIENT_FAULT_CODES else "Server"


# --------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------


class Message:
    """Base of everything that can sit in a SOAP Body."""

    __slots__ = ()


# ---- Faults and the unknown ----


@dataclass(slots=True)
class Fault(Message):
    """A SOAP Fault whose detail carries a CWMP Fault (TR-069 section 3.5, A.5).

    An empty ``fault_string`` is filled with the standard meaning of the code
    and an empty ``soap_faultcode`` with "Client"/"Server" per
    ``soap_faultcode_for``, so ``Fault(9005)`` is a complete fault. A parsed
    SOAP Fault without a CWMP detail gets ``fault_code`` 0.
    """

    fault_code: int = _int("FaultCode")
    fault_string: str = _text("FaultString")
    set_parameter_values_fault: list[SetParameterValuesFault] = _repeated(
        "SetParameterValuesFault", SetParameterValuesFault
    )
    soap_faultcode: str = field(default="", metadata={"kind": "none"})
    soap_faultstring: str = field(default="CWMP fault", metadata={"kind": "none"})

    def __post_init__(self) -> None:
        if not self.fault_string:
            self.fault_string = FAULT_STRINGS.get(self.fault_code, "")
        if not self.soap_faultcode:
            self.soap_faultcode = soap_faultcode_for(self.fault_code)


@dataclass(slots=True)
class UnknownMessage(Message):
    """A Body element the codec does not know, kept so the engine can answer
    8000/9000 Method not supported while still echoing the cwmp:ID."""

    name: str = ""
    namespace: str = ""


# --------------------------------------------------------------------------
# Envelope
# --------------------------------------------------------------------------


@dataclass(slots=True)
class Envelope:
    """One SOAP envelope: a message (or None when the Body is empty) plus the
    CWMP SOAP header fields (TR-069 Amendment 6 section 3.5, SOAP headers).

    ``cwmp_ns`` is the full namespace URI the peer used; answers should reuse
    it. ``no_more_requests`` is the header deprecated in Amendment 1, still
    sent by old CPEs.
    """

    body: Message | None
    cwmp_ns: str
    id: str | None = None
    hold_requests: bool | None = None
    no_more_requests: bool | None = None
    session_timeout: int | None = None
    supported_cwmp_versions: str | None = None
    use_cwmp_version: str | None = None
