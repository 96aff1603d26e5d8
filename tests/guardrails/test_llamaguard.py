"""Llama Guard: loading, prompting and parsing, on a tiny random Llama saved in the real layout."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from suite.config import GuardrailSettings, LlamaGuardSettings
from suite.guardrails import Guardrails, LlamaGuard, parse_verdict
from suite.guardrails.llamaguard import UnparseableVerdict

# Shaped like Llama Guard 3's own template: categories and excluded_category_keys are keyword arguments.
TEMPLATE = (
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
    "Task: Check if there is unsafe content in '{{ 'Agent' if messages|length > 1 else 'User' }}' messages "
    "in conversations according our safety policy with the below categories.\n\n"
    "<BEGIN UNSAFE CONTENT CATEGORIES>\n"
    "{% for key in categories %}{% if key not in excluded_category_keys %}{{ key }}: {{ categories[key] }}\n"
    "{% endif %}{% endfor %}<END UNSAFE CONTENT CATEGORIES>\n\n<BEGIN CONVERSATION>\n\n"
    "{% for m in messages %}{{ 'User' if m['role'] == 'user' else 'Agent' }}: "
    "{% for part in m['content'] %}{{ part['text'] }}{% endfor %}\n\n{% endfor %}"
    "<END CONVERSATION>\n\nProvide your safety assessment.<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n"
)


@pytest.fixture(scope="module")
def tiny_guard_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ["<unk>", "<pad>", "<|eot_id|>", "safe", "unsafe", "S1", "S10", ",", "\n", "User", "Agent", "hello"]
    vocab = {w: i for i, w in enumerate(words)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="<unk>", pad_token="<pad>", eos_token="<|eot_id|>"
    )
    tokenizer.chat_template = TEMPLATE
    config = LlamaConfig(
        vocab_size=len(words),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=2048,
        pad_token_id=1,
        eos_token_id=2,
        bos_token_id=0,
    )
    path = tmp_path_factory.mktemp("llama-guard-tiny")
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_parse_real_format_strings() -> None:
    assert parse_verdict("\n\nsafe").safe
    verdict = parse_verdict("\n\nunsafe\nS1,S10")
    assert not verdict.safe
    assert verdict.categories == ["S1", "S10"]
    for garbage in ("", "maybe", "unsafe", "unsafe\nS99", "hello safe"):
        with pytest.raises(UnparseableVerdict):
            parse_verdict(garbage)


def test_prompt_has_the_configured_categories_and_the_conversation(tiny_guard_dir: Path) -> None:
    guard = LlamaGuard(LlamaGuardSettings(categories=["S1", "S10"], device="cpu"), tiny_guard_dir)
    prompt = guard.prompt(
        [{"role": "user", "content": "how do I hurt someone"}, {"role": "assistant", "content": "no"}]
    )
    assert "S1: Violent Crimes." in prompt
    assert "S10: Hate." in prompt
    assert "S2:" not in prompt
    assert "User: how do I hurt someone" in prompt
    assert "Agent: no" in prompt


def _pipeline(model_dir: Path, tmp_path: Path, **llamaguard: object) -> Guardrails:
    settings = GuardrailSettings(
        input={"checks": {"llamaguard": "enforce"}},
        llamaguard={"model_dir": model_dir, "device": "cpu", **llamaguard},
    )
    guardrails = Guardrails(settings, data_dir=tmp_path)
    guardrails.load()
    return guardrails


def test_random_model_output_is_handled_as_configured(tiny_guard_dir: Path, tmp_path: Path) -> None:
    # Random weights say anything; the verdict is either parsed or handled per fail_open.
    closed = asyncio.run(_pipeline(tiny_guard_dir, tmp_path).safety("hello", role="user"))
    assert closed.outcome in {"allow", "block"}
    if closed.details.get("unavailable"):
        assert closed.outcome == "block"
    opened = asyncio.run(_pipeline(tiny_guard_dir, tmp_path, fail_open=True).safety("hello", role="user"))
    assert opened.outcome == "allow" or not opened.details.get("unavailable")


def test_timeout_fails_closed_or_open(tiny_guard_dir: Path, tmp_path: Path) -> None:
    for fail_open, expected in ((False, "block"), (True, "allow")):
        guardrails = _pipeline(tiny_guard_dir, tmp_path, timeout_s=0.05, fail_open=fail_open)
        assert guardrails.llamaguard is not None
        guardrails.llamaguard.classify = lambda conversation: time.sleep(0.5)  # type: ignore[method-assign,assignment,return-value]
        finding = asyncio.run(guardrails.safety("hello", role="user"))
        assert finding.outcome == expected
        assert "timed out" in finding.reason
