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

``reader`` (with the hardening and the lenient scalar readers) and
``writer`` (with the escaping) are kept apart because they follow opposite
rules; ``common`` holds what both need. This package re-exports their public
names, so callers write ``codec.parse`` and ``codec.serialize``.

Both directions are driven by the field declarations in ``cwmp.protocol.messages``; no
message has hand-written XML code. Pure Python plus lxml, no Django.
"""

from __future__ import annotations

from .common import SOAP_ENC_NS, SOAP_ENV_NS, XSD_NS, XSI_NS, CodecError
from .reader import (
    MAX_BYTES,
    MAX_DEPTH,
    is_empty,
    looks_like_inform,
    normalize_xsi_type,
    parse,
    parse_bool,
    parse_datetime,
    precheck,
)
from .writer import format_datetime, serialize

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "SOAP_ENC_NS",
    "SOAP_ENV_NS",
    "XSD_NS",
    "XSI_NS",
    "CodecError",
    "format_datetime",
    "is_empty",
    "looks_like_inform",
    "normalize_xsi_type",
    "parse",
    "parse_bool",
    "parse_datetime",
    "precheck",
    "serialize",
]
