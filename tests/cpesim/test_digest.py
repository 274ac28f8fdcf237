"""HTTP authentication: the Digest/Basic client and the connection-request Digest server."""

from __future__ import annotations

from cpesim.digest import (
    ClientAuth,
    DigestServer,
    digest_response,
    parse_auth_params,
    parse_challenges,
)

# RFC 7616 section 3.9.1.
RFC = {
    "username": "Mufasa",
    "realm": "http-auth@example.org",
    "password": "Circle of Life",
    "method": "GET",
    "uri": "/dir/index.html",
    "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    "nc": "00000001",
    "cnonce": "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    "qop": "auth",
}


def test_rfc7616_md5_and_sha256_vectors():
    assert digest_response(algorithm="MD5", **RFC) == "8ca523f5e9506fed4657c9700eebdbec"
    assert (
        digest_response(algorithm="SHA-256", **RFC)
        == "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    )


def test_challenge_parsing_handles_several_schemes_and_quoted_commas():
    got = parse_challenges(
        [
            'Digest realm="a, b", qop="auth,auth-int", nonce="n1", algorithm=SHA-256, Basic realm="x"',
            'Digest realm="r2", nonce="n2"',
        ]
    )
    assert got == [
        (
            "digest",
            {"realm": "a, b", "qop": "auth,auth-int", "nonce": "n1", "algorithm": "SHA-256"},
        ),
        ("basic", {"realm": "x"}),
        ("digest", {"realm": "r2", "nonce": "n2"}),
    ]
    assert parse_auth_params('a="q\\"uote", b=tok')[0] == {"a": 'q"uote', "b": "tok"}


def _params(header: str) -> dict[str, str]:
    return parse_auth_params(header, len("Digest "))[0]


def test_client_answers_the_preferred_supported_challenge_and_counts_nonces():
    auth = ClientAuth("Mufasa", "Circle of Life")
    assert auth.header("POST", "/acs") is None  # nothing before a challenge
    assert auth.challenge(
        ['Digest realm="r", qop="auth", nonce="n1", algorithm=SHA-256, opaque="o"']
    )
    first = _params(auth.header("POST", "/acs", cnonce="c1"))
    second = _params(auth.header("POST", "/acs", cnonce="c2"))
    assert (first["nc"], second["nc"]) == ("00000001", "00000002")
    assert first["algorithm"] == "SHA-256" and first["opaque"] == "o" and first["qop"] == "auth"
    expected = digest_response(
        algorithm="SHA-256",
        username="Mufasa",
        realm="r",
        password="Circle of Life",
        method="POST",
        uri="/acs",
        nonce="n1",
        nc="00000001",
        cnonce="c1",
        qop="auth",
    )
    assert first["response"] == expected


def test_client_gives_up_when_the_same_nonce_is_refused_again():
    auth = ClientAuth("u", "wrong")
    challenge = ['Digest realm="r", qop="auth", nonce="n1"']
    assert auth.challenge(challenge)
    assert not auth.challenge(challenge)
    stale = ['Digest realm="r", qop="auth", nonce="n2", stale=true']
    assert auth.challenge(stale)  # a stale nonce is always worth a retry


def test_basic_preemptive_and_digest_only_variants():
    auth = ClientAuth("u", "p", preemptive_basic=True)
    assert auth.header("POST", "/") == "Basic dTpw"
    assert not auth.challenge(['Basic realm="r"'])  # Basic already refused
    assert auth.challenge(['Digest realm="r", nonce="n"'])  # but Digest is answered
    only = ClientAuth("u", "p", preemptive_basic=True, digest_only=True)
    assert only.header("POST", "/").startswith("Basic ")
    assert not only.challenge(['Basic realm="r"'])
    plain = ClientAuth("u", "p")
    assert plain.challenge(['Basic realm="r"']) and plain.header("POST", "/") == "Basic dTpw"


def test_nonce_reuse_repeats_nc_one():
    auth = ClientAuth("u", "p", nonce_reuse=True)
    auth.challenge(['Digest realm="r", qop="auth", nonce="n1"'])
    assert {_params(auth.header("POST", "/"))["nc"] for _ in range(3)} == {"00000001"}


def test_unsupported_algorithms_and_qops_are_skipped():
    auth = ClientAuth("u", "p")
    assert not auth.challenge(['Digest realm="r", nonce="n", algorithm=SHA-512-256'])
    assert not auth.challenge(['Digest realm="r", nonce="n", qop="auth-int"'])
    assert auth.challenge(['Digest realm="r", nonce="n"'])  # RFC 2069 style: no qop
    assert "qop" not in _params(auth.header("GET", "/x"))


def test_digest_server_accepts_the_right_password_only():
    server = DigestServer("cpesim")
    challenge = server.challenge()
    good = ClientAuth("acs", "s3cret")
    assert good.challenge([challenge])
    assert server.verify(good.header("GET", "/cr/x"), "GET", "acs", "s3cret") == (True, False)
    bad = ClientAuth("acs", "nope")
    bad.challenge([challenge])
    assert server.verify(bad.header("GET", "/cr/x"), "GET", "acs", "s3cret") == (False, False)
    assert server.verify("Basic YWNzOnMzY3JldA==", "GET", "acs", "s3cret") == (False, False)
    forged = ClientAuth("acs", "s3cret")
    forged.challenge(['Digest realm="cpesim", qop="auth", nonce="abc.def"'])
    assert server.verify(forged.header("GET", "/cr/x"), "GET", "acs", "s3cret") == (False, False)


def test_digest_server_flags_expired_nonces_as_stale():
    server = DigestServer("cpesim", lifetime=-1)
    client = ClientAuth("acs", "pw")
    client.challenge([server.challenge()])
    assert server.verify(client.header("GET", "/cr/x"), "GET", "acs", "pw") == (False, True)
