"""Signing keys: persisted across restarts, rotated without breaking issued tokens, used by mint_access_token."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
import pytest

from suite.auth.dev_idp import DevIdpKeys, DevIdpStateError, mint_access_token
from tests.auth.dev_idp.flow import AUDIENCE, BATCH_SECRET, Idp, dev_idp_settings, jwks, serve_idp, verify


def _service_token(http: httpx.Client, idp: Idp) -> str:
    response = http.post(
        f"{idp.url}/token", data={"grant_type": "client_credentials"}, auth=("svc-batch", BATCH_SECRET)
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def test_keys_file_is_private_and_holds_the_kid(tmp_path: Path) -> None:
    keys = DevIdpKeys.load_or_create(tmp_path / "state")

    path = tmp_path / "state" / "keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())["keys"]
    assert [key["kid"] for key in stored] == [keys.current_kid]
    assert "d" in stored[0]  # the private key, so a restart can keep signing with it


def test_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key(
    tmp_path: Path, http: httpx.Client
) -> None:
    with serve_idp(tmp_path) as idp:
        before = _service_token(http, idp)
        old_kid = idp.keys.current_kid

        new_kid = idp.keys.rotate()

        assert new_kid != old_kid
        published = jwks(http, idp)
        assert [key.kid for key in published] == [new_kid, old_kid]
        assert verify(before, published, issuer=idp.url).header["kid"] == old_kid
        after = _service_token(http, idp)
        assert verify(after, published, issuer=idp.url).header["kid"] == new_kid


def test_rotation_keeps_the_last_three_keys(tmp_path: Path) -> None:
    keys = DevIdpKeys.load_or_create(tmp_path)
    kids = [keys.current_kid] + [keys.rotate() for _ in range(3)]

    assert keys.kids == kids[::-1][:3]
    assert DevIdpKeys.load_or_create(tmp_path).kids == keys.kids


def test_keys_survive_a_restart(tmp_path: Path, http: httpx.Client) -> None:
    with serve_idp(tmp_path) as first:
        token = _service_token(http, first)
        kids = first.keys.kids

    # A new app on the same state directory (loading the keys itself) still accepts the token.
    with serve_idp(tmp_path) as second:
        assert second.keys.kids == kids
        assert verify(token, jwks(http, second), issuer=first.url).header["kid"] == kids[0]


def test_a_rotation_by_another_process_is_picked_up(tmp_path: Path, http: httpx.Client) -> None:
    with serve_idp(tmp_path) as idp:
        # A second instance on the same directory stands for the CLI in another process.
        new_kid = DevIdpKeys.load_or_create(tmp_path).rotate()

        assert jwks(http, idp).keys[0].kid == new_kid
        assert verify(_service_token(http, idp), jwks(http, idp), issuer=idp.url).header["kid"] == new_kid


def test_a_broken_keys_file_is_refused_not_replaced(tmp_path: Path) -> None:
    (tmp_path / "keys.json").write_text("{not json")

    with pytest.raises(DevIdpStateError, match=r"keys\.json"):
        DevIdpKeys.load_or_create(tmp_path)
    assert (tmp_path / "keys.json").read_text() == "{not json"


def test_mint_access_token_verifies_against_the_running_provider(idp: Idp, http: httpx.Client) -> None:
    settings = dev_idp_settings()
    adam = next(user for user in settings.users if user.username == "adam")

    token = mint_access_token(
        settings, idp.keys, issuer=idp.url, audience=AUDIENCE, user=adam, client_id="suite-cli", scope="openid profile"
    )

    claims = verify(token, jwks(http, idp), issuer=idp.url).claims
    assert claims["sub"] == "adam"
    assert claims["client_id"] == "suite-cli"
    assert claims["scope"] == "openid profile"
    assert claims["roles"] == ["admin"]
    assert claims["realm_access"] == {"roles": ["admin"]}
    assert claims["groups"] == ["it"]
    assert claims["exp"] - claims["iat"] == settings.access_token_ttl_s
    userinfo = http.get(f"{idp.url}/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert userinfo.json()["sub"] == "adam"
