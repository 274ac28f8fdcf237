"""SOAP/XML codec for CWMP (TR-069 Amendment 6, CWMP 1.0-1.4).

``parse`` reads what real CPEs send, which is often not what the standard says:
any SOAP prefix or even a wrong SOAP namespace, qualified or unqualified inner
elements, pretty-printed bodies, missing or lying ``arrayType`` counts, values
without ``xsi:type``, sloppy booleans and timestamps. It is also the first thing
an unauthenticated peer reaches, so it refuses DTDs, oversize and over-deep
documents before they can cost anything.

``serialize`` writes one strict dialect that the BBF schemas accept and that
picky CPEs match textually: the RPC element always carries the literal
``cwmp:`` prefix, inner elements are unqualified, and nothing is self-closed.

Both directions are driven by the field declarations in ``cwmp.protocol.messages``; no
message has hand-written XML code. Pure Python plus lxml, no Django.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from lxml import etree

from .messages import (
    CWMP_NS_1_0,
    MESSAGE_TYPES,
    Envelope,
    Fault,
    Message,
    UnknownMessage,
)

SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP_ENC_NS = "http://schemas.xmlsoap.org/soap/encoding/"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

#: Deepest element nesting accepted. A CWMP message needs about 8 levels.
MAX_DEPTH = 64
#: Default cap on the size of a body handed to ``parse``.
MAX_BYTES = 2_000_000

_XSI_TYPE = f"{{{XSI_NS}}}type"
# Namespaces whose types are written back as "xsd:<local>": the 2001 XML
# Schema namespace, its pre-recommendation drafts (old SOAP stacks still emit
# them) and SOAP-ENC, whose simple types mirror the XSD ones.
_XSD_LIKE_NS = frozenset(
    {
        XSD_NS,
        "http://www.w3.org/2000/10/XMLSchema",
        "http://www.w3.org/1999/XMLSchema",
        SOAP_ENC_NS,
    }
)
_UNKNOWN_TIME = "0001-01-01T00:00:00Z"
_CWMP_NS_STEM = "urn:dslforum-org:cwmp-"


class CodecError(Exception):
    """A body that cannot be turned into a message (or a message into XML).

    ``fault_code`` is the ACS fault the engine should answer with (TR-069
    A.5.2): 8002 when the body is not a usable SOAP envelope at all, 8003 when
    it is a known message with an argument of the wrong form.
    """

    def __init__(self, message: str, fault_code: int = 8002) -> None:
        super().__init__(message)
        self.message = message
        self.fault_code = fault_code


# --------------------------------------------------------------------------
# Scalars
# --------------------------------------------------------------------------

_DATETIME_RE = re.compile(
    r"\s*(\d{4})-(\d{1,2})-(\d{1,2})[Tt ](\d{1,2}):(\d{1,2}):(\d{1,2})"
    r"(?:[.,](\d+))?\s*(?:([Zz])|([+-])(\d{1,2})(?::?(\d{2}))?)?\s*\Z"
)


def parse_datetime(text: str | None) -> datetime | None:
    """Lenient xsd:dateTime reader that never raises.

    A CPE with a wrong clock or a home-grown formatter must not lose its whole
    Inform, so anything unreadable becomes None. A value without a zone is
    taken as UTC; more than 6 fractional digits are truncated; ``24:00:00`` is
    the next midnight. TR-069's "Unknown Time" 0001-01-01T00:00:00Z is None.
    """
    if not text:
        return None
    match = _DATETIME_RE.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, frac, _zulu, sign, oh, om = match.groups()
    try:
        y, mo, d = int(year), int(month), int(day)
        h, mi, s = int(hour), int(minute), int(second)
        if y == 1 and mo == 1 and d == 1 and h == 0 and mi == 0 and s == 0:
            return None
        tz: timezone = UTC
        if sign is not None:
            offset = timedelta(hours=int(oh), minutes=int(om or 0))
            tz = timezone(-offset if sign == "-" else offset)
        usec = int((frac or "")[:6].ljust(6, "0"))
        if s == 60:  # leap second: the instant before is close enough
            s = 59
        if h == 24 and mi == 0 and s == 0 and usec == 0:
            return datetime(y, mo, d, 0, 0, 0, tzinfo=tz) + timedelta(days=1)
        return datetime(y, mo, d, h, mi, s, usec, tzinfo=tz)
    except (ValueError, OverflowError):
        return None


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


def parse_bool(text: str | None) -> bool | None:
    """xsd:boolean in any case and with stray whitespace; None if not one."""
    if text is None:
        return None
    word = text.strip().lower()
    if word in ("1", "true"):
        return True
    if word in ("0", "false"):
        return False
    return None


_INT_RE = re.compile(r"\s*[+-]?[0-9]{1,20}\s*\Z")


def _parse_int(text: str | None) -> int | None:
    if text is None or _INT_RE.match(text) is None:
        return None
    return int(text)


def normalize_xsi_type(raw: str, nsmap: dict[str | None, str] | None = None) -> str | None:
    """Rewrite an xsi:type QName to the ``xsd:<local>`` form.

    CPEs write ``xsd:string``, ``xs:string``, a bare ``string`` or bind some
    other prefix to the XML Schema namespace. When the prefix resolves (through
    ``nsmap``) to XML Schema or SOAP-ENC, when it is unbound, or when there is
    no prefix, the result is ``xsd:<local>``; a prefix bound to some other
    namespace (a vendor type) is kept as written.
    """
    raw = raw.strip()
    if not raw:
        return None
    prefix, sep, local = raw.rpartition(":")
    if not sep:
        return "xsd:" + raw
    if prefix == "xsd":
        return raw
    ns = nsmap.get(prefix) if nsmap else None
    if ns is None or ns in _XSD_LIKE_NS:
        return "xsd:" + local
    return raw


def _xsi_type_of(el: Any) -> str | None:
    raw = el.get(_XSI_TYPE)
    if raw is None:
        # An xsi prefix bound to an outdated or mistyped namespace, or no
        # prefix at all: any attribute called "type" is the intended one.
        for key, val in el.items():
            if key == "type" or key.endswith("}type"):
                raw = val
                break
        else:
            return None
    if raw.startswith("xsd:"):
        return raw.strip()
    return normalize_xsi_type(raw, el.nsmap)


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
# Plans: what each dataclass looks like in XML, compiled once per class
# --------------------------------------------------------------------------

_Decoder = Callable[[Any, dict[str, Any]], None]
_Encoder = Callable[[Any, list[str]], None]


class _Plan:
    __slots__ = ("cls", "decoders", "encoders")

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.decoders: dict[str, _Decoder] = {}
        self.encoders: list[_Encoder] = []


_PLANS: dict[type, _Plan] = {}
_PLAN_LOCK = threading.Lock()


def _plan(cls: type) -> _Plan:
    plan = _PLANS.get(cls)
    if plan is None:
        with _PLAN_LOCK:
            plan = _PLANS.get(cls)
            if plan is None:
                plan = _build_plan(cls)
                _PLANS[cls] = plan
    return plan


def _local(tag: str) -> str:
    return tag[tag.rfind("}") + 1 :]


def _namespace(tag: str) -> str:
    return tag[1 : tag.index("}")] if tag[:1] == "{" else ""


def _text_of(el: Any) -> str:
    """Exact text of a leaf element; a string value is never stripped."""
    if len(el):
        return "".join(el.itertext())
    return el.text or ""


def _bad(where: str, what: str, text: str | None) -> CodecError:
    return CodecError(f"{where}: {text!r} is not {what}", 8003)


def _build_plan(cls: type) -> _Plan:
    plan = _Plan(cls)
    for f in fields(cls):
        meta = f.metadata
        kind = meta.get("kind")
        if kind is None or kind == "none":
            continue
        xml: str = meta["xml"]
        where = f"{cls.__name__}/{xml}"
        dec, enc = _FIELD_BUILDERS[kind](f.name, xml, where, meta)
        plan.decoders[xml] = dec
        plan.encoders.append(enc)
    return plan


def _str_field(attr: str, xml: str, where: str, meta: Any) -> tuple[_Decoder, _Encoder]:
    open_, close = f"<{xml}>", f"</{xml}>"
    optional = meta.get("optional", False)

    def dec(el: Any, kw: dict[str, Any]) -> None:
        kw[attr] = _text_of(el)

    def enc(obj: Any, out: list[str]) -> None:
        value = getattr(obj, attr)
        if optional and not value:
            return
        out.append(open_ + _esc(value) + close)

    return dec, enc


def _int_field(attr: str, xml: str, where: str, meta: Any) -> tuple[_Decoder, _Encoder]:
    open_, close = f"<{xml}>", f"</{xml}>"

    def dec(el: Any, kw: dict[str, Any]) -> None:
        text = el.text
        if text is None or not text.strip():
            return  # empty element: keep the field default
        value = _parse_int(text)
        if value is None:
            raise _bad(where, "an integer", text)
        kw[attr] = value

    def enc(obj: Any, out: list[str]) -> None:
        out.append(open_ + str(int(getattr(obj, attr))) + close)

    return dec, enc


def _bool_field(attr: str, xml: str, where: str, meta: Any) -> tuple[_Decoder, _Encoder]:
    open_, close = f"<{xml}>", f"</{xml}>"
    true_, false_ = open_ + "1" + close, open_ + "0" + close

    def dec(el: Any, kw: dict[str, Any]) -> None:
        text = el.text
        if text is None or not text.strip():
            return
        value = parse_bool(text)
        if value is None:
            raise _bad(where, "a boolean", text)
        kw[attr] = value

    def enc(obj: Any, out: list[str]) -> None:
        out.append(true_ if getattr(obj, attr) else false_)

    return dec, enc


def _time_field(attr: str, xml: str, where: str, meta: Any) -> tuple[_Decoder, _Encoder]:
    open_, close = f"<{xml}>", f"</{xml}>"
    optional = meta.get("optional", False)

    def dec(el: Any, kw: dict[str, Any]) -> None:
        kw[attr] = parse_datetime(el.text)

    def enc(obj: Any, out: list[str]) -> None:
        value = getattr(obj, attr)
        if optional and value is None:
            return
        out.append(open_ + format_datetime(value) + close)

    return dec, enc


def _value_field(attr: str, xml: str, where: str, meta: Any) -> tuple[_Decoder, _Encoder]:
    # ParameterValueStruct.Value: xs:anySimpleType, so TR-069 section 3.5
    # requires an xsi:type; the type is kept next to the raw text.
    def dec(el: Any, kw: dict[str, Any]) -> None:
        kw[attr] = _text_of(el)
        kw["type"] = _xsi_type_of(el)

    def enc(obj: Any, out: list[str]) -> None:
        out.append(
            '<Value xsi:type="'
            + _esc_attr(obj.type or "xsd:string")
            + '">'
            + _esc(getattr(obj, attr))
            + "</Value>"
        )

    return dec, enc


def _struct_field(attr: str, xml: str, where: str, meta: Any) -> tuple[_Decoder, _Encoder]:
    cls = meta["cls"]
    open_, close = f"<{xml}>", f"</{xml}>"

    def dec(el: Any, kw: dict[str, Any]) -> None:
        kw[attr] = _decode(el, cls)

    def enc(obj: Any, out: list[str]) -> None:
        out.append(open_)
        _encode_into(getattr(obj, attr), out)
        out.append(close)

    return dec, enc


def _array_field(attr: str, xml: str, where: str, meta: Any) -> tuple[_Decoder, _Encoder]:
    # SOAP-ENC arrays (TR-069 section 3.5). Every element child is a member,
    # whatever its name, and the arrayType count is never trusted.
    item = meta["item"]
    item_tag = meta["item_tag"]
    open_head = f'<{xml} soap-enc:arrayType="{meta["array_type"]}['
    close = f"</{xml}>"
    item_open, item_close = f"<{item_tag}>", f"</{item_tag}>"

    if item == "str":

        def dec(el: Any, kw: dict[str, Any]) -> None:
            kw[attr] = [_text_of(c) for c in el if c.tag.__class__ is str]

        def enc(obj: Any, out: list[str]) -> None:
            values = getattr(obj, attr)
            out.append(f'{open_head}{len(values)}]">')
            for value in values:
                out.append(item_open + _esc(value) + item_close)
            out.append(close)

    else:

        def dec(el: Any, kw: dict[str, Any]) -> None:
            kw[attr] = [_decode(c, item) for c in el if c.tag.__class__ is str]

        def enc(obj: Any, out: list[str]) -> None:
            values = getattr(obj, attr)
            out.append(f'{open_head}{len(values)}]">')
            for value in values:
                out.append(item_open)
                _encode_into(value, out)
                out.append(item_close)
            out.append(close)

    return dec, enc


def _repeated_field(attr: str, xml: str, where: str, meta: Any) -> tuple[_Decoder, _Encoder]:
    # Sibling elements with one name, as cwmp-1-2.xsd declares ChangeDUState
    # Operations and DUStateChangeComplete Results. With several classes the
    # member's class travels in xsi:type (OperationStruct is abstract).
    classes: tuple[type, ...] = meta["cls"]
    by_name = {c.__name__: c for c in classes}
    polymorphic = len(classes) > 1
    # Some stacks wrap the members in a SOAP array instead; recognise it by
    # member elements named after a struct type.
    wrapped_names = set(by_name) | {"OperationStruct"}
    open_, close = f"<{xml}>", f"</{xml}>"

    def member_class(el: Any) -> type:
        if not polymorphic:
            return classes[0]
        raw = _xsi_type_of(el)
        cls = by_name.get(raw.rpartition(":")[2]) if raw else None
        if cls is None:
            raise _bad(where, "typed as one of " + "/".join(by_name), raw)
        return cls

    def dec(el: Any, kw: dict[str, Any]) -> None:
        members = kw.setdefault(attr, [])
        children = [c for c in el if c.tag.__class__ is str]
        if children and _local(children[0].tag) in wrapped_names:
            members.extend(_decode(c, member_class(c)) for c in children)
        else:
            members.append(_decode(el, member_class(el)))

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

    return dec, enc


_FIELD_BUILDERS: dict[str, Callable[..., tuple[_Decoder, _Encoder]]] = {
    "str": _str_field,
    "int": _int_field,
    "bool": _bool_field,
    "time": _time_field,
    "value": _value_field,
    "struct": _struct_field,
    "array": _array_field,
    "repeated": _repeated_field,
}


def _decode(el: Any, cls: type) -> Any:
    """Build ``cls`` from ``el`` in one pass over its children, matched by
    local name so any prefix or none works; unknown children are ignored and
    missing ones keep the dataclass default."""
    decoders = _plan(cls).decoders
    kw: dict[str, Any] = {}
    for child in el:
        tag = child.tag
        if tag.__class__ is not str:
            continue
        dec = decoders.get(tag[tag.rfind("}") + 1 :])
        if dec is not None:
            dec(child, kw)
    return cls(**kw)


def _encode_into(obj: Any, out: list[str]) -> None:
    for enc in _plan(type(obj)).encoders:
        enc(obj, out)


# --------------------------------------------------------------------------
# parse
# --------------------------------------------------------------------------

_BLANK_RE = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*\Z")
_LEADING_RE = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*")
# Only ASCII-compatible encodings, so that parse()'s byte scan for "<!DOCTYPE"
# sees what the parser will see (UTF-7 or EBCDIC could hide it).
_ENCODING_RE = re.compile(rb"<\?xml[^>]{0,200}?encoding\s*=\s*[\"']([A-Za-z0-9._:-]{1,40})[\"']")
_ENCODINGS = frozenset(
    {b"utf-8", b"utf8", b"us-ascii", b"ascii", b"iso-8859-1", b"latin1", b"iso-8859-15"}
    | {b"windows-1252", b"cp1252"}
)
_tls = threading.local()


def _tools() -> tuple[Any, Any]:
    """Per-thread parser and depth probe: lxml parsers are not meant to be
    shared between threads, and building them per call costs more than the
    parse of a small Inform."""
    tools = getattr(_tls, "tools", None)
    if tools is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            attribute_defaults=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
            collect_ids=False,
            recover=False,
        )
        too_deep = etree.XPath("boolean(" + "/*" * (MAX_DEPTH + 1) + ")")
        tools = _tls.tools = (parser, too_deep)
    return tools


def is_empty(body: bytes | None) -> bool:
    """True for a blank POST (nothing, or whitespace / a BOM only), which
    TR-069 section 3.7 uses for "the CPE has nothing more to send"."""
    return not body or _BLANK_RE.match(body) is not None


def precheck(body: bytes, *, max_bytes: int = MAX_BYTES) -> bytes:
    """The checks ``parse`` makes before any XML parser runs; raises CodecError.

    Cheap (a length, a few byte searches), so the view can refuse a hostile
    body before deciding anything else about it.
    """
    if not isinstance(body, bytes):
        if isinstance(body, bytearray | memoryview):
            body = bytes(body)
        else:
            raise TypeError("parse() takes the raw HTTP body as bytes")
    if len(body) > max_bytes:
        raise CodecError(f"body of {len(body)} bytes is over the {max_bytes}-byte limit")
    start = _LEADING_RE.match(body).end()  # type: ignore[union-attr]
    if start >= len(body):
        raise CodecError("body is empty")
    if body[start] != 0x3C:  # "<"
        raise CodecError("body is not XML (or not in an ASCII-compatible encoding)")
    declared = _ENCODING_RE.match(body, start)
    if declared is not None and declared.group(1).lower() not in _ENCODINGS:
        raise CodecError(f"encoding {declared.group(1).decode('ascii')!r} is not accepted")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise CodecError("DOCTYPE and ENTITY declarations are refused")
    return body


# A start tag of an element named Inform, with any prefix or none. XML text
# cannot hold a raw "<", so only markup matches (InformResponse does not).
_INFORM_TAG_RE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?Inform[\s/>]")


def looks_like_inform(body: bytes) -> bool:
    """Whether a body holds an Inform, without parsing it.

    For the first POST of a session, which carries no credentials and only
    earns a 401 challenge: parsing it would be spent twice.
    """
    return _INFORM_TAG_RE.search(body) is not None


def parse(body: bytes, *, max_bytes: int = MAX_BYTES) -> Envelope:
    """Turn a non-blank HTTP body into an Envelope or raise CodecError.

    Hardening, in order: size cap; the first significant byte must be ``<``
    (so UTF-16/32 and binary junk stop here); a declared encoding must be
    ASCII-compatible (UTF-8, ASCII, Latin-1/-15, cp1252); any DOCTYPE or ENTITY text is
    refused before the parser runs, so no entity is ever declared, let alone
    expanded; a parser that resolves nothing and loads nothing; libxml2's own
    depth limit; then ``MAX_DEPTH``. Invalid UTF-8 and unknown encodings are
    parser errors. All of these are fault 8002.
    """
    body = precheck(body, max_bytes=max_bytes)
    parser, too_deep = _tools()
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise CodecError(f"malformed XML: {exc}") from None
    if root is None:
        raise CodecError("body holds no XML element")
    if root.getroottree().docinfo.doctype:
        raise CodecError("DOCTYPE declarations are refused")
    if too_deep(root):
        raise CodecError(f"XML nested deeper than {MAX_DEPTH} elements")
    return _decode_envelope(root)


def _decode_envelope(root: Any) -> Envelope:
    # Envelope, Header and Body are found by local name: CPEs use every prefix
    # imaginable and a few bind it to a wrong SOAP namespace URI.
    if _local(root.tag) != "Envelope":
        raise CodecError(f"root element is <{_local(root.tag)}>, not a SOAP Envelope")
    header = body = None
    for child in root:
        tag = child.tag
        if tag.__class__ is not str:
            continue
        name = _local(tag)
        if name == "Body" and body is None:
            body = child
        elif name == "Header" and header is None:
            header = child
    if body is None:
        raise CodecError("SOAP Envelope has no Body")

    envelope = Envelope(body=None, cwmp_ns="")
    header_ns = _decode_header(header, envelope) if header is not None else ""

    rpc = next((c for c in body if c.tag.__class__ is str), None)
    rpc_ns = ""
    if rpc is not None:
        name = _local(rpc.tag)
        if name == "Fault":
            envelope.body, rpc_ns = _decode_fault(rpc)
        else:
            rpc_ns = _namespace(rpc.tag)
            cls = MESSAGE_TYPES.get(name)
            if cls is not None:
                envelope.body = _decode(rpc, cls)
            else:
                envelope.body = UnknownMessage(name, rpc_ns)
                if not rpc_ns.startswith(_CWMP_NS_STEM):
                    rpc_ns = ""  # a vendor namespace says nothing about CWMP's
    envelope.cwmp_ns = rpc_ns or header_ns or CWMP_NS_1_0
    return envelope


def _decode_header(header: Any, envelope: Envelope) -> str:
    """Fill the header fields; return the namespace of the ID (else of the
    first CWMP header element), the fallback for the CWMP namespace. Header values never
    fail a session: an unreadable one is left as None. Elements the ACS does
    not know are ignored whatever their mustUnderstand says."""
    ns = ""
    for child in header:
        tag = child.tag
        if tag.__class__ is not str:
            continue
        name = _local(tag)
        if name == "ID":
            if envelope.id is None:
                envelope.id = _text_of(child)
        elif name == "HoldRequests":
            envelope.hold_requests = parse_bool(child.text)
        elif name == "NoMoreRequests":
            envelope.no_more_requests = parse_bool(child.text)
        elif name == "SessionTimeout":
            envelope.session_timeout = _parse_int(child.text)
        elif name == "SupportedCWMPVersions":
            envelope.supported_cwmp_versions = (child.text or "").strip()
        elif name == "UseCWMPVersion":
            envelope.use_cwmp_version = (child.text or "").strip()
        else:
            continue
        if not ns or name == "ID":
            ns = _namespace(tag) or ns
    return ns


def _decode_fault(el: Any) -> tuple[Fault, str]:
    """SOAP Fault -> Fault; also accepts a bare cwmp:Fault put straight in the
    Body. Returns the namespace of the CWMP Fault element ("" if none)."""
    soap_code = soap_string = ""
    detail_fault = None
    for child in el:
        tag = child.tag
        if tag.__class__ is not str:
            continue
        name = _local(tag)
        if name == "FaultCode":  # the Body element itself is the cwmp:Fault
            detail_fault = el
            break
        if name == "faultcode":
            soap_code = (child.text or "").strip().rpartition(":")[2]
        elif name == "faultstring":
            soap_string = child.text or ""
        elif name.lower() == "detail":
            for item in child:
                if item.tag.__class__ is str and _local(item.tag) == "Fault":
                    detail_fault = item
                    break
    if detail_fault is None:
        fault = Fault(fault_code=0, fault_string=soap_string)
        ns = ""
    else:
        fault = _decode(detail_fault, Fault)
        ns = _namespace(detail_fault.tag)
    if soap_code:
        fault.soap_faultcode = soap_code
    if detail_fault is not el:
        fault.soap_faultstring = soap_string
    return fault, ns


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
