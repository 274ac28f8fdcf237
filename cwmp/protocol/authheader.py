"""The ``Authorization`` header of HTTP Basic (RFC 7617) and Digest (RFC 7616), parsed.

Pure and total: anything malformed, oversized or oddly encoded is ``None``,
never an exception, because the header comes from the internet.
``cwmp.protocol.digest`` verifies what this returns.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

#: Algorithms accepted in a response: the stored ones plus their session variants.
SUPPORTED_ALGORITHMS: tuple[str, ...] = ("MD5", "SHA-256", "MD5-sess", "SHA-256-sess")
# Canonical spelling by upper-cased name (algorithm tokens are case-insensitive).
_CANONICAL = {name.upper(): name for name in SUPPORTED_ALGORITHMS}
_MAX_HEADER = 8192  # an Authorization header longer than this is garbage
NC_RE = re.compile(r"[0-9A-Fa-f]{1,8}")


def canonical_algorithm(algorithm: str) -> str:
    """Map a case-insensitive algorithm token to its canonical spelling, or keep it."""
    return _CANONICAL.get(algorithm.strip().upper(), algorithm.strip())


@dataclass(slots=True, frozen=True)
class BasicCredentials:
    """Decoded ``Authorization: Basic`` credentials. ``repr`` hides the password."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"BasicCredentials(username={self.username!r}, password=<hidden>)"


@dataclass(slots=True, frozen=True)
class DigestCredentials:
    """Parsed ``Authorization: Digest`` parameters (RFC 7616 §3.4).

    ``algorithm`` is canonicalised (``"md5"`` -> ``"MD5"``) and defaults to MD5
    when absent; ``qop`` is lower-cased and ``None`` for RFC 2069 style clients.
    """

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str
    qop: str | None
    nc: str | None
    cnonce: str | None
    opaque: str | None
    userhash: bool


# One auth-param: separators, a name, "=", then a quoted-string or a bare
# token (which may not start with a quote: an unterminated quoted-string is
# garbage, not a token).
_AUTH_PARAM = re.compile(
    r'[ \t,]*([^= \t,"]+)[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.)*)"|(?!")([^ \t,]*))', re.S
)
_QUOTED_PAIR = re.compile(r"\\(.)", re.S)


def _parse_params(text: str) -> dict[str, str] | None:
    """Parse ``name=value`` auth-params (RFC 9110 §11.2) tolerantly.

    Accepts quoted or bare values, backslash escapes, extra whitespace and
    commas, and even missing commas between parameters.  Names are
    lower-cased; the first occurrence of a name wins.  Returns ``None`` on
    structural garbage (name without ``=``, unterminated quote).  A regular
    expression per parameter: it runs on two requests of every session, and
    walking the header a character at a time cost 3% of one.
    """
    params: dict[str, str] = {}
    pos = 0
    match = _AUTH_PARAM.match
    while (m := match(text, pos)) is not None:
        quoted = m.group(2)
        if quoted is None:
            value = m.group(3)
        elif "\\" in quoted:
            value = _QUOTED_PAIR.sub(r"\1", quoted)
        else:
            value = quoted
        params.setdefault(m.group(1).lower(), value)
        pos = m.end()
    return None if text[pos:].strip(" \t,") else params


def _decode_ext_value(value: str) -> str | None:
    """Decode an RFC 8187 ext-value (``UTF-8''J%C3%A4ger``) used by ``username*``."""
    charset, sep, rest = value.partition("'")
    _lang, sep2, encoded = rest.partition("'")
    if not sep or not sep2 or charset.strip().upper() not in ("UTF-8", "ISO-8859-1"):
        return None
    try:
        raw = bytearray()
        i = 0
        while i < len(encoded):
            if encoded[i] == "%":
                raw.append(int(encoded[i + 1 : i + 3], 16))
                i += 3
            else:
                raw.extend(encoded[i].encode("ascii"))
                i += 1
        return bytes(raw).decode("utf-8" if charset.strip().upper() == "UTF-8" else "latin-1")
    except (ValueError, IndexError, UnicodeError):
        return None


def _parse_basic(token: str) -> BasicCredentials | None:
    token = token.strip()
    if not token or any(c in token for c in " \t,"):
        return None
    token += "=" * (-len(token) % 4)  # some clients drop the padding
    try:
        raw = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        # RFC 7617 §2.1: without a charset parameter the encoding is unspecified;
        # legacy CPE firmware sends ISO-8859-1, which always decodes.
        text = raw.decode("latin-1")
    username, sep, password = text.partition(":")
    if not sep:
        return None
    return BasicCredentials(username=username, password=password)


def _parse_digest(rest: str) -> DigestCredentials | None:
    params = _parse_params(rest)
    if params is None:
        return None
    username: str | None = params.get("username")
    if username is None and "username*" in params:
        username = _decode_ext_value(params["username*"])
    required = (
        params.get("realm"),
        params.get("nonce"),
        params.get("uri"),
        params.get("response"),
    )
    if username is None or any(v is None for v in required):
        return None
    qop = params.get("qop", "").strip().lower() or None
    return DigestCredentials(
        username=username,
        realm=params["realm"],
        nonce=params["nonce"],
        uri=params["uri"],
        response=params["response"].strip(),
        algorithm=canonical_algorithm(params.get("algorithm", "") or "MD5"),
        qop=qop,
        nc=params.get("nc", "").strip() or None,
        cnonce=params.get("cnonce") or None,
        opaque=params.get("opaque"),
        userhash=params.get("userhash", "").strip().lower() == "true",
    )


def parse_authorization(
    header: str | None,
) -> BasicCredentials | DigestCredentials | None:
    """Parse an ``Authorization`` header value; ``None`` for anything unusable.

    Deliberately tolerant (CPE firmware is sloppy) but never raises: the view
    treats ``None`` as "no credentials" and answers with a challenge.
    """
    try:
        if not header or len(header) > _MAX_HEADER:
            return None
        parts = header.strip().split(None, 1)
        scheme = parts[0].lower()
        rest = parts[1] if len(parts) > 1 else ""
        if scheme == "basic":
            return _parse_basic(rest)
        if scheme == "digest":
            return _parse_digest(rest)
        return None
    except Exception:
        return None
