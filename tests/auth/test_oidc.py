"""OIDC bearer tokens against a real IdP over HTTP: valid tokens pass, every forgery is refused with its reason."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey, RSAKey
from structlog.testing import capture_logs

from suite.auth.oidc import UNREACHABLE, OidcVerifier
from suite.config import OidcSettings
from suite.errors import AuthenticationFailed
from tests.auth.jwks_server import FakeIdp, b64, claims_for, ec_key, mint, rsa_key, self_signed_cert
from tests.support import free_port


@pytest.fixture(scope="module")
def rsa() -> RSAKey:
    return rsa_key("rsa-1")


@pytest.fixture(scope="module")
def ec() -> ECKey:
    return ec_key("ec-1")


@pytest.fixture(scope="module")
def attacker() -> RSAKey:
    return rsa_key("attacker-1")


@pytest.fixture(scope="module")
def idp_server() -> Iterator[FakeIdp]:
    server = FakeIdp().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def attacker_server(attacker: RSAKey) -> Iterator[FakeIdp]:
    """A JWKS the attacker controls, serving the attacker's key: the verifier must never ask it."""
    server = FakeIdp().start()
    server.publish(attacker)
    yield server
    server.stop()


@pytest.fixture
def idp(idp_server: FakeIdp, rsa: RSAKey, ec: ECKey) -> FakeIdp:
    idp_server.publish(rsa, ec)
    return idp_server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as http:
        yield http


def make_verifier(client: httpx.AsyncClient, issuer: str, **settings: Any) -> OidcVerifier:
    options = {key: value for key, value in settings.items() if key == "max_key_age_s"}
    oidc = OidcSettings(issuer=issuer, **{key: value for key, value in settings.items() if key not in options})
    return OidcVerifier(oidc, client, **options)


@pytest.fixture
def verifier(client: httpx.AsyncClient, idp: FakeIdp) -> OidcVerifier:
    return make_verifier(client, idp.issuer)


async def refused(verifier: OidcVerifier, token: str, reason: str) -> None:
    with pytest.raises(AuthenticationFailed, match=reason):
        await verifier.verify(token)


# --- valid tokens -------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256"])
async def test_valid_token_gives_claims_and_principal(
    verifier: OidcVerifier, idp: FakeIdp, rsa: RSAKey, ec: ECKey, alg: str
) -> None:
    key = ec if alg == "ES256" else rsa
    claims = claims_for(idp.issuer, realm_access={"roles": ["admin", "offline_access"]})
    token = mint(key, claims, alg=alg)
    assert (await verifier.verify(token))["sub"] == "u-1234"
    principal = await verifier.authenticate(f"Bearer {token}")
    assert principal.subject == "u-1234"
    assert principal.name == "Erika Mustermann"
    assert principal.roles == frozenset({"admin"})
    assert principal.auth_method == "oidc_bearer"


async def test_token_within_leeway_is_accepted(verifier: OidcVerifier, idp: FakeIdp, rsa: RSAKey) -> None:
    now = int(time.time())
    claims = claims_for(idp.issuer, exp=now - 10, nbf=now + 10, iat=now + 10)
    assert await verifier.verify(mint(rsa, claims)) == claims
    # Past the 30 s leeway each time claim is refused for its own reason.
    await refused(verifier, mint(rsa, claims_for(idp.issuer, exp=now - 40)), "Token expired")
    await refused(verifier, mint(rsa, claims_for(idp.issuer, nbf=now + 40)), "Token not yet valid")


async def test_token_without_kid_uses_the_only_key_of_its_type(
    verifier: OidcVerifier, idp: FakeIdp, rsa: RSAKey, ec: ECKey
) -> None:
    for key, alg, subject in ((rsa, "RS256", "u-rsa"), (ec, "ES256", "u-ec")):
        claims = claims_for(idp.issuer, sub=subject, roles=["employee", "unmapped"])
        token = mint(key, claims, alg=alg, kid=None)
        assert await verifier.verify(token) == claims
        principal = await verifier.authenticate(f"Bearer {token}")
        assert (principal.subject, principal.roles) == (subject, frozenset({"employee"}))
    # Signed by a key the IdP does not publish, the kid-less token finds no key to fit.
    await refused(verifier, mint(rsa_key("unpublished"), claims_for(idp.issuer), kid=None), "Token signature invalid")


async def test_token_without_kid_refused_when_several_keys_fit(
    client: httpx.AsyncClient, idp: FakeIdp, rsa: RSAKey, ec: ECKey
) -> None:
    idp.publish(rsa, ec, rsa_key("rsa-2"))
    await refused(make_verifier(client, idp.issuer), mint(rsa, claims_for(idp.issuer), kid=None), "Unknown signing key")


async def test_warm_cache_fetches_keys_once(verifier: OidcVerifier, idp: FakeIdp, rsa: RSAKey) -> None:
    tokens = [mint(rsa, claims_for(idp.issuer, sub=f"u-{i}")) for i in range(5)]
    # Concurrent first requests share one fetch.
    await asyncio.gather(*(verifier.verify(token) for token in tokens))
    for token in tokens:
        await verifier.verify(token)
    assert idp.hits == {"discovery": 1, "jwks": 1}


async def test_rotated_key_is_accepted_on_its_first_request(verifier: OidcVerifier, idp: FakeIdp, rsa: RSAKey) -> None:
    await verifier.verify(mint(rsa, claims_for(idp.issuer)))
    # A refused unknown kid just before must not hold back another, freshly rotated one.
    await refused(verifier, mint(rsa_key("stray"), claims_for(idp.issuer)), "Unknown signing key")
    rotated = rsa_key("rsa-2")
    idp.published.append(rotated)
    await verifier.verify(mint(rotated, claims_for(idp.issuer)))  # default jwks_min_refetch_s: 60
    assert idp.hits["jwks"] == 3


async def test_flood_of_unknown_kids_is_bounded_globally(client: httpx.AsyncClient, idp: FakeIdp, rsa: RSAKey) -> None:
    verifier = make_verifier(client, idp.issuer, jwks_max_refetch_per_minute=5)
    await verifier.verify(mint(rsa, claims_for(idp.issuer)))
    forged = [mint(rsa_key(f"random-{i}"), claims_for(idp.issuer)) for i in range(30)]
    for token in forged[:15]:
        await refused(verifier, token, "Unknown signing key")
    results = await asyncio.gather(*(verifier.verify(token) for token in forged[15:]), return_exceptions=True)
    assert all(isinstance(result, AuthenticationFailed) for result in results)
    # The first fetch and four refetches: the bucket of 5 a minute, whatever the number of kids.
    assert idp.hits["jwks"] == 5
    await verifier.verify(mint(rsa, claims_for(idp.issuer)))  # known keys keep working


async def test_unknown_kid_refetches_at_most_once_per_interval(
    client: httpx.AsyncClient, idp: FakeIdp, rsa: RSAKey, attacker: RSAKey
) -> None:
    verifier = make_verifier(client, idp.issuer, jwks_min_refetch_s=0.5)
    await verifier.verify(mint(rsa, claims_for(idp.issuer)))
    assert idp.hits["jwks"] == 1
    await asyncio.sleep(0.6)
    forged = mint(attacker, claims_for(idp.issuer))
    await refused(verifier, forged, "Unknown signing key")
    await refused(verifier, mint(attacker, claims_for(idp.issuer, sub="other")), "Unknown signing key")
    assert idp.hits["jwks"] == 2
    await asyncio.sleep(0.6)
    results = await asyncio.gather(*(verifier.verify(forged) for _ in range(10)), return_exceptions=True)
    assert all(isinstance(result, AuthenticationFailed) for result in results)
    assert idp.hits["jwks"] == 3


async def test_withdrawn_key_stops_being_trusted(
    client: httpx.AsyncClient, idp: FakeIdp, rsa: RSAKey, ec: ECKey
) -> None:
    verifier = make_verifier(client, idp.issuer, jwks_min_refetch_s=0, max_key_age_s=0.2)
    token = mint(rsa, claims_for(idp.issuer))
    await verifier.verify(token)
    idp.published = [ec]
    await asyncio.sleep(0.3)
    await refused(verifier, token, "Unknown signing key")


async def test_idp_down_with_warm_cache_still_validates(
    client: httpx.AsyncClient, rsa: RSAKey, attacker: RSAKey
) -> None:
    idp = FakeIdp().start()
    idp.publish(rsa)
    verifier = make_verifier(client, idp.issuer, jwks_min_refetch_s=0, max_key_age_s=0)
    token = mint(rsa, claims_for(idp.issuer))
    await verifier.verify(token)
    idp.stop()
    # Every call now tries to refresh (max age 0) and fails; the keys held still serve.
    await verifier.verify(token)
    await refused(verifier, mint(attacker, claims_for(idp.issuer)), "Unknown signing key")


async def test_idp_down_with_cold_cache_says_so(client: httpx.AsyncClient, rsa: RSAKey) -> None:
    issuer = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    verifier = make_verifier(client, issuer)
    token = mint(rsa, claims_for(issuer))
    await refused(verifier, token, UNREACHABLE)
    with pytest.raises(AuthenticationFailed, match=UNREACHABLE):
        await verifier.authenticate(f"Bearer {token}")


async def test_verifier_needs_an_issuer(client: httpx.AsyncClient) -> None:
    with pytest.raises(ValueError, match="issuer"):
        OidcVerifier(OidcSettings(), client)


# --- forged and broken tokens ------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
@pytest.mark.parametrize("signature", ["", "c2ln"])
async def test_unsigned_token_refused(verifier: OidcVerifier, idp: FakeIdp, alg: str, signature: str) -> None:
    token = f"{b64({'alg': alg, 'typ': 'JWT', 'kid': 'rsa-1'})}.{b64(claims_for(idp.issuer))}.{signature}"
    await refused(verifier, token, "Token algorithm not allowed")


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
async def test_hmac_with_the_public_key_as_secret_refused(
    verifier: OidcVerifier, idp: FakeIdp, rsa: RSAKey, alg: str
) -> None:
    signing_input = f"{b64({'alg': alg, 'typ': 'JWT', 'kid': 'rsa-1'})}.{b64(claims_for(idp.issuer))}"
    digest = getattr(hashlib, f"sha{alg[2:]}")
    signature = hmac.new(rsa.as_pem(private=False), signing_input.encode(), digest).digest()
    await refused(verifier, f"{signing_input}.{b64(signature)}", "Token algorithm not allowed")
    assert idp.hits["jwks"] == 0  # refused before any key was looked up


@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS512", "ES384", "EdDSA", "RSA-OAEP"])
async def test_algorithms_beyond_the_allow_list_refused(verifier: OidcVerifier, idp: FakeIdp, alg: str) -> None:
    token = f"{b64({'alg': alg, 'kid': 'rsa-1'})}.{b64(claims_for(idp.issuer))}.c2ln"
    await refused(verifier, token, "Token algorithm not allowed")


async def test_algorithm_outside_configured_subset_refused(client: httpx.AsyncClient, idp: FakeIdp, ec: ECKey) -> None:
    verifier = make_verifier(client, idp.issuer, algorithms=["RS256"])
    await refused(verifier, mint(ec, claims_for(idp.issuer), alg="ES256"), "Token algorithm not allowed")


@pytest.mark.parametrize(("alg", "kid"), [("ES256", "rsa-1"), ("RS256", "ec-1"), ("PS256", "ec-1")])
async def test_algorithm_must_fit_the_key_type(
    verifier: OidcVerifier, idp: FakeIdp, rsa: RSAKey, ec: ECKey, alg: str, kid: str
) -> None:
    signer = ec if alg == "ES256" else rsa
    await refused(verifier, mint(signer, claims_for(idp.issuer), alg=alg, kid=kid), "Token algorithm not allowed")


async def test_key_pinned_to_an_algorithm_refuses_another(client: httpx.AsyncClient, idp: FakeIdp) -> None:
    pinned = rsa_key("pinned", alg="RS256")
    idp.publish(pinned)
    verifier = make_verifier(client, idp.issuer)
    await verifier.verify(mint(pinned, claims_for(idp.issuer)))
    # The same private key without the pin, so the signing side does not refuse first.
    unpinned = RSAKey.import_key({k: v for k, v in pinned.as_dict(private=True).items() if k != "alg"})
    await refused(verifier, mint(unpinned, claims_for(idp.issuer), alg="PS256"), "Token algorithm not allowed")


async def test_ec_key_on_another_curve_is_never_loaded(client: httpx.AsyncClient, idp: FakeIdp) -> None:
    idp.publish(ec_key("ec-384", curve="P-384"))
    token = f"{b64({'alg': 'ES256', 'kid': 'ec-384'})}.{b64(claims_for(idp.issuer))}.c2ln"
    await refused(make_verifier(client, idp.issuer), token, "Unknown signing key")


async def test_unusable_jwks_entries_are_skipped(
    client: httpx.AsyncClient, idp: FakeIdp, rsa: RSAKey, attacker: RSAKey
) -> None:
    secret = b64(rsa.as_pem(private=False))
    idp.extra_entries = [
        {"kty": "oct", "kid": "oct-1", "k": secret},
        {"kty": "RSA", "kid": "enc-1", "use": "enc", **attacker.as_dict(private=False)},
        {"kty": "RSA", "kid": "broken", "n": "AQAB", "e": "AQAB"},
        {"kty": "EC", "kid": "odd-curve", "crv": "P-999", "x": "AA", "y": "AA"},
        {"kid": "no-kty"},
        "not a key",
    ]
    verifier = make_verifier(client, idp.issuer)
    await verifier.verify(mint(rsa, claims_for(idp.issuer)))
    await refused(verifier, mint(attacker, claims_for(idp.issuer), kid="enc-1"), "Unknown signing key")


@pytest.mark.parametrize("body", ["<html>down for maintenance</html>", "[]", '{"keys": "none"}'])
async def test_idp_answering_garbage_with_cold_cache_says_unreachable(
    client: httpx.AsyncClient, idp: FakeIdp, rsa: RSAKey, body: str
) -> None:
    idp.jwks_body = body
    await refused(make_verifier(client, idp.issuer), mint(rsa, claims_for(idp.issuer)), UNREACHABLE)


async def test_discovery_for_another_issuer_is_not_trusted(
    client: httpx.AsyncClient, idp: FakeIdp, rsa: RSAKey
) -> None:
    idp.discovery_issuer = "https://elsewhere.example"
    await refused(make_verifier(client, idp.issuer), mint(rsa, claims_for(idp.issuer)), UNREACHABLE)
    assert idp.hits["jwks"] == 0


async def test_tampered_claims_refused(verifier: OidcVerifier, idp: FakeIdp, rsa: RSAKey) -> None:
    header, _, signature = mint(rsa, claims_for(idp.issuer)).split(".")
    tampered = b64(claims_for(idp.issuer, sub="admin", realm_access={"roles": ["admin"]}))
    await refused(verifier, f"{header}.{tampered}.{signature}", "Token signature invalid")


async def test_new_key_reusing_a_published_kid_refused(verifier: OidcVerifier, idp: FakeIdp) -> None:
    impostor = rsa_key("rsa-1")
    await refused(verifier, mint(impostor, claims_for(idp.issuer)), "Token signature invalid")


async def test_unknown_kid_refused_without_hammering_the_idp(
    verifier: OidcVerifier, idp: FakeIdp, rsa: RSAKey, attacker: RSAKey
) -> None:
    await verifier.verify(mint(rsa, claims_for(idp.issuer)))
    await refused(verifier, mint(attacker, claims_for(idp.issuer)), "Unknown signing key")
    await refused(verifier, mint(attacker, claims_for(idp.issuer, sub="other")), "Unknown signing key")
    # One refetch for the new kid, none for it again within jwks_min_refetch_s.
    assert idp.hits == {"discovery": 1, "jwks": 2}


@pytest.mark.parametrize("header", ["jku", "x5u"])
@pytest.mark.parametrize(
    ("kid", "reason"),
    [("attacker-1", "Unknown signing key"), ("rsa-1", "Token signature invalid"), (None, "Token signature invalid")],
)
async def test_key_url_headers_are_never_followed(
    verifier: OidcVerifier,
    idp: FakeIdp,
    attacker: RSAKey,
    attacker_server: FakeIdp,
    header: str,
    kid: str | None,
    reason: str,
) -> None:
    attacker_server.hits.clear()
    token = mint(attacker, claims_for(idp.issuer), kid=kid, **{header: f"{attacker_server.issuer}/jwks"})
    await refused(verifier, token, reason)
    assert sum(attacker_server.hits.values()) == 0


@pytest.mark.parametrize(
    ("kid", "reason"),
    [("attacker-1", "Unknown signing key"), ("rsa-1", "Token signature invalid"), (None, "Token signature invalid")],
)
async def test_embedded_keys_are_ignored(
    verifier: OidcVerifier, idp: FakeIdp, attacker: RSAKey, kid: str | None, reason: str
) -> None:
    embedded_jwk = mint(attacker, claims_for(idp.issuer), kid=kid, jwk=attacker.as_dict(private=False))
    await refused(verifier, embedded_jwk, reason)
    embedded_x5c = mint(attacker, claims_for(idp.issuer), kid=kid, x5c=[self_signed_cert(attacker)])
    await refused(verifier, embedded_x5c, reason)


async def test_stripped_signature_refused(verifier: OidcVerifier, idp: FakeIdp, rsa: RSAKey) -> None:
    header, payload, _ = mint(rsa, claims_for(idp.issuer)).split(".")
    await refused(verifier, f"{header}.{payload}.", "Token signature invalid")
    await refused(verifier, f"{header}.{payload}", "Malformed token")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": -120}, "Token expired"),
        ({"exp": -31}, "Token expired"),
        ({"nbf": 120}, "Token not yet valid"),
        ({"iat": 120}, "Token issued in the future"),
    ],
)
async def test_token_times_checked(
    verifier: OidcVerifier, idp: FakeIdp, rsa: RSAKey, overrides: dict[str, int], reason: str
) -> None:
    now = int(time.time())
    claims = claims_for(idp.issuer, **{name: now + delta for name, delta in overrides.items()})
    await refused(verifier, mint(rsa, claims), reason)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iss": "http://127.0.0.1:1"}, "Token issuer mismatch"),
        ({"iss": None}, "Token issuer mismatch"),
        ({"aud": ["other"]}, "Token audience mismatch"),
        ({"aud": "other"}, "Token audience mismatch"),
        ({"aud": None}, "Token audience mismatch"),
        ({"exp": None}, "Token has no expiry"),
        ({"sub": None}, "Token has no subject"),
        ({"sub": ""}, "Token has no subject"),
        ({"exp": "99999999999"}, "Malformed token"),
        ({"exp": True}, "Malformed token"),
        ({"exp": float("nan")}, "Malformed token"),
        ({"exp": 10**400}, "Malformed token"),
    ],
)
async def test_claims_checked(
    verifier: OidcVerifier, idp: FakeIdp, rsa: RSAKey, overrides: dict[str, Any], reason: str
) -> None:
    await refused(verifier, mint(rsa, claims_for(idp.issuer, **overrides)), reason)


async def test_issuer_compared_exactly(verifier: OidcVerifier, idp: FakeIdp, rsa: RSAKey) -> None:
    await refused(verifier, mint(rsa, claims_for(idp.issuer + "/")), "Token issuer mismatch")


async def test_audience_as_single_string_accepted(verifier: OidcVerifier, idp: FakeIdp, rsa: RSAKey) -> None:
    await verifier.verify(mint(rsa, claims_for(idp.issuer, aud="suite")))


async def test_critical_header_extensions_refused(verifier: OidcVerifier, idp: FakeIdp, rsa: RSAKey) -> None:
    token = mint(rsa, claims_for(idp.issuer), crit=["b64"], b64=True)
    await refused(verifier, token, "Malformed token")


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "",
        "a.b.c",
        "a.b.c.d.e",
        "...",
        "Zm9v.Zm9v.Zm9v",
        f"{b64(b'[' * 3000 + b']' * 3000)}.e30.c2ln",  # nested past the recursion limit
        b64(b'["alg"]') + ".e30.c2ln",  # a header that is not an object
        f"{b64({'alg': 'RS256', 'kid': 7})}.e30.c2ln",
        "ü.ö.ä",
    ],
)
async def test_garbage_refused_as_malformed(verifier: OidcVerifier, token: str) -> None:
    await refused(verifier, token, "Malformed token")


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "Missing credentials"),
        ("", "Missing credentials"),
        ("Basic dXNlcjpwYXNz", "Malformed Authorization header"),
        ("Bearer ", "Malformed Authorization header"),
        ("Bearer garbage", "Malformed token"),
    ],
)
async def test_authorization_header_checked(verifier: OidcVerifier, header: str | None, reason: str) -> None:
    with pytest.raises(AuthenticationFailed, match=reason):
        await verifier.authenticate(header)


async def test_refusals_logged_without_the_token(verifier: OidcVerifier, idp: FakeIdp, rsa: RSAKey) -> None:
    header, payload, signature = mint(rsa, claims_for(idp.issuer, exp=int(time.time()) - 600)).split(".")
    with capture_logs() as logs, pytest.raises(AuthenticationFailed):
        await verifier.authenticate(f"Bearer {header}.{payload}.{signature}")
    refusals = [entry for entry in logs if entry["event"] == "token refused"]
    assert [entry["reason"] for entry in refusals] == ["Token expired: get a new access token."]
    for part in (header, payload, signature):
        assert all(part[:16] not in repr(entry) for entry in logs)


# --- typ (RFC 9068) ------------------------------------------------------------------------------


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT"])
async def test_required_typ_accepts_access_tokens(
    client: httpx.AsyncClient, idp: FakeIdp, rsa: RSAKey, typ: str
) -> None:
    verifier = make_verifier(client, idp.issuer, required_typ="at+jwt")
    await verifier.verify(mint(rsa, claims_for(idp.issuer), typ=typ))


@pytest.mark.parametrize("typ", [None, "JWT", "application/jwt", "at+jwt+x"])
async def test_required_typ_refuses_other_tokens(
    client: httpx.AsyncClient, idp: FakeIdp, rsa: RSAKey, typ: Any
) -> None:
    verifier = make_verifier(client, idp.issuer, required_typ="at+jwt")
    await refused(verifier, mint(rsa, claims_for(idp.issuer), typ=typ), "Token type not accepted")


async def test_typ_not_checked_by_default(verifier: OidcVerifier, idp: FakeIdp, rsa: RSAKey) -> None:
    await verifier.verify(mint(rsa, claims_for(idp.issuer), typ="JWT"))
