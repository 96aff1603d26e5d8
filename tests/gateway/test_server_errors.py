"""An unhandled error: a 500 in the OpenAI shape with x-request-id, and an access line that says 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from suite.config import EMBEDDED_CONFIG_PATH, load_settings
from suite.gateway import create_app


def test_an_unhandled_error_is_a_500_with_the_request_id(tmp_path: Path) -> None:
    settings = load_settings(EMBEDDED_CONFIG_PATH, data_dir=str(tmp_path), serving={"models": []})
    app = create_app(settings, manage_engines=False)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    with capture_logs() as logs, TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"x-request-id": "req-caller-0001"})

    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-caller-0001"
    assert response.json() == {
        "error": {"message": "Internal server error.", "type": "server_error", "param": None, "code": "internal_error"}
    }
    assert "secret internals" not in response.text
    access = [line for line in logs if line.get("event") == "request" and line.get("path") == "/boom"]
    assert [(line["status"], line["request_id"]) for line in access] == [(500, "req-caller-0001")]


def test_bodies_above_the_limit_are_413_with_the_request_id(tmp_path: Path) -> None:
    settings = load_settings(
        EMBEDDED_CONFIG_PATH, data_dir=str(tmp_path), serving={"models": []}, gateway={"max_body_bytes": 1000}
    )
    app = create_app(settings, manage_engines=False)

    def chunks() -> Iterator[bytes]:
        yield b'{"model": "default", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"x" * 500
        yield b'"}]}'

    with TestClient(app) as client:
        declared = client.post("/v1/chat/completions", content=b"x" * 2000)
        chunked = client.post("/v1/chat/completions", content=chunks(), headers={"content-type": "application/json"})

    for response in (declared, chunked):
        assert response.status_code == 413, response.text
        assert response.json()["error"]["code"] == "request_too_large"
        assert response.headers["x-request-id"].startswith("req_")
