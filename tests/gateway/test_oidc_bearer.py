"""Bearer tokens from a real OIDC flow (the dev IdP that the gateway mounts) through the gateway."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from joserfc import jwt

from suite.auth.dev_idp import DevIdpKeys
from suite.gateway import create_app, services_of
from suite.serving import EngineProcess
from tests.auth.dev_idp.flow import (
    BATCH_SECRET,
    CLI_CALLBACK,
    Idp,
    authorization_code,
    dev_idp_settings,
    start_authorization,
)
from tests.support import SYSTEM, ServerThread, free_port, gateway_settings

QUESTION = [SYSTEM, {"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def oidc_gateway(vllm_engine: EngineProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """The gateway with the dev IdP mounted at /idp and bearer tokens accepted from it."""
    port = free_port()
    settings = gateway_settings(
        tmp_path_factory.mktemp("oidc-gateway"),
        backends=[vllm_engine.backend.url],
        identity={"dev_idp": dev_idp_settings()},
        embeddings=True,
        port=port,
    )
    server = ServerThread(create_app(settings, manage_engines=False), port=port).start()
    yield server
    server.stop()


def idp_of(gateway: ServerThread) -> Idp:
    data_dir: Path = services_of(gateway.server.config.app).settings.data_dir
    return Idp(url=f"{gateway.url}/idp", keys=DevIdpKeys.load_or_create(data_dir / "dev-idp"))


def user_token(gateway: ServerThread, username: str) -> str:
    """Authorization code + PKCE as the public CLI client, the way a person's tool gets a token."""
    idp = idp_of(gateway)
    with httpx.Client() as http:
        auth = start_authorization("suite-cli", redirect_uri=CLI_CALLBACK)
        code = authorization_code(http, idp, auth, username=username)
        tokens = http.post(
            f"{idp.url}/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": CLI_CALLBACK,
                "code_verifier": auth.verifier,
                "client_id": "suite-cli",
            },
        ).json()
    token: str = tokens["access_token"]
    return token


def client_with(gateway: ServerThread, token: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=token, max_retries=0, timeout=60)


def test_user_token_from_code_flow_reaches_the_model(oidc_gateway: ServerThread) -> None:
    alice = client_with(oidc_gateway, user_token(oidc_gateway, "alice"))
    answer = alice.chat.completions.create(model="default", messages=QUESTION, max_tokens=4)
    assert answer.choices[0].message.content
    assert "default" in {m.id for m in alice.models.list()}


def test_role_without_a_grant_is_denied(oidc_gateway: ServerThread) -> None:
    carol = client_with(oidc_gateway, user_token(oidc_gateway, "carol"))  # compliance officer
    assert list(carol.models.list()) == []
    with pytest.raises(openai.PermissionDeniedError, match="smollm2-135m-instruct"):
        carol.chat.completions.create(model="default", messages=QUESTION, max_tokens=2)


def test_service_token_from_client_credentials(oidc_gateway: ServerThread) -> None:
    response = httpx.post(
        f"{oidc_gateway.url}/idp/token",
        data={"grant_type": "client_credentials", "scope": "openid"},
        auth=("svc-batch", BATCH_SECRET),
    )
    service = client_with(oidc_gateway, response.json()["access_token"])
    answer = service.chat.completions.create(model="default", messages=QUESTION, max_tokens=2)
    assert answer.choices[0].message.content is not None


def test_forged_and_expired_tokens_are_401_with_reasons(oidc_gateway: ServerThread) -> None:
    token = user_token(oidc_gateway, "alice")
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload[:-4]}AAAA.{signature}"
    keys = idp_of(oidc_gateway).keys
    claims = jwt.decode(token, keys.verification_keys()).claims
    expired = jwt.encode(
        {"alg": "RS256", "kid": keys.current_kid, "typ": "at+jwt"},
        {**claims, "exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200, "nbf": int(time.time()) - 7200},
        keys.signing_keys(),
    )
    for bad, reason in [(tampered, "signature invalid|Malformed"), (expired, "Token expired")]:
        with pytest.raises(openai.AuthenticationError, match=reason):
            client_with(oidc_gateway, bad).models.list()


def test_token_in_query_string_is_refused(oidc_gateway: ServerThread) -> None:
    token = user_token(oidc_gateway, "alice")
    response = httpx.get(f"{oidc_gateway.url}/v1/models", params={"access_token": token})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
