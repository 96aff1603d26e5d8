"""Pools and failover: a misbehaving backend beside the real engine never fails a request that has not started."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from suite.gateway import create_app, services_of
from suite.serving import EngineProcess
from tests.serving.faulty_backend import ConnectionDropper, FaultyBackend
from tests.support import DEV_KEY, SYSTEM, ServerThread, free_port, gateway_settings

QUESTION = [SYSTEM, {"role": "user", "content": "Say hello."}]

# Health checks far apart, so a backend that breaks is still routed to and the retry path runs.
FAST_FAILOVER = {
    "health_interval_s": 3600,
    "first_byte_timeout_s": 2,
    "read_timeout_s": 8,
    "circuit_failure_threshold": 3,
    "circuit_open_s": 3600,
    "retry_after_s": 7,
}


def start_gateway(tmp_path: Path, backends: list[str]) -> ServerThread:
    app = create_app(gateway_settings(tmp_path, backends=backends, **FAST_FAILOVER), manage_engines=False)
    return ServerThread(app).start()


def openai_client(gateway: ServerThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=DEV_KEY, max_retries=0, timeout=60)


def ask(client: openai.OpenAI, *, stream: bool) -> str:
    if stream:
        chunks = client.chat.completions.create(model="default", messages=QUESTION, max_tokens=8, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    answer = client.chat.completions.create(model="default", messages=QUESTION, max_tokens=8)
    return answer.choices[0].message.content or ""


@pytest.fixture
def faulty(request: pytest.FixtureRequest) -> Iterator[FaultyBackend]:
    backend = FaultyBackend(request.param).start()
    yield backend
    backend.stop()


def backend_state(gateway: ServerThread, url: str) -> tuple[bool, int]:
    backend = services_of(gateway.server.config.app).catalog.backend(url)
    return backend.circuit_open, backend.consecutive_failures


@pytest.mark.parametrize("faulty", ["stall", "garbage", "error_500"], indirect=True)
def test_faulty_backend_never_fails_a_request(
    faulty: FaultyBackend, vllm_engine: EngineProcess, tmp_path: Path
) -> None:
    gateway = start_gateway(tmp_path, [faulty.url, vllm_engine.backend.url])
    try:
        client = openai_client(gateway)
        answers = [ask(client, stream=i % 2 == 0) for i in range(6)]
    finally:
        gateway.stop()
    assert all(answer.strip() for answer in answers)
    # The faulty backend was tried until its circuit opened, then left alone.
    assert faulty.hits == FAST_FAILOVER["circuit_failure_threshold"]


def test_backend_that_dies_is_retried_elsewhere_and_taken_out(vllm_engine: EngineProcess, tmp_path: Path) -> None:
    doomed = FaultyBackend("garbage").start()
    gateway = start_gateway(tmp_path, [doomed.url, vllm_engine.backend.url])
    try:
        doomed.stop()  # the gateway still believes it healthy: its next probe is an hour away
        client = openai_client(gateway)
        answers = [ask(client, stream=i % 2 == 1) for i in range(5)]
        circuit_open, _ = backend_state(gateway, doomed.url)
    finally:
        gateway.stop()
    assert all(answer.strip() for answer in answers)
    assert circuit_open


def test_failure_after_first_byte_ends_with_clean_error_event(tmp_path: Path) -> None:
    dying = FaultyBackend("die_mid_stream").start()
    gateway = start_gateway(tmp_path, [dying.url])
    try:
        stream = openai_client(gateway).chat.completions.create(model="default", messages=QUESTION, stream=True)
        received = []
        with pytest.raises(openai.APIError, match="failed while streaming"):
            for chunk in stream:
                received.append(chunk.choices[0].delta.content)
    finally:
        gateway.stop()
        dying.stop()
    # What had been sent stays sent (the guardrails' masking window releases it); no retry after the first byte.
    assert "".join(text or "" for text in received) == "Hel"


@pytest.mark.parametrize("stream", [True, False])
def test_a_dropped_connection_is_retried_on_the_only_backend(
    vllm_engine: EngineProcess, tmp_path: Path, stream: bool
) -> None:
    dropper = ConnectionDropper(int(vllm_engine.backend.url.rsplit(":", 1)[1])).start()
    gateway = start_gateway(tmp_path, [dropper.url])
    try:
        answer = ask(openai_client(gateway), stream=stream)
    finally:
        gateway.stop()
        dropper.stop()
    assert dropper.dropped == 1  # the first try lost its connection ...
    assert answer  # ... and the retry on the same backend answered


def test_no_backend_gives_503_with_retry_after(tmp_path: Path) -> None:
    gateway = start_gateway(tmp_path, [f"http://127.0.0.1:{free_port()}"])  # nothing listens there
    try:
        response = httpx.post(
            f"{gateway.url}/v1/chat/completions",
            json={"model": "default", "messages": QUESTION},
            headers={"authorization": f"Bearer {DEV_KEY}"},
        )
        ready = httpx.get(f"{gateway.url}/readyz")
    finally:
        gateway.stop()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"]["code"] == "backend_unavailable"
    assert ready.status_code == 503


@pytest.mark.parametrize("stream", [True, False])
def test_stalled_backend_gives_504(tmp_path: Path, stream: bool) -> None:
    stalled = FaultyBackend("stall").start()
    gateway = start_gateway(tmp_path, [stalled.url])
    try:
        response = httpx.post(
            f"{gateway.url}/v1/chat/completions",
            json={"model": "default", "messages": QUESTION, "stream": stream},
            headers={"authorization": f"Bearer {DEV_KEY}"},
            timeout=30,
        )
    finally:
        gateway.stop()
        stalled.stop()
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"
