"""Every refusal is in the OpenAI error shape, names what is wrong, and never leaks a stack trace."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support import DEV_KEY, SYSTEM, ServerThread

AUTH = {"authorization": f"Bearer {DEV_KEY}"}
CHAT = {"model": "default", "messages": [SYSTEM, {"role": "user", "content": "Hi"}], "max_tokens": 2}


@pytest.fixture(scope="module")
def http(gateway: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=60) as client:
        yield client


def assert_openai_error(response: httpx.Response, status: int, *, param: str | None = None) -> dict[str, str]:
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    assert error["param"] == param
    assert response.headers["x-request-id"]
    return error


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "Missing credentials"),
        ({"authorization": "Bearer sk-not-a-key"}, "Invalid API key"),
        ({"authorization": f"Token {DEV_KEY}"}, "Malformed"),
    ],
)
def test_missing_or_wrong_credentials_give_401(http: httpx.Client, headers: dict[str, str], reason: str) -> None:
    response = http.post("/v1/chat/completions", json=CHAT, headers=headers)
    error = assert_openai_error(response, 401)
    assert reason in error["message"]
    assert error["type"] == "authentication_error"


def test_key_in_query_string_is_not_accepted(http: httpx.Client) -> None:
    assert_openai_error(http.get("/v1/models", params={"api_key": DEV_KEY}), 401)


def test_malformed_json_gives_400(http: httpx.Client) -> None:
    response = http.post(
        "/v1/chat/completions",
        content=b'{"model": "default", "messages": [',
        headers={**AUTH, "content-type": "application/json"},
    )
    error = assert_openai_error(response, 400)
    assert "not valid JSON" in error["message"]


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"messages": None}, "messages"),
        ({"temperature": "hot"}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages.0.role"),
    ],
)
def test_schema_violation_names_the_field(http: httpx.Client, change: dict[str, object], param: str) -> None:
    body = {**CHAT, **change}
    body = {k: v for k, v in body.items() if v is not None}
    error = assert_openai_error(http.post("/v1/chat/completions", json=body, headers=AUTH), 400, param=param)
    assert error["type"] == "invalid_request_error"
    assert param in error["message"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"messages": CHAT["messages"]}),
        ("/v1/completions", {"prompt": "x"}),
        ("/v1/embeddings", {"input": "x"}),
    ],
)
def test_unknown_model_gives_404(http: httpx.Client, path: str, body: dict[str, object]) -> None:
    body = {**body, "model": "gpt-99"}
    error = assert_openai_error(http.post(path, json=body, headers=AUTH), 404, param="model")
    assert error["code"] == "model_not_found"
    assert "gpt-99" in error["message"]


def test_body_too_large_gives_413(http: httpx.Client) -> None:
    huge = {**CHAT, "messages": [{"role": "user", "content": "x" * (5 * 1024 * 1024)}]}
    error = assert_openai_error(http.post("/v1/chat/completions", json=huge, headers=AUTH), 413)
    assert error["code"] == "request_too_large"


def test_chunked_body_too_large_gives_413(http: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"model": "default", "messages": [{"role": "user", "content": "'
        for _ in range(5 * 1024):
            yield b"x" * 1024
        yield b'"}]}'

    response = http.post("/v1/chat/completions", content=chunks(), headers={**AUTH, "content-type": "application/json"})
    assert_openai_error(response, 413)


def test_backend_refusal_is_relayed_in_openai_shape(http: httpx.Client) -> None:
    # The test engine's context is 1024 tokens; vLLM itself refuses this.
    response = http.post("/v1/chat/completions", json={**CHAT, "max_tokens": 5000}, headers=AUTH)
    assert response.status_code == 400
    assert "Traceback" not in response.text
    assert response.json()["error"]["message"]


def test_embedding_input_errors(http: httpx.Client) -> None:
    too_many = {"model": "default-embedding", "input": ["x"] * 257}
    assert_openai_error(http.post("/v1/embeddings", json=too_many, headers=AUTH), 400, param="input")
    empty = {"model": "default-embedding", "input": ["fine", ""]}
    assert_openai_error(http.post("/v1/embeddings", json=empty, headers=AUTH), 400, param="input")
    unknown = {"model": "default-embedding", "input": "x", "colour": "blue"}
    error = assert_openai_error(http.post("/v1/embeddings", json=unknown, headers=AUTH), 400, param="colour")
    assert "Unknown field" in error["message"]


def test_unknown_route_and_method(http: httpx.Client) -> None:
    assert_openai_error(http.get("/v1/nothing-here", headers=AUTH), 404)
    assert_openai_error(http.get("/v1/chat/completions", headers=AUTH), 405)
