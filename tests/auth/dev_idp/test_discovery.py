"""Discovery document and JWKS: what a relying party reads before anything else."""

from __future__ import annotations

import base64

import httpx

from suite.auth import dev_idp
from tests.auth.dev_idp.flow import Idp

PRIVATE_RSA_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


def test_discovery_names_the_endpoints_and_what_they_support(idp: Idp, http: httpx.Client) -> None:
    response = http.get(f"{idp.url}/.well-known/openid-configuration")

    assert response.status_code == 200
    meta = response.json()
    assert meta["issuer"] == idp.url
    for key, path in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("jwks_uri", "/jwks"),
        ("userinfo_endpoint", "/userinfo"),
        ("end_session_endpoint", "/logout"),
    ]:
        assert meta[key] == f"{idp.url}{path}"
    assert set(meta["grant_types_supported"]) == {"authorization_code", "refresh_token", "client_credentials"}
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"client_secret_basic", "client_secret_post", "none"} <= set(meta["token_endpoint_auth_methods_supported"])
    assert "openid" in meta["scopes_supported"]


def test_jwks_publishes_public_rsa_keys_only(idp: Idp, http: httpx.Client) -> None:
    response = http.get(f"{idp.url}/jwks")

    assert response.status_code == 200
    keys = response.json()["keys"]
    assert [key["kid"] for key in keys] == idp.keys.kids
    for key in keys:
        assert key["kty"] == "RSA"
        assert key["alg"] == "RS256"
        assert key["use"] == "sig"
        assert not PRIVATE_RSA_MEMBERS & key.keys()
        modulus = base64.urlsafe_b64decode(key["n"] + "=" * (-len(key["n"]) % 4))
        assert len(modulus) * 8 == 2048


def test_public_surface_is_listed() -> None:
    names = "DevIdpKeys DevIdpRequestFailed DevIdpStateError create_dev_idp_app mint_access_token request_access_token"
    assert sorted(dev_idp.__all__) == names.split()
    for name in dev_idp.__all__:
        assert getattr(dev_idp, name) is not None
    assert "not for production" in (dev_idp.__doc__ or "").lower()
