"""Bearer tokens from a second, independent OpenID provider (panva's oidc-provider, tests/auth/second_idp.py).

JWT access tokens (RFC 9068) and opaque ones through introspection (RFC 7662, client_secret_basic
and private_key_jwt), roles from groups, key rotation, and refusals for the wrong audience,
issuer, typ, revoked tokens and bad introspection credentials.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey

from suite.auth import Authenticator, StaticKeyAuthenticator, TokenIssuers
from suite.auth.introspection import INACTIVE
from suite.config import AuthSettings, OidcSettings, StaticApiKey
from suite.errors import AuthenticationFailed
from tests.auth.jwks_server import FakeIdp, claims_for, header_of, mint, rsa_key
from tests.auth.second_idp import (
    INTROSPECTOR,
    INTROSPECTOR_JWT,
    OPAQUE_RESOURCE,
    OTHER_RESOURCE,
    SecondIdp,
    harness_installed,
)

GROUPS = {"svc-reporting": ["suite-readers", "finance"]}
ROLE_PATTERNS = {"suite-.*": ["employee"]}


@pytest.fixture(scope="module")
def introspection_key() -> RSAKey:
    return rsa_key("introspection-client")


@pytest.fixture(scope="module")
def second_idp(introspection_key: RSAKey) -> Iterator[SecondIdp]:
    if not harness_installed():
        pytest.fail("oidc-provider is not installed: run `make install` (npm ci in tests/auth/oidc_provider)")
    idp = SecondIdp(signing=[rsa_key("second-1")], introspection_key=introspection_key, groups=GROUPS).start()
    yield idp
    idp.close()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as http:
        yield http


def oidc(issuer: str, **settings: Any) -> OidcSettings:
    return OidcSettings(issuer=issuer, role_patterns=ROLE_PATTERNS, **settings)


def introspecting(issuer: str, **options: Any) -> OidcSettings:
    introspection = {"client_id": INTROSPECTOR[0], "client_secret": INTROSPECTOR[1], **options}
    return oidc(issuer, validation="both", introspection=introspection)


async def principal(tokens: TokenIssuers, token: str) -> Any:
    return await tokens.authenticate(f"Bearer {token}")


# --- JWT access tokens ---------------------------------------------------------------------------


async def test_jwt_access_token_gives_principal_with_roles_from_groups(
    client: httpx.AsyncClient, second_idp: SecondIdp
) -> None:
    tokens = TokenIssuers.from_settings([oidc(second_idp.issuer, required_typ="at+jwt")], client)
    found = await principal(tokens, second_idp.token())
    assert found.subject == "svc-reporting"
    assert found.groups == frozenset({"suite-readers", "finance"})
    assert found.roles == frozenset({"employee"})  # suite-readers via role_patterns; finance maps nothing


async def test_wrong_audience_refused(client: httpx.AsyncClient, second_idp: SecondIdp) -> None:
    tokens = TokenIssuers.from_settings([oidc(second_idp.issuer)], client)
    with pytest.raises(AuthenticationFailed, match="Token audience mismatch: expected 'suite'"):
        await principal(tokens, second_idp.token(OTHER_RESOURCE))


async def test_wrong_typ_refused(client: httpx.AsyncClient, second_idp: SecondIdp) -> None:
    tokens = TokenIssuers.from_settings([oidc(second_idp.issuer, required_typ="jwt")], client)
    with pytest.raises(AuthenticationFailed, match="Token type not accepted"):
        await principal(tokens, second_idp.token())


async def test_token_of_an_unconfigured_issuer_refused(client: httpx.AsyncClient, second_idp: SecondIdp) -> None:
    fake = FakeIdp().start()
    try:
        only_fake = TokenIssuers.from_settings([oidc(fake.issuer)], client)
        with pytest.raises(AuthenticationFailed, match=f"Token issuer not accepted: '{second_idp.issuer}'"):
            await principal(only_fake, second_idp.token())
        both = TokenIssuers.from_settings([oidc(fake.issuer), oidc("https://third.example.internal")], client)
        with pytest.raises(AuthenticationFailed, match=f"Token issuer not accepted: '{second_idp.issuer}'"):
            await principal(both, second_idp.token())
    finally:
        fake.stop()


async def test_two_issuers_side_by_side(client: httpx.AsyncClient, second_idp: SecondIdp) -> None:
    company = FakeIdp().start()
    key = rsa_key("company-1")
    company.publish(key)
    try:
        tokens = TokenIssuers.from_settings(
            [
                OidcSettings(issuer=company.issuer, audience="suite-web", role_mapping={"/Staff": ["employee"]}),
                oidc(second_idp.issuer),
            ],
            client,
        )
        employee = await principal(tokens, mint(key, claims_for(company.issuer, aud="suite-web", groups=["/Staff"])))
        service = await principal(tokens, second_idp.token())
        assert (employee.subject, employee.roles) == ("u-1234", frozenset({"employee"}))
        assert (service.subject, service.roles) == ("svc-reporting", frozenset({"employee"}))
        # Each issuer's own audience: the company's token for "suite" is refused.
        with pytest.raises(AuthenticationFailed, match="expected 'suite-web'"):
            await principal(tokens, mint(key, claims_for(company.issuer, aud="suite")))
    finally:
        company.stop()


async def test_rotated_key_accepted_on_first_request(client: httpx.AsyncClient, introspection_key: RSAKey) -> None:
    old, new = rsa_key("rot-1"), rsa_key("rot-2")
    idp = SecondIdp(signing=[old], introspection_key=introspection_key, groups=GROUPS).start()
    try:
        tokens = TokenIssuers.from_settings([oidc(idp.issuer)], client)  # default jwks_min_refetch_s: 60
        await principal(tokens, idp.token())
        idp.restart(signing=[new, old])  # the IdP signs with the new key at once
        token = idp.token()
        assert header_of(token)["kid"] == "rot-2"
        assert (await principal(tokens, token)).subject == "svc-reporting"
    finally:
        idp.close()


# --- opaque tokens: introspection ---------------------------------------------------------------


async def test_opaque_token_accepted_through_introspection_and_refused_once_revoked(
    client: httpx.AsyncClient, second_idp: SecondIdp
) -> None:
    tokens = TokenIssuers.from_settings([introspecting(second_idp.issuer, cache_ttl_s=0)], client)
    token = second_idp.token(OPAQUE_RESOURCE)
    assert token.count(".") == 0
    found = await principal(tokens, token)
    assert (found.subject, found.roles) == ("svc-reporting", frozenset({"employee"}))
    second_idp.revoke(token)
    with pytest.raises(AuthenticationFailed, match=INACTIVE):
        await principal(tokens, token)


async def test_introspection_answers_are_cached(client: httpx.AsyncClient, second_idp: SecondIdp) -> None:
    tokens = TokenIssuers.from_settings([introspecting(second_idp.issuer, cache_ttl_s=300)], client)
    token = second_idp.token(OPAQUE_RESOURCE)
    await principal(tokens, token)
    second_idp.revoke(token)
    # Within cache_ttl_s the cached answer stands (documented: revocation takes up to cache_ttl_s).
    assert (await principal(tokens, token)).subject == "svc-reporting"
    unknown = "x" * 43
    for _ in range(2):
        with pytest.raises(AuthenticationFailed, match=INACTIVE):
            await principal(tokens, unknown)


async def test_a_cached_introspection_answer_never_outlives_the_token(
    client: httpx.AsyncClient, introspection_key: RSAKey
) -> None:
    idp = SecondIdp(signing=[rsa_key("short-1")], introspection_key=introspection_key, groups=GROUPS, token_ttl_s=2)
    idp.start()
    try:
        introspection = {"client_id": INTROSPECTOR[0], "client_secret": INTROSPECTOR[1], "cache_ttl_s": 300}
        settings = oidc(idp.issuer, validation="both", leeway_s=0, introspection=introspection)
        tokens = TokenIssuers.from_settings([settings], client)
        token = idp.token(OPAQUE_RESOURCE)
        assert (await principal(tokens, token)).subject == "svc-reporting"
        await asyncio.sleep(3)
        # cache_ttl_s is 300, but the answer is kept only until the token's exp.
        with pytest.raises(AuthenticationFailed, match=r"Token expired|Token not active"):
            await principal(tokens, token)
    finally:
        idp.close()


async def test_introspection_with_private_key_jwt(
    client: httpx.AsyncClient, second_idp: SecondIdp, introspection_key: RSAKey, tmp_path: Path
) -> None:
    pem = tmp_path / "client.pem"
    pem.write_bytes(introspection_key.as_pem(private=True))
    settings = oidc(
        second_idp.issuer,
        validation="introspection",
        introspection={"client_id": INTROSPECTOR_JWT, "client_auth": "private_key_jwt", "private_key_file": pem},
    )
    tokens = TokenIssuers.from_settings([settings], client)
    assert (await principal(tokens, second_idp.token(OPAQUE_RESOURCE))).subject == "svc-reporting"
    # validation "introspection" asks the IdP about JWTs too; this one does not introspect its JWTs.
    with pytest.raises(AuthenticationFailed, match="cannot introspect this kind of token"):
        await principal(tokens, second_idp.token())


async def test_bad_introspection_credentials_say_so(client: httpx.AsyncClient, second_idp: SecondIdp) -> None:
    settings = introspecting(second_idp.issuer, client_secret="wrong")
    tokens = TokenIssuers.from_settings([settings], client)
    with pytest.raises(AuthenticationFailed, match="refused the suite's introspection client"):
        await principal(tokens, second_idp.token(OPAQUE_RESOURCE))


async def test_opaque_token_refused_when_no_issuer_introspects(
    client: httpx.AsyncClient, second_idp: SecondIdp
) -> None:
    tokens = TokenIssuers.from_settings([oidc(second_idp.issuer)], client)
    with pytest.raises(AuthenticationFailed, match="Opaque token refused"):
        await principal(tokens, second_idp.token(OPAQUE_RESOURCE))


async def test_authenticator_takes_unknown_static_credentials_for_opaque_tokens(
    client: httpx.AsyncClient, second_idp: SecondIdp
) -> None:
    static = StaticKeyAuthenticator(AuthSettings(static_api_keys=[StaticApiKey(name="ci", sha256="0" * 64)]))
    tokens = TokenIssuers.from_settings([introspecting(second_idp.issuer)], client)
    authenticator = Authenticator(static_keys=static, api_keys=None, tokens=tokens)  # type: ignore[arg-type]
    found = await authenticator.authenticate(f"Bearer {second_idp.token(OPAQUE_RESOURCE)}")
    assert found.subject == "svc-reporting"
    plain = Authenticator(
        static_keys=static,
        api_keys=None,  # type: ignore[arg-type]
        tokens=TokenIssuers.from_settings([oidc(second_idp.issuer)], client),
    )
    with pytest.raises(AuthenticationFailed, match="Invalid API key"):
        await plain.authenticate(f"Bearer {second_idp.token(OPAQUE_RESOURCE)}")
