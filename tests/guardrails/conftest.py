"""One loaded guardrail pipeline (presidio with blank spaCy pipelines, the rules) for the module tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from suite.config import GuardrailSettings
from suite.guardrails import Guardrails


@pytest.fixture(scope="session")
def guardrails(tmp_path_factory: pytest.TempPathFactory) -> Guardrails:
    loaded = Guardrails(GuardrailSettings(), data_dir=tmp_path_factory.mktemp("guardrails"))
    loaded.load()
    return loaded


CORPUS = Path(__file__).parent / "corpus"
