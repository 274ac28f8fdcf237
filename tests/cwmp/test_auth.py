"""Tests for cwmp.protocol.digest (HTTP Digest / Basic for CPEs, RFC 7616, TR-069 §3.4.4).

httpx.DigestAuth is used as the client oracle: an independent implementation
catches bugs that a client written alongside the server would share.
"""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import pytest

from cwmp.protocol.digest import (
    ALGORITHMS,
    BasicCredentials,
    DigestAuthority,
    DigestCredentials,
    MemoryNonceTracker,
    Verdict,
    basic_challenge,
    make_ha1,
    make_ha1_set,
    parse_authorization,
)

SECRET = b"0123456789abcdef-test-secret"
REALM = "acsportal tenant-a"
URL = "http://acs.example.net/cwmp/tenant-a"
PATH = "/cwmp/tenant-a"
USER = "00259E-HG8245-48575443A1B2C3D4"
PASSWORD = "s3cr3t pass"


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def store(users: dict[str, str], realm: str = REALM):
    """ha1_for backed by HA1 values only, as the database keeps them."""
    table = {u: make_ha1_set(u, realm, p) for u, p in users.items()}

    def ha1_for(username: str, algorithm: str) -> str | None:
        return table.get(username, {}).get(algorithm)

    return ha1_for


HA1_FOR = store({USER: PASSWORD})


def first_challenge(header: str) -> str:
    """The first ``Digest ...`` challenge of a joined WWW-Authenticate value."""
    return split_challenges(header)[0]


def split_challenges(header: str) -> list[str]:
    # Independent of cwmp.protocol.digest: split where a new "Digest " scheme token starts.
    return [p.strip().rstrip(",") for p in re.split(r"(?:^|,\s*)(?=Digest )", header) if p.strip()]


def httpx_auth_header(
    challenge: str,
    username: str = USER,
    password: str = PASSWORD,
    method: str = "POST",
    url: str = URL,
) -> tuple[str, httpx.DigestAuth]:
    """Run httpx's digest flow against one challenge; return the Authorization value."""
    auth = httpx.DigestAuth(username, password)
    flow = auth.sync_auth_flow(httpx.Request(method, url))
    request = next(flow)
    response = httpx.Response(401, headers={"WWW-Authenticate": challenge}, request=request)
    retry = flow.send(response)
    return retry.headers["Authorization"], auth


def httpx_next_header(auth: httpx.DigestAuth, method: str = "POST", url: str = URL) -> str:
    """Preemptive header httpx sends on the following request (nc incremented)."""
    flow = auth.sync_auth_flow(httpx.Request(method, url))
    return next(flow).headers["Authorization"]


def digest_creds(header: str) -> DigestCredentials:
    creds = parse_authorization(header)
    assert isinstance(creds, DigestCredentials)
    return creds


def legacy_header(nonce: str, *, password: str = PASSWORD, uri: str = PATH) -> str:
    """RFC 2069 client computed by hand (no qop, nc, cnonce)."""
    ha1 = hashlib.md5(f"{USER}:{REALM}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"POST:{uri}".encode()).hexdigest()
    response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
    return f'Digest username="{USER}", realm="{REALM}", nonce="{nonce}", uri="{uri}", response="{response}"'


def nonce_of(challenge: str) -> str:
    match = re.search(r'nonce="([^"]+)"', challenge)
    assert match
    return match.group(1)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def authority(clock: Clock) -> DigestAuthority:
    return DigestAuthority(SECRET, REALM, algorithms=("MD5", "SHA-256"), clock=clock)


@pytest.fixture
def tracker() -> MemoryNonceTracker:
    return MemoryNonceTracker()


def verify(authority: DigestAuthority, header: str, tracker, binding: str = "s1", **kw) -> Verdict:
    kw.setdefault("ha1_for", HA1_FOR)
    return authority.verify(
        digest_creds(header), method="POST", tracker=tracker, binding=binding, **kw
    )


# ----------------------------------------------------------------------------- HA1


def test_make_ha1_matches_rfc7616_definition() -> None:
    assert make_ha1("u", "r", "p") == hashlib.md5(b"u:r:p").hexdigest()
    assert make_ha1("u", "r", "p", "SHA-256") == hashlib.sha256(b"u:r:p").hexdigest()
    assert make_ha1("u", "r", "p", "sha-256") == hashlib.sha256(b"u:r:p").hexdigest()
    assert make_ha1_set("u", "r", "p") == {
        "MD5": hashlib.md5(b"u:r:p").hexdigest(),
        "SHA-256": hashlib.sha256(b"u:r:p").hexdigest(),
    }
    assert set(make_ha1_set("u", "r", "p")) == set(ALGORITHMS)


def test_make_ha1_rejects_unknown_and_session_algorithms() -> None:
    with pytest.raises(ValueError):
        make_ha1("u", "r", "p", "SHA-512")
    with pytest.raises(ValueError):
        make_ha1("u", "r", "p", "MD5-sess")


# ----------------------------------------------------------------------- challenge


def test_challenge_lists_every_algorithm_and_parses_back(
    authority: DigestAuthority,
) -> None:
    header = authority.challenge()
    parts = split_challenges(header)
    assert len(parts) == 2
    assert "algorithm=MD5" in parts[0] and "algorithm=SHA-256" in parts[1]
    for part in parts:
        assert f'realm="{REALM}"' in part
        assert 'qop="auth"' in part
        assert "opaque=" in part
        assert "stale" not in part
        # Each challenge is usable by a real client.
        auth_header, _ = httpx_auth_header(part)
        assert verify(authority, auth_header, MemoryNonceTracker()).ok
    assert nonce_of(parts[0]) == nonce_of(parts[1])


def test_challenge_stale_flag_and_fresh_nonce(authority: DigestAuthority) -> None:
    header = authority.challenge(stale=True)
    assert header.count("stale=true") == 2
    assert nonce_of(header) != nonce_of(authority.challenge())


def test_challenge_escapes_realm(clock: Clock) -> None:
    auth = DigestAuthority(SECRET, 'we"ird\\realm', clock=clock)
    assert 'realm="we\\"ird\\\\realm"' in auth.challenge()
    assert basic_challenge('a"b') == 'Basic realm="a\\"b"'


def test_constructor_validation() -> None:
    with pytest.raises(ValueError):
        DigestAuthority(b"short", REALM)
    with pytest.raises(ValueError):
        DigestAuthority(SECRET, REALM, algorithms=("SHA-512",))
    with pytest.raises(ValueError):
        DigestAuthority(SECRET, REALM, algorithms=())
    with pytest.raises(ValueError):
        DigestAuthority(SECRET, "evil\r\nX-Injected: 1")


# -------------------------------------------------------------------------- digest


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256", "MD5-sess", "SHA-256-sess"])
def test_httpx_client_succeeds(clock: Clock, tracker: MemoryNonceTracker, algorithm: str) -> None:
    authority = DigestAuthority(SECRET, REALM, algorithms=(algorithm,), clock=clock)
    header, _ = httpx_auth_header(authority.challenge())
    assert f"algorithm={algorithm}" in header
    verdict = verify(authority, header, tracker)
    assert verdict == Verdict(ok=True, username=USER, reason="digest")


def test_wrong_password_fails(authority: DigestAuthority, tracker: MemoryNonceTracker) -> None:
    header, _ = httpx_auth_header(first_challenge(authority.challenge()), password="nope")
    verdict = verify(authority, header, tracker)
    assert not verdict.ok and not verdict.stale and verdict.username is None
    assert "nope" not in verdict.reason


def test_unknown_user_fails(authority: DigestAuthority, tracker: MemoryNonceTracker) -> None:
    header, _ = httpx_auth_header(first_challenge(authority.challenge()), username="intruder")
    verdict = verify(authority, header, tracker)
    assert not verdict.ok and verdict.reason == "unknown user"


def test_wrong_realm_fails(authority: DigestAuthority, tracker: MemoryNonceTracker) -> None:
    challenge = first_challenge(authority.challenge()).replace(REALM, "other realm")
    header, _ = httpx_auth_header(challenge)
    ha1_for = store({USER: PASSWORD}, realm="other realm")
    verdict = verify(authority, header, tracker, ha1_for=ha1_for)
    assert not verdict.ok and verdict.reason == "realm mismatch"


def test_tampered_nonce_fails(authority: DigestAuthority, tracker: MemoryNonceTracker) -> None:
    challenge = first_challenge(authority.challenge())
    nonce = nonce_of(challenge)
    raw = bytearray(base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4)))
    raw[3] ^= 0x01  # shift the timestamp: signature no longer matches
    forged = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    header, _ = httpx_auth_header(challenge.replace(nonce, forged))
    verdict = verify(authority, header, tracker)
    assert not verdict.ok and not verdict.stale and verdict.reason == "invalid nonce"


@pytest.mark.parametrize("nonce", ["", "abc", "!!!!", "A" * 75, "x" * 500])
def test_garbage_nonce_fails(authority: DigestAuthority, tracker, nonce: str) -> None:
    challenge = first_challenge(authority.challenge())
    header, _ = httpx_auth_header(challenge.replace(nonce_of(challenge), nonce))
    assert verify(authority, header, tracker).reason == "invalid nonce"


def test_nonce_from_another_secret_fails(clock: Clock, tracker: MemoryNonceTracker) -> None:
    other = DigestAuthority(b"another-secret-of-16+bytes", REALM, clock=clock)
    ours = DigestAuthority(SECRET, REALM, clock=clock)
    header, _ = httpx_auth_header(other.challenge())
    assert verify(other, header, MemoryNonceTracker()).ok
    verdict = verify(ours, header, tracker)
    assert not verdict.ok and not verdict.stale


def test_nonce_valid_across_workers_sharing_the_secret(clock: Clock, tracker) -> None:
    worker_a = DigestAuthority(SECRET, REALM, clock=clock)
    worker_b = DigestAuthority(SECRET, REALM, clock=clock)
    header, _ = httpx_auth_header(worker_a.challenge())
    assert verify(worker_b, header, tracker).ok


def test_expired_nonce_is_stale(authority: DigestAuthority, clock: Clock, tracker) -> None:
    header, _ = httpx_auth_header(first_challenge(authority.challenge()))
    clock.now += 299
    assert verify(authority, header, tracker).ok
    clock.now += 2
    verdict = verify(authority, header, tracker, binding="s1")
    assert verdict == Verdict(ok=False, stale=True, reason="stale nonce")


def test_expired_nonce_with_wrong_password_is_not_stale(authority, clock, tracker) -> None:
    header, _ = httpx_auth_header(first_challenge(authority.challenge()), password="bad")
    clock.now += 1000
    verdict = verify(authority, header, tracker)
    assert not verdict.ok and not verdict.stale


def test_nonce_far_in_future_rejected(clock: Clock, tracker) -> None:
    future = DigestAuthority(SECRET, REALM, clock=Clock(clock.now + 3600))
    present = DigestAuthority(SECRET, REALM, clock=clock)
    header, _ = httpx_auth_header(future.challenge())
    assert verify(present, header, tracker).reason == "invalid nonce"


def test_increasing_nc_accepted(authority: DigestAuthority, tracker) -> None:
    header, auth = httpx_auth_header(first_challenge(authority.challenge()))
    assert "nc=00000001" in header
    assert verify(authority, header, tracker, binding="a").ok
    second = httpx_next_header(auth)
    assert "nc=00000002" in second
    assert verify(authority, second, tracker, binding="a").ok
    # Growth from another connection is fine: only the password holder can sign a new nc.
    third = httpx_next_header(auth)
    assert verify(authority, third, tracker, binding="b").ok


def test_replay_from_other_binding_refused(authority: DigestAuthority, tracker) -> None:
    header, auth = httpx_auth_header(first_challenge(authority.challenge()))
    assert verify(authority, header, tracker, binding="a").ok
    verdict = verify(authority, header, tracker, binding="b")
    assert verdict == Verdict(ok=False, reason="nonce replay")
    # A lower nc than already seen is also a replay elsewhere.
    assert verify(authority, httpx_next_header(auth), tracker, binding="a").ok
    assert verify(authority, header, tracker, binding="c").reason == "nonce replay"


def test_same_binding_may_repeat_first_nc(authority: DigestAuthority, tracker) -> None:
    """TR-069 field quirk: a CPE reuses nonce+nc=00000001 for every request of a session."""
    header, _ = httpx_auth_header(first_challenge(authority.challenge()))
    for _ in range(3):
        assert verify(authority, header, tracker, binding="session-1/conn-7").ok
    assert not verify(authority, header, tracker, binding="session-2/conn-9").ok


def test_rfc2069_without_qop_accepted(clock: Clock, tracker) -> None:
    authority = DigestAuthority(SECRET, REALM, clock=clock)
    nonce = nonce_of(authority.challenge())
    assert verify(authority, legacy_header(nonce), tracker, binding="x").ok
    assert verify(authority, legacy_header(nonce), tracker, binding="x").ok
    assert not verify(authority, legacy_header(nonce), tracker, binding="y").ok
    assert not verify(authority, legacy_header(nonce, password="bad"), tracker).ok


def test_rfc2069_via_httpx(clock: Clock, tracker) -> None:
    authority = DigestAuthority(SECRET, REALM, clock=clock)
    challenge = authority.challenge().replace('qop="auth", ', "")
    header, _ = httpx_auth_header(challenge)
    assert "qop" not in header
    assert verify(authority, header, tracker).ok


def test_sha256_response_accepted_when_only_md5_offered(clock: Clock, tracker) -> None:
    md5_only = DigestAuthority(SECRET, REALM, algorithms=("MD5",), clock=clock)
    challenge = md5_only.challenge().replace("algorithm=MD5", "algorithm=SHA-256")
    header, _ = httpx_auth_header(challenge)
    assert verify(md5_only, header, tracker).ok


def test_md5_refused_when_not_offered(clock: Clock, tracker) -> None:
    sha_only = DigestAuthority(SECRET, REALM, algorithms=("SHA-256",), clock=clock)
    challenge = sha_only.challenge().replace("algorithm=SHA-256", "algorithm=MD5")
    header, _ = httpx_auth_header(challenge)
    assert verify(sha_only, header, tracker).reason == "unsupported algorithm"


def test_unsupported_algorithm_and_qop(authority: DigestAuthority, tracker) -> None:
    challenge = first_challenge(authority.challenge())
    header, _ = httpx_auth_header(challenge.replace("algorithm=MD5", "algorithm=SHA-512"))
    assert verify(authority, header, tracker).reason == "unsupported algorithm"
    good, _ = httpx_auth_header(challenge)
    assert verify(authority, good.replace("qop=auth", "qop=auth-int"), tracker).reason == (
        "unsupported qop"
    )


def test_missing_or_bad_nc(authority: DigestAuthority, tracker) -> None:
    header, _ = httpx_auth_header(first_challenge(authority.challenge()))
    for bad in ("nc=0x1", "nc=00000000", "nc=zz", "nc=123456789"):
        assert not verify(authority, header.replace("nc=00000001", bad), tracker).ok
    no_cnonce = re.sub(r', cnonce="[^"]*"', "", header)
    assert verify(authority, no_cnonce, tracker).reason == "missing or malformed nc/cnonce"


def test_opaque_mismatch_and_absent(authority: DigestAuthority, tracker) -> None:
    header, _ = httpx_auth_header(first_challenge(authority.challenge()))
    tampered = re.sub(r'opaque="[^"]*"', 'opaque="forged"', header)
    assert verify(authority, tampered, tracker).reason == "opaque mismatch"
    without = re.sub(r', opaque="[^"]*"', "", header)
    assert verify(authority, without, tracker).ok  # old CPEs drop it


def test_userhash_rejected(authority: DigestAuthority, tracker) -> None:
    header, _ = httpx_auth_header(first_challenge(authority.challenge()))
    assert verify(authority, header + ", userhash=true", tracker).reason == (
        "userhash not supported"
    )


def test_uri_not_enforced_by_default_but_on_request(authority: DigestAuthority) -> None:
    challenge = first_challenge(authority.challenge())
    header, _ = httpx_auth_header(challenge, url="http://proxy.example/rewritten/path")
    assert verify(authority, header, MemoryNonceTracker()).ok
    assert verify(authority, header, MemoryNonceTracker(), expected_uri=PATH).reason == (
        "uri mismatch"
    )
    assert verify(
        authority, header, MemoryNonceTracker(), expected_uri="http://x/rewritten/path"
    ).ok


def test_uppercase_hex_response_and_stored_ha1(authority: DigestAuthority, tracker) -> None:
    header, _ = httpx_auth_header(first_challenge(authority.challenge()))
    response = re.search(r'response="([0-9a-f]+)"', header)
    assert response
    upper = header.replace(response.group(1), response.group(1).upper())

    def ha1_upper(username: str, algorithm: str) -> str | None:
        value = HA1_FOR(username, algorithm)
        return value.upper() if value else None

    assert verify(authority, upper, tracker, ha1_for=ha1_upper).ok


# ------------------------------------------------------------------------- parsing


def test_parse_full_digest_header() -> None:
    creds = parse_authorization(
        'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", '
        'algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, '
        'cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, '
        'response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", '
        'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    )
    assert creds == DigestCredentials(
        username="Mufasa",
        realm="http-auth@example.org",
        nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        uri="/dir/index.html",
        response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        algorithm="SHA-256",
        qop="auth",
        nc="00000001",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
        userhash=False,
    )


def test_rfc7616_sha256_example_vector() -> None:
    """RFC 7616 §3.9.1 example: Mufasa / Circle of Life, SHA-256."""
    creds = digest_creds(
        'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", '
        'algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, '
        'cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, '
        'response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"'
    )
    ha1 = make_ha1("Mufasa", "http-auth@example.org", "Circle of Life", "SHA-256")
    ha2 = hashlib.sha256(b"GET:/dir/index.html").hexdigest()
    expected = hashlib.sha256(
        f"{ha1}:{creds.nonce}:{creds.nc}:{creds.cnonce}:auth:{ha2}".encode()
    ).hexdigest()
    assert expected == creds.response


@pytest.mark.parametrize(
    "header",
    [
        "digest username=bob, realm=r, nonce=n, uri=/x, response=abc",
        'DIGEST   username = "bob" ,realm= r ,, nonce ="n",uri=/x,response=abc ,',
        'Digest\tusername="bob", realm="r", nonce="n", uri="/x", response="abc", foo=bar',
        'Digest username="bob" realm="r" nonce="n" uri="/x" response="abc"',
        "Digest username*=UTF-8''bob, realm=r, nonce=n, uri=/x, response=abc",
    ],
)
def test_parse_tolerance(header: str) -> None:
    creds = digest_creds(header)
    assert (creds.username, creds.realm, creds.nonce, creds.uri, creds.response) == (
        "bob",
        "r",
        "n",
        "/x",
        "abc",
    )
    assert creds.algorithm == "MD5"  # absent -> MD5
    assert creds.qop is None and creds.nc is None and creds.cnonce is None


def test_parse_escaped_quotes_and_algorithm_case() -> None:
    creds = digest_creds(
        r'Digest username="a\"b\\c", realm="r, with comma", nonce=n, uri="/x?a=1,2", '
        r"response=abc, algorithm=sha-256-SESS, qop=AUTH, nc=00000002, cnonce=c, userhash=TRUE"
    )
    assert creds.username == 'a"b\\c'
    assert creds.realm == "r, with comma"
    assert creds.uri == "/x?a=1,2"
    assert creds.algorithm == "SHA-256-sess"
    assert creds.qop == "auth" and creds.nc == "00000002" and creds.userhash


def test_parse_username_star_utf8() -> None:
    creds = digest_creds(
        "Digest username*=UTF-8''J%C3%A4ger, realm=r, nonce=n, uri=/, response=abc"
    )
    assert creds.username == "Jäger"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "Digest",
        "Digest ",
        "Bearer abc.def",
        "Negotiate YII=",
        "Digest username=bob, realm=r, nonce=n, uri=/x",  # no response
        'Digest username="bob, realm=r, nonce=n, uri=/x, response=a',  # unterminated
        "Digest ===,,,",
        "Digest justtext",
        "Digest username*=bogus, realm=r, nonce=n, uri=/x, response=abc",
        "Basic",
        "Basic !!!notbase64!!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic Zm9v YmFy",
        "\x00\xff garbage \u2603",
        "Digest " + "a=b, " * 5000,
    ],
)
def test_parse_garbage_returns_none(header: str | None) -> None:
    assert parse_authorization(header) is None


def test_parse_basic_variants() -> None:
    token = base64.b64encode("user:pa:ss wörd".encode()).decode()
    assert parse_authorization(f"Basic {token}") == BasicCredentials("user", "pa:ss wörd")
    assert parse_authorization(f"basic   {token}  ") == BasicCredentials("user", "pa:ss wörd")
    unpadded = base64.b64encode(b"u:pw").decode().rstrip("=")
    assert parse_authorization(f"BASIC {unpadded}") == BasicCredentials("u", "pw")
    latin1 = base64.b64encode("cpe:pässwörd".encode("latin-1")).decode()
    assert parse_authorization(f"Basic {latin1}") == BasicCredentials("cpe", "pässwörd")


def test_basic_repr_hides_password() -> None:
    assert "hunter2" not in repr(BasicCredentials("u", "hunter2"))


# --------------------------------------------------------------------------- basic


def test_verify_basic(authority: DigestAuthority) -> None:
    ok = authority.verify_basic(BasicCredentials(USER, PASSWORD), ha1_for=HA1_FOR)
    assert ok == Verdict(ok=True, username=USER, reason="basic")
    bad = authority.verify_basic(BasicCredentials(USER, "wrong"), ha1_for=HA1_FOR)
    assert not bad.ok and bad.username is None and "wrong" not in bad.reason
    unknown = authority.verify_basic(BasicCredentials("nobody", PASSWORD), ha1_for=HA1_FOR)
    assert not unknown.ok and unknown.reason == "unknown user"


def test_verify_basic_latin1_password_end_to_end(authority: DigestAuthority) -> None:
    """A latin-1 Basic header from old firmware matches an HA1 made from the same text."""
    ha1_for = store({"cpe": "pässwörd"})
    token = base64.b64encode("cpe:pässwörd".encode("latin-1")).decode()
    creds = parse_authorization(f"Basic {token}")
    assert isinstance(creds, BasicCredentials)
    assert authority.verify_basic(creds, ha1_for=ha1_for).ok


def test_verify_basic_with_only_md5_stored(authority: DigestAuthority) -> None:
    md5 = make_ha1(USER, REALM, PASSWORD, "MD5")

    def ha1_for(username: str, algorithm: str) -> str | None:
        return md5 if (username, algorithm) == (USER, "MD5") else None

    assert authority.verify_basic(BasicCredentials(USER, PASSWORD), ha1_for=ha1_for).ok
    assert not authority.verify_basic(BasicCredentials(USER, "x"), ha1_for=ha1_for).ok


def test_basic_challenge() -> None:
    assert basic_challenge(REALM) == f'Basic realm="{REALM}"'


# ------------------------------------------------------------------ nonce tracker


def test_tracker_rules() -> None:
    t = MemoryNonceTracker()
    assert t.seen("n", 1, "a")
    assert t.seen("n", 1, "a")  # same binding may repeat
    assert not t.seen("n", 1, "b")  # elsewhere it is a replay
    assert t.seen("n", 2, "b")  # growth is fine
    assert not t.seen("n", 2, "b")  # b is not the first binding
    assert t.seen("n", 1, "a")  # lower nc from the first binding
    assert t.seen("m", 5, "b")  # nonces are independent


def test_tracker_expiry() -> None:
    clock = Clock(0.0)
    t = MemoryNonceTracker(ttl=10, clock=clock)
    assert t.seen("n", 1, "a")
    clock.now = 9.9
    assert not t.seen("n", 1, "b")
    assert len(t) == 1
    clock.now = 10.0
    assert len(t) == 0
    assert t.seen("n", 1, "b")  # entry forgotten once the nonce itself is dead


def test_tracker_bounded() -> None:
    t = MemoryNonceTracker(max_entries=3)
    for i in range(10):
        assert t.seen(f"n{i}", 1, "a")
    assert len(t) == 3
    assert not t.seen("n9", 1, "b")  # newest entries kept
    assert t.seen("n0", 1, "b")  # oldest evicted


def test_tracker_validation() -> None:
    with pytest.raises(ValueError):
        MemoryNonceTracker(ttl=0)
    with pytest.raises(ValueError):
        MemoryNonceTracker(max_entries=0)
