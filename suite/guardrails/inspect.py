"""What every check finds in one text: the report behind `suite guard check` and /v1/guardrails/check."""

from __future__ import annotations

from dataclasses import dataclass

from suite.guardrails.pipeline import Guardrails
from suite.guardrails.verdicts import Verdict


@dataclass(frozen=True)
class Inspection:
    """Each available check's verdict on the text, and the text as PII masking would leave it."""

    verdicts: list[Verdict]
    masked: str


async def inspect_text(guardrails: Guardrails, text: str) -> Inspection:
    """Run every loaded check (whatever the stage settings say) on the text, as a user turn."""
    assert guardrails.pii is not None, "Guardrails.load() first"
    pii = guardrails.pii

    def sync_checks() -> tuple[list[Verdict], str]:
        injection = guardrails.injection(text)
        masked = pii.mask(text)
        entities = sorted({e.entity for e in masked.entities})
        verdicts = [
            Verdict(
                "injection", "input", injection.outcome, injection.reason, injection.score, True, injection.details
            ),
            Verdict(
                "pii",
                "input",
                "mask" if entities else "allow",
                ", ".join(entities) or "nothing found",
                max((e.score for e in masked.entities), default=0.0),
                True,
                {
                    "entities": [
                        {"entity": e.entity, "start": e.start, "end": e.end, "score": e.score} for e in masked.entities
                    ]
                },
            ),
        ]
        return verdicts, masked.text

    verdicts, masked = await guardrails.presidio_pool.run(sync_checks)
    if guardrails.llamaguard is not None:
        finding = await guardrails.safety(text, role="user")
        verdicts.append(
            Verdict("llamaguard", "input", finding.outcome, finding.reason, finding.score, True, finding.details)
        )
    return Inspection(verdicts, masked)
