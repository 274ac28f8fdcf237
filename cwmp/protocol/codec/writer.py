"""The strict writer: ``cwmp.protocol.messages`` -> one SOAP dialect picky CPEs accept.

The RPC element always carries the literal ``cwmp:`` prefix, inner elements
are unqualified and nothing is self-closed: some CPEs match the ACS's output
textually, so the writer never follows the reader's leniency.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from ..messages import MESSAGE_TYPES, Envelope, Fault, Message, UnknownMessage
from .common import SOAP_ENC_NS, SOAP_ENV_NS, XSD_NS, XSI_NS, CodecError

# --------------------------------------------------------------------------
# Scalars (output)
# --------------------------------------------------------------------------

_UNKNOWN_TIME = "0001-01-01T00:00:00Z"


def format_datetime(value: datetime | None) -> str:
    """xsd:dateTime in UTC with ``Z``; None is TR-069's Unknown Time.

    A naive datetime is taken as UTC. Microseconds are written only when
    non-zero: every CPE reads whole seconds, not every CPE reads fractions.
    """
    if value is None:
        return _UNKNOWN_TIME
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    else:
        try:
            value = value.astimezone(UTC)
        except OverflowError:
            return _UNKNOWN_TIME
    text = (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
        f"T{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    )
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"


# --------------------------------------------------------------------------
# Escaping (output)
# --------------------------------------------------------------------------

_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _check_chars(text: str) -> None:
    if _NOT_XML_CHAR.search(text) is not None:
        raise CodecError(f"{text[:80]!r} contains characters that XML 1.0 cannot carry")


def _esc(text: str) -> str:
    """Escape element text. CR is written as a character reference because a
    parser would otherwise normalise it to LF and the value would change."""
    if not isinstance(text, str):
        text = str(text)
    _check_chars(text)
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return text


def _esc_attr(text: str) -> str:
    text = _esc(text)
    if '"' in text:
        text = text.replace('"', "&quot;")
    if "\n" in text or "\t" in text:
        text = text.replace("\n", "&#10;").replace("\t", "&#9;")
    return text


# --------------------------------------------------------------------------
# Encoders: how each dataclass is written as XML, compiled once per class
# --------------------------------------------------------------------------

_Encoder = Callable[[Any, list[str]], None]

_ENCODERS: dict[type, list[_Encoder]] = {}
_ENCODERS_LOCK = threading.Lock()


def _encoders(cls: type) -> list[_Encoder]:
    encoders = _ENCODERS.get(cls)
    if encoders is None:
        with _ENCODERS_LOCK:
            encoders = _ENCODERS.get(cls)
            if encoders is None:
                encoders = _build_encoders(cls)
                _ENCODERS[cls] = encoders
    return encoders


def _build_encoders(cls: type) -> list[_Encoder]:
    encoders: list[_Encoder] = []
    for f in fields(cls):
        meta = f.metadata
        kind = meta.get("kind")
        if kind is None or kind == "none":
            continue
        xml: str = meta["xml"]
        where = f"{cls.__name__}/{xml}"
        encoders.append(_ENCODER_BUILDERS[kind](f.name, xml, where, meta))
    return encoders


def _str_encoder(attr: str, xml: str, where: str, meta: Any) -> _Encoder:
    open_, close = f"<{xml}>", f"</{xml}>"
    optional = meta.get("optional", False)

    def enc(obj: Any, out: list[str]) -> None:
        value = getattr(obj, attr)
        if optional and not value:
            return
        out.append(open_ + _esc(value) + close)

    return enc


def _int_encoder(attr: str, xml: str, where: str, meta: Any) -> _Encoder:
    open_, close = f"<{xml}>", f"</{xml}>"

    def enc(obj: Any, out: list[str]) -> None:
        out.append(open_ + str(int(getattr(obj, attr))) + close)

    return enc


def _bool_encoder(attr: str, xml: str, where: str, meta: Any) -> _Encoder:
    open_, close = f"<{xml}>", f"</{xml}>"
    true_, false_ = open_ + "1" + close, open_ + "0" + close

    def enc(obj: Any, out: list[str]) -> None:
        out.append(true_ if getattr(obj, attr) else false_)

    return enc


def _time_encoder(attr: str, xml: str, where: str, meta: Any) -> _Encoder:
    open_, close = f"<{xml}>", f"</{xml}>"
    optional = meta.get("optional", False)

    def enc(obj: Any, out: list[str]) -> None:
        value = getattr(obj, attr)
        if optional and value is None:
            return
        out.append(open_ + format_datetime(value) + close)

    return enc


def _value_encoder(attr: str, xml: str, where: str, meta: Any) -> _Encoder:
    # ParameterValueStruct.Value: xs:anySimpleType, so TR-069 section 3.5
    # requires an xsi:type; a value read without one goes out as xsd:string.
    def enc(obj: Any, out: list[str]) -> None:
        out.append(
            '<Value xsi:type="'
            + _esc_attr(obj.type or "xsd:string")
            + '">'
            + _esc(getattr(obj, attr))
            + "</Value>"
        )

    return enc


def _struct_encoder(attr: str, xml: str, where: str, meta: Any) -> _Encoder:
    open_, close = f"<{xml}>", f"</{xml}>"

    def enc(obj: Any, out: list[str]) -> None:
        out.append(open_)
        _encode_into(getattr(obj, attr), out)
        out.append(close)

    return enc


def _array_encoder(attr: str, xml: str, where: str, meta: Any) -> _Encoder:
    # SOAP-ENC arrays (TR-069 section 3.5), with the arrayType count the
    # schemas ask for.
    item = meta["item"]
    item_tag = meta["item_tag"]
    open_head = f'<{xml} soap-enc:arrayType="{meta["array_type"]}['
    close = f"</{xml}>"
    item_open, item_close = f"<{item_tag}>", f"</{item_tag}>"

    if item == "str":

        def enc(obj: Any, out: list[str]) -> None:
            values = getattr(obj, attr)
            out.append(f'{open_head}{len(values)}]">')
            for value in values:
                out.append(item_open + _esc(value) + item_close)
            out.append(close)

    else:

        def enc(obj: Any, out: list[str]) -> None:
            values = getattr(obj, attr)
            out.append(f'{open_head}{len(values)}]">')
            for value in values:
                out.append(item_open)
                _encode_into(value, out)
                out.append(item_close)
            out.append(close)

    return enc


def _repeated_encoder(attr: str, xml: str, where: str, meta: Any) -> _Encoder:
    # Sibling elements with one name, as cwmp-1-2.xsd declares ChangeDUState
    # Operations and DUStateChangeComplete Results. With several classes the
    # member's class travels in xsi:type (OperationStruct is abstract).
    classes: tuple[type, ...] = meta["cls"]
    by_name = {c.__name__: c for c in classes}
    polymorphic = len(classes) > 1
    open_, close = f"<{xml}>", f"</{xml}>"

    def enc(obj: Any, out: list[str]) -> None:
        for value in getattr(obj, attr):
            if polymorphic:
                name = type(value).__name__
                if name not in by_name:
                    raise TypeError(f"{where}: cannot encode {name}")
                out.append(f'<{xml} xsi:type="cwmp:{name}">')
            else:
                out.append(open_)
            _encode_into(value, out)
            out.append(close)

    return enc


_ENCODER_BUILDERS: dict[str, Callable[..., _Encoder]] = {
    "str": _str_encoder,
    "int": _int_encoder,
    "bool": _bool_encoder,
    "time": _time_encoder,
    "value": _value_encoder,
    "struct": _struct_encoder,
    "array": _array_encoder,
    "repeated": _repeated_encoder,
}


def _encode_into(obj: Any, out: list[str]) -> None:
    for enc in _encoders(type(obj)):
        enc(obj, out)


# --------------------------------------------------------------------------
# serialize
# --------------------------------------------------------------------------

_ENVELOPE_OPEN = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    f'<soap-env:Envelope xmlns:soap-env="{SOAP_ENV_NS}" xmlns:soap-enc="{SOAP_ENC_NS}"'
    f' xmlns:xsd="{XSD_NS}" xmlns:xsi="{XSI_NS}" xmlns:cwmp="'
)
_NCNAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")


def _header_entry(name: str, must_understand: str, text: str) -> str:
    return f'<cwmp:{name} soap-env:mustUnderstand="{must_understand}">{_esc(text)}</cwmp:{name}>'


def serialize(envelope: Envelope) -> bytes:
    """Envelope -> UTF-8 SOAP with an XML declaration, in the one dialect the
    ACS and the simulator write (see the module docstring).

    mustUnderstand follows the schemas: 1 for ID, HoldRequests and
    UseCWMPVersion, 0 for NoMoreRequests, SessionTimeout and
    SupportedCWMPVersions. Booleans are written 1/0.
    """
    ns = envelope.cwmp_ns
    if not ns:
        raise ValueError("Envelope.cwmp_ns must be set")
    out = [_ENVELOPE_OPEN, _esc_attr(ns), '">']

    headers = []
    if envelope.id is not None:
        headers.append(_header_entry("ID", "1", envelope.id))
    if envelope.hold_requests is not None:
        headers.append(_header_entry("HoldRequests", "1", "1" if envelope.hold_requests else "0"))
    if envelope.no_more_requests is not None:
        headers.append(
            _header_entry("NoMoreRequests", "0", "1" if envelope.no_more_requests else "0")
        )
    if envelope.session_timeout is not None:
        headers.append(_header_entry("SessionTimeout", "0", str(int(envelope.session_timeout))))
    if envelope.supported_cwmp_versions is not None:
        headers.append(
            _header_entry("SupportedCWMPVersions", "0", envelope.supported_cwmp_versions)
        )
    if envelope.use_cwmp_version is not None:
        headers.append(_header_entry("UseCWMPVersion", "1", envelope.use_cwmp_version))
    if headers:
        out.append("<soap-env:Header>")
        out.extend(headers)
        out.append("</soap-env:Header>")

    out.append("<soap-env:Body>")
    body = envelope.body
    if body is not None:
        _encode_body(body, out, ns)
    out.append("</soap-env:Body></soap-env:Envelope>")
    return "".join(out).encode("utf-8")


def _encode_body(body: Message, out: list[str], cwmp_ns: str) -> None:
    cls = type(body)
    if cls is Fault:
        _encode_fault(body, out)  # type: ignore[arg-type]
        return
    if cls is UnknownMessage:
        _encode_unknown(body, out, cwmp_ns)  # type: ignore[arg-type]
        return
    name = cls.__name__
    if MESSAGE_TYPES.get(name) is not cls:
        raise TypeError(f"cannot serialize {cls!r} as a CWMP message")
    out.append(f"<cwmp:{name}>")
    _encode_into(body, out)
    out.append(f"</cwmp:{name}>")


def _encode_fault(fault: Fault, out: list[str]) -> None:
    # TR-069 section 3.5: faultcode Client/Server unqualified, faultstring
    # "CWMP fault", detail holding the cwmp:Fault structure.
    out.append(
        "<soap-env:Fault><faultcode>"
        + _esc(fault.soap_faultcode)
        + "</faultcode><faultstring>"
        + _esc(fault.soap_faultstring)
        + "</faultstring><detail><cwmp:Fault>"
    )
    _encode_into(fault, out)
    out.append("</cwmp:Fault></detail></soap-env:Fault>")


def _encode_unknown(msg: UnknownMessage, out: list[str], cwmp_ns: str) -> None:
    # Lets the simulator send vendor methods; the element keeps its namespace
    # so that parse() gives back an equal UnknownMessage.
    name = msg.name
    if _NCNAME_RE.match(name) is None:
        raise CodecError(f"{name!r} is not a valid element name")
    if msg.namespace == cwmp_ns:
        out.append(f"<cwmp:{name}></cwmp:{name}>")
    elif not msg.namespace:
        out.append(f"<{name}></{name}>")
    else:
        out.append(f'<u:{name} xmlns:u="{_esc_attr(msg.namespace)}"></u:{name}>')
