"""`suite auth check-token`: the verdict, the failed check, the principal and where each role came from; never the token."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from joserfc.jwk import RSAKey
from typer.testing import CliRunner

from suite.auth.check_token import explain
from suite.cli import app
from suite.config import Settings
from tests.auth.jwks_server import FakeIdp, claims_for, mint, rsa_key


@pytest.fixture(scope="module")
def key() -> RSAKey:
    return rsa_key("check-1")


@pytest.fixture(scope="module")
def idp(key: RSAKey) -> Iterator[FakeIdp]:
    server = FakeIdp().start()
    server.publish(key)
    yield server
    server.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as http:
        yield http


def settings_for(idp: FakeIdp, tmp_path: Path) -> Settings:
    oidc = {"issuer": idp.issuer, "role_mapping": {"/Staff": ["employee"]}, "role_patterns": {"suite-a.*": ["admin"]}}
    return Settings(data_dir=tmp_path, identity={"oidc": oidc})


async def test_accepted_token_explained(client: httpx.AsyncClient, idp: FakeIdp, key: RSAKey, tmp_path: Path) -> None:
    token = mint(key, claims_for(idp.issuer, groups=["/Staff", "suite-admins", "other"]))
    accepted, lines = await explain(token, settings_for(idp, tmp_path), client)
    text = "\n".join(lines)
    assert accepted
    assert f"accepted by issuer {idp.issuer}" in text
    assert "suite role 'employee': group '/Staff' via role_mapping" in text
    assert "suite role 'admin': group 'suite-admins' via role_patterns 'suite-a.*'" in text
    assert token not in text
    assert token.split(".")[2] not in text


async def test_refusal_names_the_failed_check(
    client: httpx.AsyncClient, idp: FakeIdp, key: RSAKey, tmp_path: Path
) -> None:
    token = mint(key, claims_for(idp.issuer, aud="another-app"))
    accepted, lines = await explain(token, settings_for(idp, tmp_path), client)
    text = "\n".join(lines)
    assert not accepted
    assert "refused: Token audience mismatch: expected 'suite'" in text
    assert "aud='another-app'" in text
    assert "suite roles (if it were accepted): none" in text


def test_cli_reads_the_token_from_stdin_and_exits_1_on_refusal(idp: FakeIdp, key: RSAKey, tmp_path: Path) -> None:
    config = tmp_path / "suite.yaml"
    config.write_text(f"data_dir: {tmp_path}\nidentity:\n  oidc:\n    issuer: {idp.issuer}\n")
    token = mint(key, claims_for(idp.issuer, exp=1))
    result = CliRunner().invoke(app, ["auth", "check-token", "--config", str(config)], input=token + "\n")
    assert result.exit_code == 1, result.output
    assert "refused: Token expired" in result.output
    assert token not in result.output
