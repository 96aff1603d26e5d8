"""Language parity: each English attack of the project's corpus has a German counterpart, and both are caught."""

from __future__ import annotations

from pathlib import Path

import yaml

from suite.guardrails import Guardrails
from suite.guardrails.evaluation import CARRIERS, DEV
from tests.guardrails.conftest import CORPUS

PAIRS = Path(__file__).parent / "parity.yaml"


def _pairs() -> list[dict[str, str]]:
    pairs: list[dict[str, str]] = yaml.safe_load(PAIRS.read_text(encoding="utf-8"))["pairs"]
    return pairs


def test_every_english_attack_of_the_corpus_has_a_german_counterpart() -> None:
    english = yaml.safe_load((CORPUS / "attacks.yaml").read_text(encoding="utf-8"))["en"]
    paired = {pair["en"] for pair in _pairs()}
    assert CORPUS == DEV
    assert [text for text in english if text not in paired] == []


def test_both_languages_of_every_pair_are_blocked(guardrails: Guardrails) -> None:
    missed = []
    for pair in _pairs():
        german = CARRIERS[pair["carrier"]](pair["de"]) if "carrier" in pair else pair["de"]
        for lang, text in (("en", pair["en"]), ("de", german)):
            if guardrails.injection(text).outcome != "block":
                missed.append(f"[{lang}] {text}")
    assert missed == []
