"""Guardrails: PII masking, injection and jailbreak detection, Llama Guard, output schema checks.

Every prompt, retrieved chunk and answer passes the stage's checks; each check returns
allow, mask or block with a reason and a score, and settings decide per route, model and
role which checks run and whether they are enforced or only recorded. See docs/guardrails.md.
"""

from suite.guardrails.llamaguard import LlamaGuard, SafetyVerdict, parse_verdict
from suite.guardrails.pii import Masked, PiiEntity, PiiMasker, Vault
from suite.guardrails.pipeline import Guardrails, Scope, Screened
from suite.guardrails.stream import StreamGuard
from suite.guardrails.verdicts import Finding, Outcome, Stage, Verdict

__all__ = [
    "Finding",
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
    "parse_verdict",
]
