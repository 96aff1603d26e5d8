"""Probes: a gateway with no models says so loudly and is not ready."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from suite.config import EMBEDDED_CONFIG_PATH, load_settings
from suite.gateway import create_app


def test_a_gateway_without_models_is_not_ready_and_says_so(tmp_path: Path) -> None:
    settings = load_settings(
        EMBEDDED_CONFIG_PATH, data_dir=str(tmp_path), serving={"models": []}, embeddings={"models": []}
    )
    with capture_logs() as logs, TestClient(create_app(settings, manage_engines=False)) as client:
        ready = client.get("/readyz")
        alive = client.get("/healthz")

    assert alive.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["status"] == "not ready"
    assert "no models are configured" in ready.json()["problem"]
    assert any("NO MODELS CONFIGURED" in line["event"] and line["log_level"] == "error" for line in logs)
