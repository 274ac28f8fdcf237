"""The hardened reader: CWMP SOAP as real CPEs send it -> ``cwmp.protocol.messages``.

It is the first thing an unauthenticated peer reaches, so the checks that
refuse DTDs, oversize and over-deep documents live with it, and the lenient
scalar readers it needs (a CPE with a home-grown formatter must not lose its
whole Inform) are kept apart from the strict writer.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from lxml import etree

from ..messages import CWMP_NS_1_0, MESSAGE_TYPES, Envelope, Fault, UnknownMessage
from .common import SOAP_ENC_NS, XSD_NS, XSI_NS, CodecError

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
_CWMP_NS_STEM = "urn:dslforum-org:cwmp-"


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
# Decoders: how each dataclass is read from XML, compiled once per class
# --------------------------------------------------------------------------

_Decoder = Callable[[Any, dict[str, Any]], None]

_DECODERS: dict[type, dict[str, _Decoder]] = {}
_DECODERS_LOCK = threading.Lock()


def _decoders(cls: type) -> dict[str, _Decoder]:
    decoders = _DECODERS.get(cls)
    if decoders is None:
        with _DECODERS_LOCK:
            decoders = _DECODERS.get(cls)
            if decoders is None:
                decoders = _build_decoders(cls)
                _DECODERS[cls] = decoders
    return decoders


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


def _build_decoders(cls: type) -> dict[str, _Decoder]:
    decoders: dict[str, _Decoder] = {}
    for f in fields(cls):
        meta = f.metadata
        kind = meta.get("kind")
        if kind is None or kind == "none":
            continue
        xml: str = meta["xml"]
        where = f"{cls.__name__}/{xml}"
        decoders[xml] = _DECODER_BUILDERS[kind](f.name, xml, where, meta)
    return decoders


def _str_decoder(attr: str, xml: str, where: str, meta: Any) -> _Decoder:
    def dec(el: Any, kw: dict[str, Any]) -> None:
        kw[attr] = _text_of(el)

    return dec


def _int_decoder(attr: str, xml: str, where: str, meta: Any) -> _Decoder:
    def dec(el: Any, kw: dict[str, Any]) -> None:
        text = el.text
        if text is None or not text.strip():
            return  # empty element: keep the field default
        value = _parse_int(text)
        if value is None:
            raise _bad(where, "an integer", text)
        kw[attr] = value

    return dec


def _bool_decoder(attr: str, xml: str, where: str, meta: Any) -> _Decoder:
    def dec(el: Any, kw: dict[str, Any]) -> None:
        text = el.text
        if text is None or not text.strip():
            return
        value = parse_bool(text)
        if value is None:
            raise _bad(where, "a boolean", text)
        kw[attr] = value

    return dec


def _time_decoder(attr: str, xml: str, where: str, meta: Any) -> _Decoder:
    def dec(el: Any, kw: dict[str, Any]) -> None:
        kw[attr] = parse_datetime(el.text)

    return dec


def _value_decoder(attr: str, xml: str, where: str, meta: Any) -> _Decoder:
    # ParameterValueStruct.Value: xs:anySimpleType, so TR-069 section 3.5
    # requires an xsi:type; the type is kept next to the raw text.
    def dec(el: Any, kw: dict[str, Any]) -> None:
        kw[attr] = _text_of(el)
        kw["type"] = _xsi_type_of(el)

    return dec


def _struct_decoder(attr: str, xml: str, where: str, meta: Any) -> _Decoder:
    cls = meta["cls"]

    def dec(el: Any, kw: dict[str, Any]) -> None:
        kw[attr] = _decode(el, cls)

    return dec


def _array_decoder(attr: str, xml: str, where: str, meta: Any) -> _Decoder:
    # SOAP-ENC arrays (TR-069 section 3.5). Every element child is a member,
    # whatever its name, and the arrayType count is never trusted.
    item = meta["item"]

    if item == "str":

        def dec(el: Any, kw: dict[str, Any]) -> None:
            kw[attr] = [_text_of(c) for c in el if c.tag.__class__ is str]

    else:

        def dec(el: Any, kw: dict[str, Any]) -> None:
            kw[attr] = [_decode(c, item) for c in el if c.tag.__class__ is str]

    return dec


def _repeated_decoder(attr: str, xml: str, where: str, meta: Any) -> _Decoder:
    # Sibling elements with one name, as cwmp-1-2.xsd declares ChangeDUState
    # Operations and DUStateChangeComplete Results. With several classes the
    # member's class travels in xsi:type (OperationStruct is abstract).
    classes: tuple[type, ...] = meta["cls"]
    by_name = {c.__name__: c for c in classes}
    polymorphic = len(classes) > 1
    # Some stacks wrap the members in a SOAP array instead; recognise it by
    # member elements named after a struct type.
    wrapped_names = set(by_name) | {"OperationStruct"}

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

    return dec


_DECODER_BUILDERS: dict[str, Callable[..., _Decoder]] = {
    "str": _str_decoder,
    "int": _int_decoder,
    "bool": _bool_decoder,
    "time": _time_decoder,
    "value": _value_decoder,
    "struct": _struct_decoder,
    "array": _array_decoder,
    "repeated": _repeated_decoder,
}


def _decode(el: Any, cls: type) -> Any:
    """Build ``cls`` from ``el`` in one pass over its children, matched by
    local name so any prefix or none works; unknown children are ignored and
    missing ones keep the dataclass default."""
    decoders = _decoders(cls)
    kw: dict[str, Any] = {}
    for child in el:
        tag = child.tag
        if tag.__class__ is not str:
            continue
        dec = decoders.get(tag[tag.rfind("}") + 1 :])
        if dec is not None:
            dec(child, kw)
    return cls(**kw)


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
