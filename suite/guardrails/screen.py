"""The injection screen: rules and the learned detector on every form of a text, combined by noisy-or.

Each form (``normalise.variants``: the canonical text and every decoded carrier) is matched
against the rules and scored by the learned detector. The strongest rule weight r and the
highest learned score p (the probability rescaled so that the calibrated threshold is 0.5)
give 1 - (1 - r)(1 - p), which blocks at the threshold. The finding names the rule or
"learned", and the carriers that were decoded.
"""

from __future__ import annotations

from typing import Any

from suite.guardrails.injection import RuleDetector
from suite.guardrails.learned import LearnedDetector
from suite.guardrails.normalise import variants
from suite.guardrails.verdicts import ALLOW, Finding, Outcome


def screen_injection(text: str, rules: RuleDetector, learned: LearnedDetector | None, *, threshold: float) -> Finding:
    """The combined finding for one text."""
    forms = variants(text)
    ruled = rules.check_forms(forms)
    if learned is None:
        return ruled
    cache: dict[str, float] = {}  # window scores shared between forms (a decoded form differs in places)
    scores = [(learned.score(form.text, cache), form.carrier) for form in forms]
    p, carrier = max(scores, key=lambda s: s[0])
    score = 1 - (1 - ruled.score) * (1 - p)
    if ruled is ALLOW and score < threshold:
        return (
            ALLOW
            if p < 0.05
            else Finding("allow", f"learned p={p:.2f}", score, {"category": "learned", "learned": round(p, 3)})
        )
    outcome: Outcome = "block" if score >= threshold else "allow"
    decoded = sorted({f.carrier for f in forms if f.carrier})
    details: dict[str, Any] = dict(ruled.details) if ruled is not ALLOW else {"category": "learned"}
    details.update({"learned": round(p, 3), "rule_score": ruled.score, "decoded": decoded})
    reason = f"learned detector p={p:.2f}" + (f" ({carrier})" if carrier else "") if ruled is ALLOW else ruled.reason
    return Finding(outcome, reason, score, details)
