"""Guardrail settings: which checks run at which stage, per route, model and role."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from suite.config.section import Section

GuardCheck = Literal["pii", "injection", "llamaguard", "schema"]
# enforce: a failing check masks or blocks; record: its verdict is only recorded.
GuardMode = Literal["enforce", "record"]


class GuardStage(Section):
    """The checks one guardrail stage runs, each enforced or only recorded."""

    checks: dict[GuardCheck, GuardMode] = Field(default_factory=dict)


class GuardOverride(Section):
    """Stage settings for requests that match every criterion given (an empty list matches anything)."""

    # Policy routes ("chat", "completions", "guardrails"), model globs, suite roles (any one).
    routes: list[str] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    # A stage given here replaces the default one; later matching overrides win.
    input: GuardStage | None = None
    retrieval: GuardStage | None = None
    output: GuardStage | None = None


class PiiSettings(Section):
    """PII detection and masking (presidio), German and English."""

    languages: list[str] = Field(default_factory=lambda: ["en", "de"], min_length=1)
    entities: list[str] = Field(
        default_factory=lambda: [
            "EMAIL_ADDRESS",
            "PHONE_NUMBER",
            "IBAN_CODE",
            "CREDIT_CARD",
            "IP_ADDRESS",
            "DE_TAX_ID",
            "DE_SOCIAL_SECURITY",
            "DE_ID_CARD",
            "DE_KFZ",
            "PERSON",
            "LOCATION",
            "ORGANIZATION",
        ]
    )
    # Findings scoring below this are ignored (pattern-only phone numbers score 0.4, plates 0.3).
    score_threshold: float = Field(default=0.3, ge=0, le=1)
    # mask: typed placeholders (<EMAIL_ADDRESS_1>); block: refuse text that contains PII.
    action: Literal["mask", "block"] = "mask"
    # Keep a per-request mapping so the answer shown to the same caller is unmasked again.
    reversible: bool = True
    # Imported spaCy NER model directories per language (PERSON, LOCATION, ORGANIZATION);
    # languages without one use a blank pipeline (pattern recognizers only).
    spacy_models: dict[str, Path] = Field(default_factory=dict)
    # Extra YAML recognizer files an admin maintains (same format as suite/guardrails/data/pii.yaml).
    extra_recognizers: list[Path] = Field(default_factory=list)
    # Streams: text held back until this many characters follow it, so no value is split across chunks.
    stream_window_chars: int = Field(default=64, ge=16)


class InjectionSettings(Section):
    """Prompt injection and jailbreak detection: rules, plus an optional classifier."""

    # Extra YAML rule files an admin maintains (same format as suite/guardrails/data/injection.yaml).
    extra_rules: list[Path] = Field(default_factory=list)
    # A rule hit's weight at or above this flags the text.
    threshold: float = Field(default=0.5, ge=0, le=1)
    # The shipped learned detector (n-gram logistic regression), combined with the rules by noisy-or;
    # off by default until its held-out false positives meet the target (docs/guardrails.md).
    learned: bool = False
    # Other weights in the same format (``suite guard train --output``); None: the shipped ones.
    learned_model: Path | None = None
    # An imported transformers sequence-classification directory; None: rules only.
    classifier_dir: Path | None = None
    # The classifier's label that means "attack", and the probability that flags it.
    classifier_label: str = "INJECTION"
    classifier_threshold: float = Field(default=0.8, ge=0, le=1)


class LlamaGuardSettings(Section):
    """Llama Guard 3 (1B or 8B) via transformers, loaded from an imported directory."""

    model_dir: Path | None = None
    # Hazard categories checked (S1-S14 of Llama Guard 3).
    categories: list[str] = Field(default_factory=lambda: [f"S{i}" for i in range(1, 15)])
    timeout_s: float = Field(default=10, gt=0)
    # On timeout or error: true lets the text through (recorded), false refuses with 503.
    fail_open: bool = False
    max_new_tokens: int = Field(default=10, ge=1)
    # "cpu", "cuda", "auto" (cuda when available).
    device: str = "auto"


class OutputSchemaSettings(Section):
    """Checks answers against the JSON schema of a request's response_format."""

    # Ask the model once more, with the validation error, before refusing the answer.
    retry: bool = True


class GuardrailSettings(Section):
    """Guardrails on prompts, retrieved chunks and answers; verdicts are enforced and audited."""

    enabled: bool = True
    input: GuardStage = GuardStage(checks={"pii": "enforce", "injection": "enforce"})
    retrieval: GuardStage = GuardStage(checks={"injection": "enforce"})
    # What an enforced block does to a retrieved chunk: withhold it from the prompt, or quote it
    # as untrusted data (kept, fenced, with a notice that instructions in it are not to be followed).
    retrieval_hit: Literal["withhold", "quote"] = "withhold"
    output: GuardStage = GuardStage(checks={"pii": "enforce", "schema": "enforce"})
    overrides: list[GuardOverride] = Field(default_factory=list)
    pii: PiiSettings = PiiSettings()
    injection: InjectionSettings = InjectionSettings()
    llamaguard: LlamaGuardSettings = LlamaGuardSettings()
    output_schema: OutputSchemaSettings = OutputSchemaSettings()

    @model_validator(mode="after")
    def _llamaguard_needs_a_model(self) -> GuardrailSettings:
        stages = [self.input, self.retrieval, self.output]
        stages += [s for o in self.overrides for s in (o.input, o.retrieval, o.output) if s is not None]
        if self.llamaguard.model_dir is None and any("llamaguard" in s.checks for s in stages):
            raise ValueError("a stage runs llamaguard but guardrails.llamaguard.model_dir is not set")
        return self
