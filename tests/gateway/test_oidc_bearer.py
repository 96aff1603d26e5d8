"""Bearer tokens from a real OIDC flow (the dev IdP that the gateway mounts) through the gateway."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from joserfc import jwt

from suite.audit import AuditFilters, AuditQuery, AuditRecord
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


def claims_of(gateway: ServerThread, token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, idp_of(gateway).keys.verification_keys()).claims)


def record_of(gateway: ServerThread, request_id: str) -> AuditRecord:
    database = services_of(gateway.server.config.app).database
    found = AuditQuery(database).search(AuditFilters(), limit=1000).records
    (record,) = [record for record in found if record.request_id == request_id]
    return record


def test_user_token_from_code_flow_reaches_the_model(oidc_gateway: ServerThread) -> None:
    token = user_token(oidc_gateway, "alice")
    claims = claims_of(oidc_gateway, token)
    assert (claims["iss"], claims["aud"]) == (f"{oidc_gateway.url}/idp", "suite")
    assert (claims["sub"], claims["client_id"], claims["roles"]) == ("alice", "suite-cli", ["employee"])
    alice = client_with(oidc_gateway, token)
    raw = alice.chat.completions.with_raw_response.create(model="default", messages=QUESTION, max_tokens=4)
    assert raw.parse().choices[0].message.content
    # What the gateway made of the token: the subject, the mapped roles and the rule that allowed it.
    record = record_of(oidc_gateway, raw.headers["x-request-id"])
    assert (record.subject, record.roles, record.auth_method) == ("alice", ["employee"], "oidc_bearer")
    assert (record.decision, record.decision_rule) == ("allow", "employees-use-models")
    assert {m.id for m in alice.models.list()} == {"smollm2-135m-instruct", "default", "all-minilm-l6-v2",
                                                   "default-embedding"}  # fmt: skip


def test_role_without_a_grant_is_denied(oidc_gateway: ServerThread) -> None:
    carol = client_with(oidc_gateway, user_token(oidc_gateway, "carol"))  # compliance officer
    assert list(carol.models.list()) == []
    with pytest.raises(openai.PermissionDeniedError, match="smollm2-135m-instruct") as denied:
        carol.chat.completions.create(model="default", messages=QUESTION, max_tokens=2)
    record = record_of(oidc_gateway, denied.value.response.headers["x-request-id"])
    assert (record.subject, record.roles, record.decision) == ("carol", ["compliance_officer"], "deny")


def test_service_token_from_client_credentials(oidc_gateway: ServerThread) -> None:
    response = httpx.post(
        f"{oidc_gateway.url}/idp/token",
        data={"grant_type": "client_credentials", "scope": "openid"},
        auth=("svc-batch", BATCH_SECRET),
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    claims = claims_of(oidc_gateway, token)
    # The client is its own subject and carries the roles configured for it; no user is involved.
    assert (claims["sub"], claims["client_id"], claims["roles"]) == ("svc-batch", "svc-batch", ["employee"])
    assert "name" not in claims
    raw = client_with(oidc_gateway, token).chat.completions.with_raw_response.create(
        model="default", messages=QUESTION, max_tokens=2
    )
    assert raw.parse().choices[0].message.content is not None
    record = record_of(oidc_gateway, raw.headers["x-request-id"])
    assert (record.subject, record.roles, record.auth_method) == ("svc-batch", ["employee"], "oidc_bearer")
    # A wrong secret gets no token at all.
    wrong = httpx.post(
        f"{oidc_gateway.url}/idp/token", data={"grant_type": "client_credentials"}, auth=("svc-batch", "wrong")
    )
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")


def test_forged_and_expired_tokens_are_401_with_reasons(oidc_gateway: ServerThread) -> None:
    token = user_token(oidc_gateway, "alice")
    header, payload, signature = token.split(".")
    keys = idp_of(oidc_gateway).keys
    claims = claims_of(oidc_gateway, token)
    # alice's signature over a payload that makes her an admin
    promoted = base64.urlsafe_b64encode(json.dumps({**claims, "roles": ["admin"]}).encode()).rstrip(b"=").decode()
    expired = jwt.encode(
        {"alg": "RS256", "kid": keys.current_kid, "typ": "at+jwt"},
        {**claims, "exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200, "nbf": int(time.time()) - 7200},
        keys.signing_keys(),
    )
    for bad, reason in [
        (f"{header}.{promoted}.{signature}", "Token signature invalid"),
        (f"{header}.{payload}.", "Token signature invalid"),
        (expired, "Token expired"),
        (f"{header}.{payload}", "Invalid API key"),  # not shaped like a JWT: taken for a key
    ]:
        with pytest.raises(openai.AuthenticationError, match=reason) as refused:
            client_with(oidc_gateway, bad).models.list()
        assert refused.value.response.json()["error"]["type"] == "authentication_error"


def test_token_in_query_string_is_refused(oidc_gateway: ServerThread) -> None:
    token = user_token(oidc_gateway, "alice")
    response = httpx.get(f"{oidc_gateway.url}/v1/models", params={"access_token": token})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
