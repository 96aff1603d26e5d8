"""Llama Guard 3 (1B or 8B) through transformers, loaded from an imported directory.

The prompt comes from the model's own chat template, given the configured hazard
categories (``categories`` and ``excluded_category_keys``, the keyword arguments Llama
Guard 3's template reads). The model answers ``safe`` or ``unsafe`` followed by a line of
category codes (``S1,S10``). The same code runs against the tiny random model the tests
build in the same layout.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from suite.config import LlamaGuardSettings

# Llama Guard 3's hazard taxonomy (MLCommons), as its model card names them.
HAZARD_CATEGORIES: dict[str, str] = {
    "S1": "Violent Crimes.",
    "S2": "Non-Violent Crimes.",
    "S3": "Sex Crimes.",
    "S4": "Child Exploitation.",
    "S5": "Defamation.",
    "S6": "Specialized Advice.",
    "S7": "Privacy.",
    "S8": "Intellectual Property.",
    "S9": "Indiscriminate Weapons.",
    "S10": "Hate.",
    "S11": "Self-Harm.",
    "S12": "Sexual Content.",
    "S13": "Elections.",
    "S14": "Code Interpreter Abuse.",
}


class UnparseableVerdict(ValueError):
    """The classifier's output is neither ``safe`` nor ``unsafe`` with categories."""


@dataclass(frozen=True)
class SafetyVerdict:
    """Llama Guard's answer: safe, or unsafe with the violated category codes."""

    safe: bool
    categories: list[str]


def parse_verdict(output: str) -> SafetyVerdict:
    """Parse ``safe`` or ``unsafe\\nS1,S10`` (surrounding whitespace ignored)."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    if not lines:
        raise UnparseableVerdict("empty classifier output")
    head = lines[0].lower()
    if head == "safe":
        return SafetyVerdict(True, [])
    if head == "unsafe":
        codes = [c.strip().upper() for c in lines[1].split(",")] if len(lines) > 1 else []
        if not codes or not all(c in HAZARD_CATEGORIES for c in codes):
            raise UnparseableVerdict(f"unsafe without valid categories: {output.strip()[:80]!r}")
        return SafetyVerdict(False, codes)
    raise UnparseableVerdict(f"neither safe nor unsafe: {output.strip()[:80]!r}")


class LlamaGuard:
    """Classifies the user turn (role "user") or the answer (role "agent"); blocking, use a worker thread."""

    def __init__(self, settings: LlamaGuardSettings, model_dir: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if not (model_dir / "config.json").exists():
            raise FileNotFoundError(f"guardrails.llamaguard.model_dir: no model at {model_dir}")
        self._settings = settings
        device = settings.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        self.tokenizer: Any = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        model_class: Any = AutoModelForCausalLM
        self._model: Any = model_class.from_pretrained(model_dir, local_files_only=True, dtype=dtype)
        self._model.to(device).eval()
        self._device = device
        self._lock = threading.Lock()
        unknown = [c for c in settings.categories if c not in HAZARD_CATEGORIES]
        if unknown:
            raise ValueError(f"guardrails.llamaguard.categories: unknown codes {unknown}")

    def prompt(self, conversation: list[dict[str, str]]) -> str:
        """The classifier prompt from the model's chat template, with the configured categories."""
        categories = {code: HAZARD_CATEGORIES[code] for code in self._settings.categories}
        excluded = [code for code in HAZARD_CATEGORIES if code not in categories]
        # Llama Guard 3 1B reads content parts, 8B plain strings: try parts, fall back if not rendered.
        for as_parts in (True, False):
            messages = [
                {"role": m["role"], "content": [{"type": "text", "text": m["content"]}] if as_parts else m["content"]}
                for m in conversation
            ]
            rendered: str = self.tokenizer.apply_chat_template(
                messages, tokenize=False, categories=categories, excluded_category_keys=excluded
            )
            if all(m["content"] in rendered for m in conversation):
                return rendered
        return rendered

    def classify(self, conversation: list[dict[str, str]]) -> SafetyVerdict:
        """Generate the verdict for the last turn of the conversation (greedy, a few tokens)."""
        import torch

        prompt = self.prompt(conversation)
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self._device)
        with self._lock, torch.inference_mode():
            output = self._model.generate(
                **inputs,
                max_new_tokens=self._settings.max_new_tokens,
                do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
            )
        text: str = self.tokenizer.decode(output[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        return parse_verdict(text)


def conversation_for(
    text: str, *, role: Literal["user", "assistant"], prompt: str | None = None
) -> list[dict[str, str]]:
    """The turns Llama Guard sees: the user turn alone, or the user turn and the answer."""
    if role == "user":
        return [{"role": "user", "content": text}]
    return [{"role": "user", "content": prompt or ""}, {"role": "assistant", "content": text}]
