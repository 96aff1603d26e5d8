"""An optional transformers sequence classifier for injection, loaded from an imported directory."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from suite.guardrails.verdicts import Finding, Outcome


class InjectionClassifier:
    """A fine-tuned sequence classifier (e.g. a DeBERTa prompt-injection model); runs on a worker thread."""

    def __init__(self, model_dir: Path, *, label: str, threshold: float) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if not model_dir.is_dir():
            raise FileNotFoundError(f"guardrails.injection.classifier_dir: no model directory at {model_dir}")
        self._tokenizer: Any = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        self._model: Any = AutoModelForSequenceClassification.from_pretrained(model_dir, local_files_only=True)
        self._model.eval()
        labels = {str(name).upper(): int(i) for i, name in self._model.config.id2label.items()}
        if label.upper() not in labels:
            raise ValueError(f"guardrails.injection.classifier_label {label!r} is not one of {sorted(labels)}")
        self._index = labels[label.upper()]
        self._threshold = threshold
        self._lock = threading.Lock()  # one forward pass at a time: torch already uses every core

    def probability(self, text: str) -> float:
        """The probability that the text is an attack."""
        import torch

        inputs = self._tokenizer(text, truncation=True, max_length=512, return_tensors="pt")
        with self._lock, torch.inference_mode():
            logits = self._model(**inputs).logits[0]
        return float(torch.softmax(logits, dim=-1)[self._index])

    def check(self, text: str) -> Finding:
        """Block at or above the threshold."""
        p = self.probability(text)
        outcome: Outcome = "block" if p >= self._threshold else "allow"
        return Finding(outcome, f"injection classifier p={p:.2f}", p, {"category": "classifier"})
