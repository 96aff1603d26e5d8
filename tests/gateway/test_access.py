"""RBAC and quotas as the API enforces them: managed keys, model scopes, 403 and 429."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import openai
import pytest

from suite.auth import ApiKeyStore
from suite.gateway import create_app, services_of
from suite.serving import EngineProcess
from tests.support import DEV_KEY, SYSTEM, ServerThread, gateway_settings

QUESTION = [SYSTEM, {"role": "user", "content": "Say hello."}]


def api_keys(gateway: ServerThread) -> ApiKeyStore:
    store: ApiKeyStore = services_of(gateway.server.config.app).api_keys
    return store


def managed_key(gateway: ServerThread, *, roles: list[str], models: list[str]) -> str:
    key, _ = api_keys(gateway).create(
        owner="test", roles=roles, models=models, expires_in=timedelta(days=1), created_by="test"
    )
    return key


def client_for(gateway: ServerThread, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0, timeout=60)


def test_managed_key_works_and_model_list_follows_its_scope(gateway: ServerThread) -> None:
    key = managed_key(gateway, roles=["employee"], models=["all-minilm-l6-v2"])
    scoped = client_for(gateway, key)
    assert {m.id for m in scoped.models.list()} == {"all-minilm-l6-v2", "default-embedding"}
    assert scoped.embeddings.create(model="default-embedding", input="hi").data


def test_model_outside_the_scope_is_403_naming_only_it(gateway: ServerThread) -> None:
    scoped = client_for(gateway, managed_key(gateway, roles=["employee"], models=["all-minilm-l6-v2"]))
    with pytest.raises(openai.PermissionDeniedError) as caught:
        scoped.chat.completions.create(model="default", messages=QUESTION, max_tokens=2)
    body = caught.value.body
    assert isinstance(body, dict)
    assert "smollm2-135m-instruct" in body["message"]
    assert "minilm" not in body["message"]
    assert body["code"] == "permission_denied"


def test_role_without_a_rule_is_denied_everything(gateway: ServerThread) -> None:
    stranger = client_for(gateway, managed_key(gateway, roles=["visitor"], models=[]))
    assert list(stranger.models.list()) == []
    with pytest.raises(openai.PermissionDeniedError):
        stranger.embeddings.create(model="default-embedding", input="hi")


def test_revoked_key_is_401_at_once(gateway: ServerThread) -> None:
    key = managed_key(gateway, roles=["employee"], models=[])
    assert client_for(gateway, key).models.list()
    api_keys(gateway).revoke(key.split("_")[1])
    with pytest.raises(openai.AuthenticationError, match="revoked"):
        client_for(gateway, key).models.list()


# Noon UTC, half past a minute (2030-01-01 12:00:30): a quota test never straddles a minute or a day.
NOON = 1_893_499_230.0


def quota_gateway(
    tmp_path: Path, engine: EngineProcess, *, clock: Callable[[], float] = lambda: NOON, **limits: int
) -> ServerThread:
    settings = gateway_settings(
        tmp_path, backends=[engine.backend.url], identity={"quotas": {"enabled": True, "default": limits}}
    )
    return ServerThread(create_app(settings, manage_engines=False, clock=clock)).start()


def chat(gateway: ServerThread, *, stream: bool = False) -> httpx.Response:
    body = {"model": "default", "messages": QUESTION, "max_tokens": 4, "stream": stream}
    return httpx.post(
        f"{gateway.url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {DEV_KEY}"}, timeout=60
    )


def test_requests_per_minute_give_429_and_survive_a_restart(vllm_engine: EngineProcess, tmp_path: Path) -> None:
    now = [NOON]  # the gateway's clock, moved by the test
    gateway = quota_gateway(tmp_path, vllm_engine, clock=lambda: now[0], requests_per_minute=2)
    try:
        assert [chat(gateway).status_code for _ in range(2)] == [200, 200]
        refused = chat(gateway)
    finally:
        gateway.stop()
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "30"  # 12:00:30: the window ends at 12:01:00
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert "2 requests per minute" in refused.json()["error"]["message"]
    restarted = quota_gateway(tmp_path, vllm_engine, clock=lambda: now[0], requests_per_minute=2)  # same database
    try:
        assert chat(restarted).status_code == 429
        now[0] = NOON + 29  # still the same minute
        assert chat(restarted).status_code == 429
        now[0] = NOON + 30  # 12:01:00, a new window
        assert [chat(restarted).status_code for _ in range(3)] == [200, 200, 429]
    finally:
        restarted.stop()


def test_streamed_tokens_count_toward_the_daily_quota(vllm_engine: EngineProcess, tmp_path: Path) -> None:
    gateway = quota_gateway(tmp_path, vllm_engine, tokens_per_day=10)
    try:
        streamed = chat(gateway, stream=True)
        # The client did not ask for usage, so it gets none, though the gateway counted it.
        assert '"usage":{' not in streamed.text
        assert streamed.text.rstrip().endswith("data: [DONE]")
        refused = chat(gateway)
    finally:
        gateway.stop()
    assert streamed.status_code == 200
    assert refused.status_code == 429
    assert "daily token quota" in refused.json()["error"]["message"]
