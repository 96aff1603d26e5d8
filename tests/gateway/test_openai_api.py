"""The OpenAI-compatible API through the gateway, driven by the official openai client against real vLLM."""

from __future__ import annotations

import base64
import json
import threading
import time

import httpx
import numpy as np
import openai
import pytest

from suite.serving import Answer, EngineProcess
from tests.support import DEV_KEY, MODEL, SYSTEM, ServerThread, wait_until

CAPITAL = [SYSTEM, {"role": "user", "content": "What is the capital of France?"}]


def test_models_lists_chat_models_aliases_and_embeddings(client: openai.OpenAI) -> None:
    ids = {model.id for model in client.models.list()}
    assert {MODEL, "default", "all-minilm-l6-v2", "default-embedding"} <= ids


def test_chat_answers(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(model="default", messages=CAPITAL, temperature=0, max_tokens=32)
    assert "Paris" in (answer.choices[0].message.content or "")
    assert answer.model == MODEL  # the alias resolves to the pool's model
    assert answer.usage is not None
    assert answer.usage.completion_tokens > 0


def test_a_chat_answer_is_parsed_once(client: openai.OpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 14, finding 3: the answer was parsed up to 7 times on its way through the gateway.
    parses: list[bytes] = []
    parse = Answer.parse.__func__  # type: ignore[attr-defined]

    def counted_parse(cls: type[Answer], content: bytes) -> Answer:
        parses.append(content)
        return parse(cls, content)  # type: ignore[no-any-return]

    loads = json.loads
    reparsed: list[object] = []

    def counted_loads(text: str | bytes, *args: object, **kwargs: object) -> object:
        # Only the gateway's own threads count (the client parses the answer too, in this one).
        if threading.current_thread().name.startswith("uvicorn") and b'"choices"' in _as_bytes(text):
            reparsed.append(text)
        return loads(text, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Answer, "parse", classmethod(counted_parse))
    monkeypatch.setattr(json, "loads", counted_loads)
    answer = client.chat.completions.create(model="default", messages=CAPITAL, temperature=0, max_tokens=8)

    assert answer.choices[0].message.content
    assert len(parses) == 1
    assert reparsed == []


def _as_bytes(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode()


def test_max_tokens_ends_with_length(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model=MODEL, messages=CAPITAL, max_tokens=3, extra_body={"ignore_eos": True}
    )
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage is not None
    assert answer.usage.completion_tokens == 3


def test_stream_arrives_chunk_by_chunk_with_usage(client: openai.OpenAI) -> None:
    arrivals: list[float] = []
    text = ""
    usage = None
    stream = client.chat.completions.create(
        model="default",
        messages=CAPITAL,
        temperature=0,
        max_tokens=24,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"ignore_eos": True},
    )
    for chunk in stream:
        arrivals.append(time.monotonic())
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.usage:
            usage = chunk.usage
    assert "Paris" in text
    assert usage is not None
    assert usage.completion_tokens == 24
    # Word by word at the least: the guardrails' PII stream guard releases each word once it is complete
    # (a token that only continues a word waits for the next), never a window's worth at once.
    assert len(arrivals) >= 8
    # Relayed as produced, not buffered: the first chunk came well before the last.
    assert arrivals[-1] - arrivals[0] > 0.3


def test_stream_without_usage_has_none(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="default", messages=CAPITAL, max_tokens=4, stream=True))
    assert chunks
    assert all(chunk.usage is None for chunk in chunks)


def test_completions(client: openai.OpenAI) -> None:
    answer = client.completions.create(model="default", prompt="The capital of France is", max_tokens=5, temperature=0)
    assert answer.choices[0].text.strip()
    streamed = "".join(
        c.choices[0].text
        for c in client.completions.create(model="default", prompt="1, 2, 3,", max_tokens=5, stream=True)
        if c.choices
    )
    assert streamed


def test_embeddings_float_and_base64(client: openai.OpenAI) -> None:
    texts = ["A cat sits on the mat.", "A kitten rests on a rug.", "Quarterly bond yields rose sharply."]
    result = client.embeddings.create(model="default-embedding", input=texts)
    vectors = np.array([item.embedding for item in result.data])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]  # meaning, not noise
    assert result.usage.prompt_tokens > 0
    raw = client.embeddings.with_raw_response.create(model="all-minilm-l6-v2", input="A cat", encoding_format="base64")
    encoded = raw.http_response.json()["data"][0]["embedding"]
    decoded = np.frombuffer(base64.b64decode(encoded), dtype="<f4")
    assert decoded.shape == (384,)


def test_embedding_inference_does_not_block_the_event_loop(gateway: ServerThread) -> None:
    """While a large embedding batch runs, the gateway keeps answering other requests at once."""
    texts = [f"Paragraph {i}: " + "the quick brown fox jumps over the lazy dog " * 8 for i in range(256)]
    headers = {"authorization": f"Bearer {DEV_KEY}"}
    with httpx.Client(base_url=gateway.url, timeout=120) as http:
        result: dict[str, float] = {}

        def embed() -> None:
            started = time.monotonic()
            http.post("/v1/embeddings", json={"model": "default-embedding", "input": texts}, headers=headers)
            result["embed_s"] = time.monotonic() - started

        worker = threading.Thread(target=embed)
        worker.start()
        time.sleep(0.2)
        probes = []
        while worker.is_alive():
            started = time.monotonic()
            assert http.get("/healthz").status_code == 200
            probes.append(time.monotonic() - started)
            time.sleep(0.05)
        worker.join()
    assert result["embed_s"] > 1.0, "the batch should take long enough to matter"
    assert len(probes) >= 5
    assert max(probes) < 0.5


def test_every_response_carries_a_request_id(gateway: ServerThread) -> None:
    with httpx.Client(base_url=gateway.url) as http:
        for response in (
            http.get("/healthz"),
            http.get("/v1/models"),  # 401
            http.get("/v1/models", headers={"authorization": f"Bearer {DEV_KEY}"}),
        ):
            assert response.headers["x-request-id"].startswith("req_")
        own = http.get("/healthz", headers={"x-request-id": "caller-trace-1234"})
        assert own.headers["x-request-id"] == "caller-trace-1234"
        injected = http.get("/healthz", headers={"x-request-id": "bad id\twith spaces"})
        assert injected.headers["x-request-id"].startswith("req_")


def test_streams_carry_a_request_id(client: openai.OpenAI) -> None:
    with client.chat.completions.with_streaming_response.create(
        model="default", messages=CAPITAL, max_tokens=2, stream=True
    ) as response:
        assert response.headers["x-request-id"].startswith("req_")
        assert response.headers["content-type"].startswith("text/event-stream")


def _running_requests(engine: EngineProcess) -> float:
    metrics = httpx.get(f"{engine.backend.url}/metrics").text
    lines = [line for line in metrics.splitlines() if line.startswith("vllm:num_requests_running")]
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines)


def test_client_disconnect_cancels_the_upstream_stream(gateway: ServerThread, vllm_engine: EngineProcess) -> None:
    body = {"model": "default", "messages": CAPITAL, "max_tokens": 900, "stream": True, "ignore_eos": True}
    headers = {"authorization": f"Bearer {DEV_KEY}"}
    with (
        httpx.Client(base_url=gateway.url, timeout=60) as http,
        http.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response,
    ):
        lines = response.iter_lines()
        assert next(lines).startswith("data:")
        wait_until(lambda: _running_requests(vllm_engine) >= 1, timeout=10, what="request running in vLLM")
    # The client is gone; vLLM must stop generating long before the 900 tokens would be done.
    wait_until(lambda: _running_requests(vllm_engine) == 0, timeout=10, what="vLLM request aborted")


def test_client_disconnect_cancels_a_non_streamed_request(gateway: ServerThread, vllm_engine: EngineProcess) -> None:
    body = {"model": "default", "messages": CAPITAL, "max_tokens": 900, "ignore_eos": True}
    headers = {"authorization": f"Bearer {DEV_KEY}"}
    try:
        httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=headers, timeout=1.5)
        raise AssertionError("900 tokens cannot be ready in 1.5 s")
    except httpx.ReadTimeout:
        pass
    wait_until(lambda: _running_requests(vllm_engine) == 0, timeout=10, what="vLLM request aborted")
