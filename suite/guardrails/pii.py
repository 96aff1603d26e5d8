"""PII detection and masking with presidio, German and English, entirely offline.

Values are replaced by typed placeholders (``<EMAIL_ADDRESS_1>``). A ``Vault`` keeps the
per-request mapping so the answer to the same caller can be unmasked while the model
and the audit trail only ever see placeholders.

spaCy runs as a blank pipeline (tokens only) unless an imported NER model directory is
configured for a language; only then are PERSON, LOCATION and ORGANIZATION found.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import spacy
import yaml
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, PatternRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NerModelConfiguration
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    DeIdCardRecognizer,
    DeKfzRecognizer,
    DeSocialSecurityRecognizer,
    DeTaxIdRecognizer,
    IbanRecognizer,
    SpacyRecognizer,
)
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig

from suite.config import PiiSettings
from suite.guardrails.holdback import ValueStarts
from suite.guardrails.presidio_parts import (
    IndexedContextEnhancer,
    IpRecognizerScanningRuns,
    OfflineEmailRecognizer,
    PhoneRecognizerSkippingAccounts,
    TokenNlpEngine,
)

BUILTIN_RULES = Path(__file__).parent / "data" / "pii.yaml"
PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*?)_(\d+)>")
NER_ENTITIES = ("PERSON", "LOCATION", "ORGANIZATION")


@dataclass
class Vault:
    """One request's placeholder mapping: the same value always gets the same placeholder."""

    by_value: dict[tuple[str, str], str] = field(default_factory=dict)
    by_placeholder: dict[str, str] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def placeholder(self, entity: str, value: str, *, revealable: bool = True) -> str:
        """The placeholder for a value of an entity type (a new one the first time).

        Values masked in the caller's own prompt are revealable (the answer to that caller
        shows them again); values the model produced itself are masked for good.
        """
        with self._lock:
            key = (entity, value)
            if key not in self.by_value:
                self._counts[entity] = self._counts.get(entity, 0) + 1
                token = f"<{entity}_{self._counts[entity]}>"
                self.by_value[key] = token
                if revealable:
                    self.by_placeholder[token] = value
            return self.by_value[key]

    def reveal(self, text: str) -> str:
        """Put the original values back for the placeholders this vault issued."""
        if not self.by_placeholder or "<" not in text:
            return text
        return PLACEHOLDER.sub(lambda m: self.by_placeholder.get(m.group(0), m.group(0)), text)


@dataclass(frozen=True)
class PiiEntity:
    """One PII value found in a text (positions in the original text)."""

    entity: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class Masked:
    """A text with its PII replaced by placeholders, and what was found."""

    text: str
    entities: list[PiiEntity]


class PiiMasker:
    """Finds and masks PII; thread-safe, meant to run on worker threads (about 5 to 15 ms a text)."""

    def __init__(self, settings: PiiSettings, *, spacy_dir: Path, extra_files: list[Path] | None = None) -> None:
        self._settings = settings
        nlp_models = [
            {"lang_code": lang, "model_name": str(_spacy_model(settings, lang, spacy_dir))}
            for lang in settings.languages
        ]
        # Blank pipelines have no NER: keep presidio from looking for entity labels.
        ner = NerModelConfiguration(labels_to_ignore=[], low_score_entity_names=[])
        engine = TokenNlpEngine(models=nlp_models, ner_model_configuration=ner)
        engine.load()
        registry = RecognizerRegistry(supported_languages=settings.languages)
        recognizers, custom = _recognizers(settings, [BUILTIN_RULES, *(extra_files or [])])
        for recognizer in recognizers:
            registry.add_recognizer(recognizer)
        self._analyzer = AnalyzerEngine(
            registry=registry,
            nlp_engine=engine,
            supported_languages=settings.languages,
            context_aware_enhancer=IndexedContextEnhancer(),
        )
        self._anonymizer = AnonymizerEngine()  # type: ignore[no-untyped-call]
        # Languages analysed: those with an NER model (names are language-specific), else the first.
        self._languages = [lang for lang in settings.languages if lang in settings.spacy_models] or [
            settings.languages[0]
        ]
        # The configured built-in entity types, plus every type the recognizer files define.
        self.entities = sorted(
            {r.supported_entities[0] for r in registry.recognizers} & set(settings.entities) | custom
        )
        # Streams: the prefix test on the patterns of the recognizers analyze() runs (None with NER).
        used = [
            r
            for r in registry.recognizers
            if r.supported_language in self._languages and set(r.supported_entities) & set(self.entities)
        ]
        self.value_starts: ValueStarts | None = ValueStarts.of(used)

    def find(self, text: str) -> list[RecognizerResult]:
        """Every PII value in the text at or above the score threshold."""
        if not text.strip():
            return []
        results: list[RecognizerResult] = []
        for language in self._languages:
            results += self._analyzer.analyze(
                text, language=language, entities=self.entities, score_threshold=self._settings.score_threshold
            )
        return results

    def mask(self, text: str, vault: Vault | None = None, *, revealable: bool = True) -> Masked:
        """The text with every PII value replaced by a typed placeholder (a fresh vault if none is given)."""
        results = self.find(text)
        if not results:
            return Masked(text, [])
        vault = vault if vault is not None else Vault()
        operators = {
            entity: OperatorConfig("custom", {"lambda": _issuer(vault, entity, revealable)})
            for entity in {r.entity_type for r in results}
        }
        # presidio-anonymizer declares its own RecognizerResult type; the analyzer's has the same fields.
        anonymized = self._anonymizer.anonymize(text=text, analyzer_results=results, operators=operators)  # type: ignore[arg-type]
        found = [PiiEntity(r.entity_type, r.start, r.end, r.score) for r in results]
        return Masked(anonymized.text, sorted(found, key=lambda e: e.start))

    def spans(self, text: str) -> list[PiiEntity]:
        """Non-overlapping PII values in the text, in order (the stronger, then the longer, wins)."""
        ranked = sorted(self.find(text), key=lambda r: (-r.score, r.start - r.end))
        taken: list[PiiEntity] = []
        for r in ranked:
            if all(r.end <= t.start or r.start >= t.end for t in taken):
                taken.append(PiiEntity(r.entity_type, r.start, r.end, r.score))
        return sorted(taken, key=lambda e: e.start)

    def mask_text(self, text: str) -> str:
        """The masked text only (the audit trail's masker for the "masked" content policy)."""
        return self.mask(text).text


def _issuer(vault: Vault, entity: str, revealable: bool) -> Callable[[str], str]:
    return lambda value: vault.placeholder(entity, value, revealable=revealable)


def _spacy_model(settings: PiiSettings, language: str, spacy_dir: Path) -> Path:
    """An imported NER model directory, or a blank pipeline saved once under spacy_dir."""
    if language in settings.spacy_models:
        path = settings.spacy_models[language]
        if not (path / "config.cfg").exists():
            # presidio would try to download a model it cannot find: refuse instead.
            raise FileNotFoundError(f"guardrails.pii.spacy_models.{language}: no spaCy model at {path}")
        return path
    path = spacy_dir / f"blank-{language}"
    if not (path / "config.cfg").exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        spacy.blank(language).to_disk(path)
    return path


def _recognizers(settings: PiiSettings, rule_files: list[Path]) -> tuple[list[EntityRecognizer], set[str]]:
    context: dict[str, list[str]] = {}
    custom: list[dict[str, Any]] = []
    for path in rule_files:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for entity, words in (data.get("context") or {}).items():
            context.setdefault(entity, []).extend(words)
        custom += data.get("recognizers") or []
    recognizers: list[EntityRecognizer] = []
    for lang in settings.languages:
        recognizers += [IbanRecognizer(supported_language=lang), CreditCardRecognizer(supported_language=lang)]
        recognizers.append(IpRecognizerScanningRuns(supported_language=lang))
        recognizers.append(OfflineEmailRecognizer(supported_language=lang))
        recognizers.append(PhoneRecognizerSkippingAccounts(supported_language=lang, supported_regions=("DE", "GB")))
        german: list[PatternRecognizer] = [
            DeTaxIdRecognizer(supported_language=lang),
            DeSocialSecurityRecognizer(supported_language=lang),
            DeIdCardRecognizer(supported_language=lang),
            DeKfzRecognizer(supported_language=lang),
        ]
        for recognizer in german:
            recognizer.context = [*recognizer.context, *context.get(recognizer.supported_entities[0], [])]
            recognizers.append(recognizer)
        for spec in custom:
            fields = {key: value for key, value in spec.items() if key != "entity"}
            fields["supported_entity"] = spec["entity"]
            recognizers.append(PatternRecognizer.from_dict({**fields, "supported_language": lang}))
        if lang in settings.spacy_models:
            recognizers.append(SpacyRecognizer(supported_language=lang, supported_entities=list(NER_ENTITIES)))
    return recognizers, {spec["entity"] for spec in custom}
