"""HTTP authentication of CPEs on the CWMP endpoint (TR-069 Amendment 6, §3.4.4).

TR-069 requires the ACS to support HTTP Digest authentication (RFC 7616, which
obsoletes RFC 2617) and allows Basic (RFC 7617) only over TLS.  This module is
pure protocol logic with no Django import, unit-tested without a server (the
CPE simulator has its own client side, so a bug here cannot hide behind a
shared one); ``cwmp.endpoint.cpeauth`` owns the HTTP plumbing, the credential
lookup and the shared nonce store.

The header's parsing is ``cwmp.protocol.authheader``, the nonce replay rule
``cwmp.protocol.nonces``; both are re-exported here, the module that every
caller of HTTP auth imports.

Design decisions (the reasons matter more than the code):

* Passwords are never stored by the ACS.  The database keeps one HA1 per
  algorithm, ``H(username ":" realm ":" password)`` (RFC 7616 §3.4.2), so a
  leaked database does not reveal the password and Basic is verified by
  recomputing HA1 from the offered password.  Strings are encoded as UTF-8
  (RFC 7616 §3.4.2 / §4 with ``charset=UTF-8``); the challenge does not
  advertise ``charset`` because some CPE parsers choke on unknown parameters.
* Nonces are stateless: ``base64url(ts || random || HMAC-SHA256(secret, ts ||
  random || realm))``.  Any worker holding the same secret can validate them,
  so no nonce table is needed for issuing; only replay tracking needs state
  (:class:`NonceTracker`), and it is consulted only after the response digest
  verified, so unauthenticated clients cannot fill it.
* ``-sess`` variants (RFC 7616 §3.4.2) are supported on verification and may be
  offered: their HA1 is derived from the stored plain HA1, the nonce and the
  cnonce, so no extra stored hash is needed.  ``ALGORITHMS`` lists the
  algorithms for which an HA1 is *stored*; ``SUPPORTED_ALGORITHMS`` adds the
  session variants.
* A client may answer with any algorithm the authority offers (and its -sess
  variant) or with SHA-256 even when only MD5 was offered (never weaker than
  what was offered; some CPEs pick their own).  MD5 is *not* accepted when the
  tenant stopped offering it, to prevent a downgrade.
* ``userhash`` (RFC 7616 §3.4.4) is never offered, so a client using it is
  rejected: the stored lookup needs the clear username.
* ``qop`` absent (RFC 2069 style, still sent by old CPE firmware) is accepted;
  ``auth-int`` is not offered and is rejected.
* ``stale`` is reported only when the nonce is authentic but expired *and* the
  response digest is correct for it (RFC 7616 §3.3: stale means "the nonce was
  stale but the credentials were right"), so the client retries silently.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cwmp.protocol.authheader import (
    NC_RE,
    SUPPORTED_ALGORITHMS,
    BasicCredentials,
    DigestCredentials,
    canonical_algorithm,
    parse_authorization,
)
from cwmp.protocol.nonces import MemoryNonceTracker, NonceTracker

__all__ = [
    "ALGORITHMS",
    "SUPPORTED_ALGORITHMS",
    "BasicCredentials",
    "DigestAuthority",
    "DigestCredentials",
    "MemoryNonceTracker",
    "NonceTracker",
    "Verdict",
    "basic_challenge",
    "make_ha1",
    "make_ha1_set",
    "parse_authorization",
]

#: Algorithms for which an HA1 is stored per credential (RFC 7616 §3.4.2 / §6.1).
ALGORITHMS: tuple[str, ...] = ("MD5", "SHA-256")

# (username, algorithm) -> the stored HA1 hex, or None for an unknown user.
Ha1Lookup = Callable[[str, str], str | None]

_HASHES: dict[str, Callable[[bytes], hashlib._Hash]] = {
    "MD5": hashlib.md5,
    "SHA-256": hashlib.sha256,
}
_TS_LEN = 8
_RAND_LEN = 16
_MAC_LEN = 32
_NONCE_RAW_LEN = _TS_LEN + _RAND_LEN + _MAC_LEN
_CLOCK_SKEW = 30  # seconds a nonce timestamp may lie in the future (worker clocks)
_HEX_RE = re.compile(r"[0-9a-f]+")


def _base_algorithm(algorithm: str) -> str:
    """``"SHA-256-sess"`` -> ``"SHA-256"``; the stored HA1 is keyed by the base name."""
    return algorithm.removesuffix("-sess")


def _h(algorithm: str, data: str) -> str:
    """Hex digest ``H(data)`` of RFC 7616 §3.4.2 with UTF-8 encoding."""
    try:
        fn = _HASHES[_base_algorithm(algorithm)]
    except KeyError:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}") from None
    return fn(data.encode("utf-8")).hexdigest()


def make_ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    """Return hex ``H(username:realm:password)`` for a stored credential.

    This is what the database keeps instead of the password (RFC 7616 §3.4.2).
    ``algorithm`` must be one of :data:`ALGORITHMS`; session variants are
    derived at verification time and cannot be stored.
    """
    algorithm = canonical_algorithm(algorithm)
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return _h(algorithm, f"{username}:{realm}:{password}")


def make_ha1_set(username: str, realm: str, password: str) -> dict[str, str]:
    """Return the HA1 for every stored algorithm, e.g. when a password is set."""
    return {alg: make_ha1(username, realm, password, alg) for alg in ALGORITHMS}


def _quote(value: str) -> str:
    """Quoted-string per RFC 9110 §5.6.4 (escape backslash and double quote)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def basic_challenge(realm: str) -> str:
    """``WWW-Authenticate`` value for Basic (RFC 7617 §2); TR-069 allows it over TLS only."""
    return f"Basic realm={_quote(realm)}"


# --------------------------------------------------------------------------- verdicts


@dataclass(slots=True, frozen=True)
class Verdict:
    """Outcome of a verification.

    ``username`` is set only when ``ok``; ``stale`` asks the view to
    re-challenge with ``stale=true``; ``reason`` is a short log string that
    never contains secrets.
    """

    ok: bool
    username: str | None = None
    stale: bool = False
    reason: str = ""


def _fail(reason: str, *, stale: bool = False) -> Verdict:
    return Verdict(ok=False, stale=stale, reason=reason)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def _uri_path(uri: str) -> str:
    """Request-target of a Digest ``uri``: absolute-form is reduced to path+query."""
    if "://" in uri:
        after = uri.split("://", 1)[1]
        slash = after.find("/")
        return after[slash:] if slash >= 0 else "/"
    return uri


class DigestAuthority:
    """Issues Digest challenges and verifies responses for one realm (RFC 7616 §3.3-§3.4).

    ``secret`` signs the nonces; give every worker the same secret.
    ``algorithms`` is the ordered list offered in the challenge (preferred
    first, RFC 7616 §3.7), taken from :data:`SUPPORTED_ALGORITHMS`.
    """

    def __init__(
        self,
        secret: bytes,
        realm: str,
        *,
        nonce_ttl: int = 300,
        algorithms: Sequence[str] = ("MD5",),
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("secret must be at least 16 bytes")
        if not realm or any(c in realm for c in "\r\n\x00"):
            raise ValueError("realm must be a non-empty single-line string")
        if nonce_ttl <= 0:
            raise ValueError("nonce_ttl must be positive")
        offered = tuple(canonical_algorithm(a) for a in algorithms)
        if not offered or any(a not in SUPPORTED_ALGORITHMS for a in offered):
            raise ValueError(f"algorithms must be a non-empty subset of {SUPPORTED_ALGORITHMS}")
        self._secret = bytes(secret)
        self.realm = realm
        self.nonce_ttl = nonce_ttl
        self.algorithms = tuple(dict.fromkeys(offered))
        self._clock = clock
        accepted = set(self.algorithms)
        accepted.update(_base_algorithm(a) for a in self.algorithms)
        accepted.update(_base_algorithm(a) + "-sess" for a in self.algorithms)
        accepted.update(("SHA-256", "SHA-256-sess"))  # never weaker than what was offered
        self._accepted = frozenset(accepted)
        self._opaque = _b64url(
            hmac.new(self._secret, b"opaque\x00" + realm.encode("utf-8"), hashlib.sha256).digest()[
                :18
            ]
        )
        # Stand-in HA1 so unknown users cost the same work as known ones.
        self._dummy_ha1 = secrets.token_hex(32)

    # ---------------------------------------------------------------- nonce

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._secret, body + self.realm.encode("utf-8"), hashlib.sha256).digest()

    def make_nonce(self) -> str:
        """A fresh signed nonce: ``base64url(ts || random || HMAC(secret, ts || random || realm))``."""
        body = struct.pack(">Q", int(self._clock())) + secrets.token_bytes(_RAND_LEN)
        return _b64url(body + self._mac(body))

    def _nonce_age(self, nonce: str) -> float | None:
        """Age of an authentic nonce in seconds, or ``None`` if forged/malformed."""
        if len(nonce) > 128:
            return None
        raw = _unb64url(nonce)
        if raw is None or len(raw) != _NONCE_RAW_LEN:
            return None
        body, mac = raw[:-_MAC_LEN], raw[-_MAC_LEN:]
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        (ts,) = struct.unpack(">Q", body[:_TS_LEN])
        age = self._clock() - ts
        if age < -_CLOCK_SKEW:
            return None
        return age

    # ---------------------------------------------------------------- challenge

    def challenge(self, *, stale: bool = False) -> str:
        """``WWW-Authenticate`` value: one Digest challenge per offered algorithm.

        RFC 7616 §3.7 wants one challenge per algorithm, preferred first.
        Django cannot emit the header twice, so the challenges are joined with
        ``", "`` into one value, which RFC 9110 §11.6.1 makes equivalent.  All
        challenges share one nonce.
        """
        nonce = self.make_nonce()
        parts = []
        for alg in self.algorithms:
            fields = [
                f"realm={_quote(self.realm)}",
                'qop="auth"',
                f"nonce={_quote(nonce)}",
                f"opaque={_quote(self._opaque)}",
                f"algorithm={alg}",
            ]
            if stale:
                fields.append("stale=true")
            parts.append("Digest " + ", ".join(fields))
        return ", ".join(parts)

    # ---------------------------------------------------------------- verify

    def verify(
        self,
        creds: DigestCredentials,
        *,
        method: str,
        ha1_for: Callable[[str, str], str | None],
        tracker: NonceTracker,
        binding: str,
        expected_uri: str | None = None,
    ) -> Verdict:
        """Verify a Digest response (RFC 7616 §3.4.1; RFC 2069 when ``qop`` is absent).

        ``ha1_for(username, algorithm)`` returns the stored HA1 hex for a base
        algorithm of :data:`ALGORITHMS`, or ``None``.  The ``uri`` parameter is
        not compared with the request path unless ``expected_uri`` is given:
        CPEs behind NAT helpers, reverse proxies or load balancers often
        send the URI they were configured with (``ManagementServer.URL``), not
        the path the ACS finally sees, and the digest already binds the
        response to the ``uri`` value the client signed.  The tracker is called
        last, only for otherwise valid responses.
        """
        if creds.userhash:
            return _fail("userhash not supported")
        if not hmac.compare_digest(creds.realm.encode("utf-8"), self.realm.encode("utf-8")):
            return _fail("realm mismatch")
        age = self._nonce_age(creds.nonce)
        if age is None:
            return _fail("invalid nonce")
        if creds.opaque is not None and not hmac.compare_digest(
            creds.opaque.encode("utf-8"), self._opaque.encode("ascii")
        ):
            return _fail("opaque mismatch")
        algorithm = creds.algorithm
        if algorithm not in self._accepted:
            return _fail("unsupported algorithm")
        if creds.qop is None:
            if algorithm.endswith("-sess"):
                return _fail("session algorithm without qop")
            nc_value = 1  # RFC 2069 has no counter: treat every use as the first
        elif creds.qop == "auth":
            if creds.nc is None or creds.cnonce is None or not NC_RE.fullmatch(creds.nc):
                return _fail("missing or malformed nc/cnonce")
            nc_value = int(creds.nc, 16)
            if nc_value == 0:
                return _fail("nc must start at 1")
        else:
            return _fail("unsupported qop")
        if expected_uri is not None and _uri_path(creds.uri) != _uri_path(expected_uri):
            return _fail("uri mismatch")

        stored = ha1_for(creds.username, _base_algorithm(algorithm))
        known = stored is not None and bool(_HEX_RE.fullmatch(stored.strip().lower()))
        ha1 = stored.strip().lower() if known and stored is not None else self._dummy_ha1
        if algorithm.endswith("-sess"):
            ha1 = _h(algorithm, f"{ha1}:{creds.nonce}:{creds.cnonce}")
        ha2 = _h(algorithm, f"{method}:{creds.uri}")
        if creds.qop is None:
            expected = _h(algorithm, f"{ha1}:{creds.nonce}:{ha2}")
        else:
            expected = _h(
                algorithm,
                f"{ha1}:{creds.nonce}:{creds.nc}:{creds.cnonce}:{creds.qop}:{ha2}",
            )
        good = hmac.compare_digest(
            expected.encode("ascii"), creds.response.lower().encode("utf-8", "replace")
        )
        if not known:
            return _fail("unknown user")
        if not good:
            return _fail("bad response")
        if age > self.nonce_ttl:
            return _fail("stale nonce", stale=True)
        if not tracker.seen(creds.nonce, nc_value, binding):
            return _fail("nonce replay")
        return Verdict(ok=True, username=creds.username, reason="digest")

    def verify_basic(
        self, creds: BasicCredentials, *, ha1_for: Callable[[str, str], str | None]
    ) -> Verdict:
        """Verify Basic credentials against the stored HA1 (no stored password).

        Uses the strongest stored HA1 (SHA-256 before MD5) and compares in
        constant time.  Whether Basic is allowed at all (tenant policy, TLS,
        TR-069 §3.4.4) is the view's decision.
        """
        for algorithm in reversed(ALGORITHMS):
            stored = ha1_for(creds.username, algorithm)
            if stored is None:
                continue
            computed = make_ha1(creds.username, self.realm, creds.password, algorithm)
            if hmac.compare_digest(
                computed.encode("ascii"), stored.strip().lower().encode("utf-8")
            ):
                return Verdict(ok=True, username=creds.username, reason="basic")
            return _fail("bad password")
        make_ha1(creds.username, self.realm, creds.password, "SHA-256")  # equalise timing
        return _fail("unknown user")
