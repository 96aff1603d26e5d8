"""One loaded guardrail pipeline (presidio with blank spaCy pipelines, the rules), and a gateway with no model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from suite.config import GuardrailSettings
from suite.gateway import create_app
from suite.guardrails import Guardrails
from tests.support import ALLOW_AUDIT, ALLOW_EMPLOYEES, ServerThread, free_port, gateway_settings


@pytest.fixture(scope="session")
def guardrails(tmp_path_factory: pytest.TempPathFactory) -> Guardrails:
    loaded = Guardrails(GuardrailSettings(), data_dir=tmp_path_factory.mktemp("guardrails"))
    loaded.load()
    return loaded


CORPUS = Path(__file__).parent / "corpus"


@pytest.fixture(scope="session")
def check_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    # No model needed for the check route: the backend address leads nowhere.
    grant = {"name": "employees-check", "roles": ["employee"], "routes": ["guardrails"]}
    settings = gateway_settings(
        Path(tmp_path_factory.mktemp("guard-gw")),
        backends=[f"http://127.0.0.1:{free_port()}"],
        identity={"policy": [ALLOW_EMPLOYEES, ALLOW_AUDIT, grant]},
    )
    server = ServerThread(create_app(settings, manage_engines=False)).start()
    yield server
    server.stop()
