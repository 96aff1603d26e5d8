"""Guardrails: PII masking, injection and jailbreak detection, Llama Guard, output schema checks.

Every prompt, retrieved chunk and answer passes the stage's checks; each check returns
allow, mask or block with a reason and a score, and settings decide per route, model and
role which checks run and whether they are enforced or only recorded. See docs/guardrails.md.

Names are imported on first use (suite.lazy): importing a submodule such as the command group
does not load the heavy libraries of the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from suite.lazy import lazy_names

if TYPE_CHECKING:
    from suite.guardrails.chunks import GuardrailChunkScreen
    from suite.guardrails.content import content_text, with_content_text
    from suite.guardrails.inspect import inspect_text
    from suite.guardrails.llamaguard import LlamaGuard, SafetyVerdict, parse_verdict
    from suite.guardrails.pii import Masked, PiiEntity, PiiMasker, Vault
    from suite.guardrails.pipeline import Guardrails, Scope, Screened
    from suite.guardrails.schema import requested_schema, violation
    from suite.guardrails.stream import StreamGuard
    from suite.guardrails.verdicts import Finding, Outcome, Stage, Verdict

__all__ = [
    "Finding",
    "GuardrailChunkScreen",
    "Guardrails",
    "LlamaGuard",
    "Masked",
    "Outcome",
    "PiiEntity",
    "PiiMasker",
    "SafetyVerdict",
    "Scope",
    "Screened",
    "Stage",
    "StreamGuard",
    "Vault",
    "Verdict",
    "content_text",
    "inspect_text",
    "parse_verdict",
    "requested_schema",
    "violation",
    "with_content_text",
]

__getattr__ = lazy_names(
    __name__,
    {
        "content_text": "content",
        "with_content_text": "content",
        "violation": "schema",
        "requested_schema": "schema",
        "inspect_text": "inspect",
        "GuardrailChunkScreen": "chunks",
        "LlamaGuard": "llamaguard",
        "SafetyVerdict": "llamaguard",
        "parse_verdict": "llamaguard",
        "Masked": "pii",
        "PiiEntity": "pii",
        "PiiMasker": "pii",
        "Vault": "pii",
        "Guardrails": "pipeline",
        "Scope": "pipeline",
        "Screened": "pipeline",
        "StreamGuard": "stream",
        "Finding": "verdicts",
        "Outcome": "verdicts",
        "Stage": "verdicts",
        "Verdict": "verdicts",
    },
)
