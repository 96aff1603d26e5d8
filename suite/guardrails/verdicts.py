"""What a check says about a text: allow, mask or block, with a reason and a score."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Stage = Literal["input", "retrieval", "output"]
Outcome = Literal["allow", "mask", "block"]


@dataclass(frozen=True)
class Verdict:
    """One check's finding on one text.

    ``enforced`` is false for a check that only records (settings ``record``): its
    ``outcome`` says what it found, but nothing was masked or blocked because of it.
    """

    name: str
    stage: Stage
    outcome: Outcome
    reason: str
    score: float
    enforced: bool = True
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def blocks(self) -> bool:
        """The text must not go on."""
        return self.outcome == "block" and self.enforced

    def as_record(self) -> dict[str, Any]:
        """The verdict as it goes into an audit record (never the offending text itself)."""
        record: dict[str, Any] = {
            "name": self.name,
            "stage": self.stage,
            "outcome": self.outcome,
            "reason": self.reason,
            "score": round(self.score, 3),
            "enforced": self.enforced,
        }
        if self.details:
            record["details"] = self.details
        return record


@dataclass(frozen=True)
class Finding:
    """A check's raw result, before the stage settings decide whether it is enforced."""

    outcome: Outcome
    reason: str
    score: float
    details: dict[str, Any] = field(default_factory=dict)


ALLOW = Finding("allow", "nothing found", 0.0)
