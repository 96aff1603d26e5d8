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


WORDS = ["<unk>", "<pad>", "<|eot_id|>", "safe", "unsafe", "S1", "S10", ",", "\n", "User", "Agent", "hello"]


def save_tiny_guard(path: Path, *, says: str | None = None) -> Path:
    """A tiny Llama in Llama Guard's layout; with ``says``, one whose every next token is that word.

    Every token embeds to the same vector, so the last hidden state is one constant vector h
    whatever the text (attention averages equal values; RoPE moves only queries and keys); the
    output head is zero but for the row of ``says``, which is h: that logit is |h|^2, all others 0.
    """
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(WORDS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="<unk>", pad_token="<pad>", eos_token="<|eot_id|>"
    )
    tokenizer.chat_template = TEMPLATE
    config = LlamaConfig(
        vocab_size=len(WORDS),
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
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    if says is not None:
        with torch.no_grad():
            model.model.embed_tokens.weight[:] = model.model.embed_tokens.weight[0]
            hidden = model.model(input_ids=torch.tensor([[0]])).last_hidden_state[0, -1]
            model.lm_head.weight.zero_()
            model.lm_head.weight[vocab[says]] = hidden
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_guard_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_guard(tmp_path_factory.mktemp("llama-guard-tiny"))


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


def test_a_model_that_says_safe_allows(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    model_dir = save_tiny_guard(tmp_path_factory.mktemp("guard-safe"), says="safe")
    guardrails = _pipeline(model_dir, tmp_path, max_new_tokens=1)
    assert guardrails.llamaguard is not None
    assert guardrails.llamaguard.classify([{"role": "user", "content": "hello"}]).safe
    finding = asyncio.run(guardrails.safety("hello", role="user"))
    assert (finding.outcome, finding.reason, finding.details) == ("allow", "safe", {})


def test_an_unparseable_verdict_fails_closed_or_open(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    # "unsafe" with no category line is no verdict: the fail_open setting decides.
    model_dir = save_tiny_guard(tmp_path_factory.mktemp("guard-unsafe"), says="unsafe")
    closed = asyncio.run(_pipeline(model_dir, tmp_path, max_new_tokens=1).safety("hello", role="user"))
    problem = "unsafe without valid categories: 'unsafe'"
    assert (closed.outcome, closed.details) == ("block", {"unavailable": True})
    assert closed.reason == f"classifier unavailable: {problem} (fail closed)"
    lenient = _pipeline(model_dir, tmp_path, max_new_tokens=1, fail_open=True)
    opened = asyncio.run(lenient.safety("hello", role="user"))
    assert (opened.outcome, opened.details) == ("allow", {"unavailable": True})
    assert opened.reason == f"classifier unavailable: {problem} (fail open)"


def test_timeout_fails_closed_or_open(tiny_guard_dir: Path, tmp_path: Path) -> None:
    for fail_open, expected in ((False, "block"), (True, "allow")):
        guardrails = _pipeline(tiny_guard_dir, tmp_path, timeout_s=0.05, fail_open=fail_open)
        assert guardrails.llamaguard is not None
        guardrails.llamaguard.classify = lambda conversation: time.sleep(0.5)  # type: ignore[method-assign,assignment,return-value]
        finding = asyncio.run(guardrails.safety("hello", role="user"))
        assert finding.outcome == expected
        assert "timed out" in finding.reason
