"""HTTP authentication for both sides of a CPE: Digest/Basic client (towards the ACS and file
servers) and a Digest server (the Connection Request listener).

Written on hashlib (RFC 7616 / RFC 2617) because the simulator must reproduce
client behaviours that libraries hide: nonce counting, nonce reuse, preemptive
Basic and "Basic sent but only Digest answered".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time

_HASHES = {
    "MD5": hashlib.md5,
    "MD5-SESS": hashlib.md5,
    "SHA-256": hashlib.sha256,
    "SHA-256-SESS": hashlib.sha256,
}


def _h(algorithm: str, text: str) -> str:
    return _HASHES[algorithm.upper()](text.encode("utf-8")).hexdigest()


def parse_auth_params(text: str, start: int = 0) -> tuple[dict[str, str], int]:
    """Parse `a=b, c="d, e"` from `start`; returns the params and where parsing stopped.

    Stops before a token that is not followed by `=` (the next challenge's scheme).
    """
    params: dict[str, str] = {}
    i, n = start, len(text)
    while i < n:
        while i < n and text[i] in " \t,":
            i += 1
        if i >= n:
            break
        j = i
        while j < n and text[j] not in " \t=,":
            j += 1
        name = text[i:j]
        k = j
        while k < n and text[k] in " \t":
            k += 1
        if k >= n or text[k] != "=":
            return params, i  # a new scheme starts here
        k += 1
        while k < n and text[k] in " \t":
            k += 1
        if k < n and text[k] == '"':
            k += 1
            value = []
            while k < n and text[k] != '"':
                if text[k] == "\\" and k + 1 < n:
                    k += 1
                value.append(text[k])
                k += 1
            k += 1
            params[name.lower()] = "".join(value)
        else:
            m = k
            while m < n and text[m] not in ",":
                m += 1
            params[name.lower()] = text[k:m].strip()
            k = m
        i = k
    return params, n


def parse_challenges(headers: list[str]) -> list[tuple[str, dict[str, str]]]:
    """All challenges of one or more WWW-Authenticate headers, as (scheme lower-case, params)."""
    challenges = []
    for text in headers:
        i, n = 0, len(text)
        while i < n:
            while i < n and text[i] in " \t,":
                i += 1
            if i >= n:
                break
            j = i
            while j < n and text[j] not in " \t,":
                j += 1
            scheme = text[i:j].lower()
            params, i = parse_auth_params(text, j)
            challenges.append((scheme, params))
    return challenges


def digest_response(
    *,
    algorithm: str,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    nc: str,
    cnonce: str,
    qop: str | None,
) -> str:
    """The `response` value of RFC 7616 section 3.4.1 (RFC 2069 form when qop is None)."""
    ha1 = _h(algorithm, f"{username}:{realm}:{password}")
    if algorithm.upper().endswith("-SESS"):
        ha1 = _h(algorithm, f"{ha1}:{nonce}:{cnonce}")
    ha2 = _h(algorithm, f"{method}:{uri}")
    if qop:
        return _h(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _h(algorithm, f"{ha1}:{nonce}:{ha2}")


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ClientAuth:
    """Credentials and the Digest state of one CWMP session (or one file transfer).

    After the first challenge every later request carries credentials
    preemptively with a counted nonce, as CPEs do; a new 401 restarts the
    handshake. `nonce_reuse` reproduces CPEs that repeat nc=00000001.
    """

    __slots__ = (
        "algorithm",
        "answered",
        "digest_only",
        "nc",
        "nonce_reuse",
        "params",
        "password",
        "preemptive_basic",
        "qop",
        "scheme",
        "username",
    )

    def __init__(
        self,
        username: str,
        password: str,
        *,
        preemptive_basic: bool = False,
        digest_only: bool = False,
        nonce_reuse: bool = False,
    ) -> None:
        self.username = username
        self.password = password
        self.preemptive_basic = preemptive_basic
        self.digest_only = digest_only
        self.nonce_reuse = nonce_reuse
        self.scheme: str | None = "basic" if preemptive_basic else None
        self.params: dict[str, str] = {}
        self.algorithm = "MD5"
        self.qop: str | None = None
        self.nc = 0
        self.answered = False

    def header(self, method: str, uri: str, cnonce: str | None = None) -> str | None:
        """The Authorization header for the next request, or None before any challenge."""
        if self.scheme == "basic":
            return basic_header(self.username, self.password)
        if self.scheme != "digest":
            return None
        p = self.params
        if self.nonce_reuse:
            self.nc = 1
        else:
            self.nc += 1
        nc = f"{self.nc:08x}"
        cnonce = cnonce or os.urandom(8).hex()
        response = digest_response(
            algorithm=self.algorithm,
            username=self.username,
            realm=p.get("realm", ""),
            password=self.password,
            method=method,
            uri=uri,
            nonce=p.get("nonce", ""),
            nc=nc,
            cnonce=cnonce,
            qop=self.qop,
        )
        parts = [
            f"username={_quote(self.username)}",
            f"realm={_quote(p.get('realm', ''))}",
            f"nonce={_quote(p.get('nonce', ''))}",
            f"uri={_quote(uri)}",
            f"algorithm={self.algorithm}",
            f"response={_quote(response)}",
        ]
        if "opaque" in p:
            parts.append(f"opaque={_quote(p['opaque'])}")
        if self.qop:
            parts += [f"qop={self.qop}", f"nc={nc}", f"cnonce={_quote(cnonce)}"]
        return "Digest " + ", ".join(parts)

    def challenge(self, www_authenticate: list[str]) -> bool:
        """Take a 401's challenges; True when the request should be re-sent with credentials."""
        challenges = parse_challenges(www_authenticate)
        for scheme, params in challenges:
            if scheme != "digest":
                continue
            algorithm = params.get("algorithm", "MD5").upper()
            if algorithm not in _HASHES:
                continue
            qops = [q.strip().lower() for q in params.get("qop", "").split(",") if q.strip()]
            if qops and "auth" not in qops:
                continue
            stale = params.get("stale", "").lower() == "true"
            if self.scheme == "digest" and self.answered and not stale:
                return False  # our answer was refused: wrong credentials, not an expired nonce
            self.scheme = "digest"
            self.params = params
            self.algorithm = algorithm
            self.qop = "auth" if qops else None
            self.nc = 0
            self.answered = True
            return True
        if self.digest_only:
            return False
        for scheme, _params in challenges:
            if scheme == "basic" and self.scheme != "basic":
                self.scheme = "basic"
                self.answered = True
                return True
        return False

    def succeeded(self) -> None:
        """A request got through: a later fresh challenge (nonce expiry) is answered again."""
        self.answered = False

    def authentication_info(self, value: str | None) -> None:
        """Honour `Authentication-Info: nextnonce=…` (RFC 7616 section 3.5)."""
        if not value or self.scheme != "digest":
            return
        params, _ = parse_auth_params(value)
        if params.get("nextnonce"):
            self.params = {**self.params, "nonce": params["nextnonce"]}
            self.nc = 0


class DigestServer:
    """Server side of Digest (MD5, qop=auth) for the Connection Request listener.

    Nonces are HMAC-signed timestamps, so 10,000 devices sharing a listener
    keep no per-nonce state.
    """

    def __init__(self, realm: str = "cpesim", lifetime: float = 300.0) -> None:
        self.realm = realm
        self.lifetime = lifetime
        self._secret = os.urandom(16)

    def new_nonce(self) -> str:
        stamp = f"{int(time.time()):x}"
        sig = hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]
        return f"{stamp}.{sig}"

    def _nonce_ok(self, nonce: str) -> tuple[bool, bool]:
        """(valid signature, fresh)."""
        stamp, _, sig = nonce.partition(".")
        good = hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]
        if not hmac.compare_digest(sig, good):
            return False, False
        try:
            age = time.time() - int(stamp, 16)
        except ValueError:
            return False, False
        return True, age <= self.lifetime

    def challenge(self, stale: bool = False) -> str:
        value = (
            f'Digest realm="{self.realm}", qop="auth", nonce="{self.new_nonce()}", algorithm=MD5'
        )
        if stale:
            value += ", stale=true"
        return value

    def verify(
        self, authorization: str | None, method: str, username: str, password: str
    ) -> tuple[bool, bool]:
        """Check an Authorization header: (accepted, stale nonce)."""
        if not authorization or not authorization[:7].lower() == "digest ":
            return False, False
        params, _ = parse_auth_params(authorization, 7)
        if params.get("username") != username or params.get("realm") != self.realm:
            return False, False
        if params.get("algorithm", "MD5").upper() != "MD5":
            return False, False
        nonce = params.get("nonce", "")
        valid, fresh = self._nonce_ok(nonce)
        if not valid:
            return False, False
        qop = params.get("qop")
        if qop and qop != "auth":
            return False, False
        expected = digest_response(
            algorithm="MD5",
            username=username,
            realm=self.realm,
            password=password,
            method=method,
            uri=params.get("uri", ""),
            nonce=nonce,
            nc=params.get("nc", ""),
            cnonce=params.get("cnonce", ""),
            qop=qop,
        )
        if not hmac.compare_digest(expected, params.get("response", "")):
            return False, False
        if not fresh:
            return False, True
        return True, False
