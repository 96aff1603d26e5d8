"""The guardrail pipeline: which checks run at which stage, and what their findings do.

Stages: ``input`` (user turns), ``retrieval`` (retrieved chunks, for indirect injection),
``output`` (the answer, also on streams). Settings name the checks of each stage and
whether each one is enforced (masks or blocks) or only recorded; overrides change that
per route, model and role. Every check's verdict is returned for the audit record.

Blocking work runs on one worker pool per model (presidio, the injection rules and classifier,
Llama Guard), never on asyncio's shared pool; Llama Guard has its own timeout and fails open
or closed as configured, and a stalled Llama Guard holds only its own thread.
"""

from __future__ import annotations

import asyncio
import fnmatch
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import structlog

from suite.config import GuardCheck, GuardMode, GuardrailSettings, GuardStage
from suite.guardrails.classifier import InjectionClassifier
from suite.guardrails.injection import RuleDetector, load_rules
from suite.guardrails.learned import MODEL_PATH, LearnedDetector
from suite.guardrails.llamaguard import LlamaGuard, conversation_for
from suite.guardrails.pii import PiiMasker, Vault
from suite.guardrails.screen import screen_injection
from suite.guardrails.verdicts import ALLOW, Finding, Stage, Verdict
from suite.workers import WorkerPool

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Scope:
    """Who and what a check runs for: the policy route, the model and the caller's roles."""

    route: str
    model: str | None = None
    roles: frozenset[str] = frozenset()


@dataclass
class Screened:
    """A text after one stage: possibly masked, with every check's verdict."""

    text: str
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def blocked_by(self) -> Verdict | None:
        """The first enforced blocking verdict, if any."""
        return next((v for v in self.verdicts if v.blocks), None)


class Guardrails:
    """The loaded checks and the stage settings; one per gateway, shared by every request."""

    def __init__(self, settings: GuardrailSettings, *, data_dir: Path) -> None:
        self.settings = settings
        self._data_dir = data_dir
        self.pii: PiiMasker | None = None
        self.rules: RuleDetector | None = None
        self.classifier: InjectionClassifier | None = None
        self.learned: LearnedDetector | None = None
        self.llamaguard: LlamaGuard | None = None
        self.presidio_pool = WorkerPool("presidio", 2)
        self.classifier_pool = WorkerPool("classifier", 1)
        self.llamaguard_pool = WorkerPool("llamaguard", 1)

    def close(self) -> None:
        """Stop the worker pools (a stalled model's thread ends when its call returns)."""
        for pool in (self.presidio_pool, self.classifier_pool, self.llamaguard_pool):
            pool.close()

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else self._data_dir / path

    def load(self) -> None:
        """Load presidio, the rules and the optional models (blocking: seconds; call on a worker)."""
        s = self.settings
        self.pii = PiiMasker(
            s.pii,
            spacy_dir=self._data_dir / "guardrails" / "spacy",
            extra_files=[self.resolve(p) for p in s.pii.extra_recognizers],
        )
        self.rules = RuleDetector(
            load_rules([self.resolve(p) for p in s.injection.extra_rules]), threshold=s.injection.threshold
        )
        if s.injection.learned:
            model = self.resolve(s.injection.learned_model) if s.injection.learned_model else MODEL_PATH
            self.learned = LearnedDetector.load(model)
        if s.injection.classifier_dir is not None:
            self.classifier = InjectionClassifier(
                self.resolve(s.injection.classifier_dir),
                label=s.injection.classifier_label,
                threshold=s.injection.classifier_threshold,
            )
        if s.llamaguard.model_dir is not None:
            self.llamaguard = LlamaGuard(s.llamaguard, self.resolve(s.llamaguard.model_dir))
        log.info("guardrails loaded", pii_entities=self.pii.entities, rules=len(self.rules.rules))

    # ---- settings ------------------------------------------------------------------------

    def checks(self, stage: Stage, scope: Scope) -> dict[GuardCheck, GuardMode]:
        """The checks of a stage for this route, model and roles (the last matching override wins)."""
        if not self.settings.enabled:
            return {}
        chosen: GuardStage = getattr(self.settings, stage)
        for override in self.settings.overrides:
            replacement: GuardStage | None = getattr(override, stage)
            if replacement is not None and _matches(override.routes, override.models, override.roles, scope):
                chosen = replacement
        return dict(chosen.checks)

    # ---- running the checks --------------------------------------------------------------

    async def screen(
        self,
        texts: list[str],
        *,
        stage: Stage,
        scope: Scope,
        vault: Vault | None = None,
        skip: Iterable[GuardCheck] = (),
        prompt: str | None = None,
    ) -> list[Screened]:
        """Run the stage's checks on each text; masking uses the vault (reversible) when one is given."""
        checks = {k: v for k, v in self.checks(stage, scope).items() if k not in set(skip)}
        if not checks or not texts:
            return [Screened(t) for t in texts]
        revealable = stage == "input" and self.settings.pii.reversible
        injections, piis = await asyncio.gather(
            self.classifier_pool.run(lambda: [self.injection(t) for t in texts]) if "injection" in checks else _none(),
            self.presidio_pool.run(lambda: [self._pii(t, vault, revealable=revealable) for t in texts])
            if "pii" in checks
            else _none(),
        )
        screened = []
        for i, text in enumerate(texts):
            item = Screened(text)
            if injections is not None:
                item.verdicts.append(_verdict("injection", stage, injections[i], checks["injection"]))
            if piis is not None:
                finding, masked = piis[i]
                verdict = _verdict("pii", stage, finding, checks["pii"])
                item.verdicts.append(verdict)
                if verdict.enforced and verdict.outcome == "mask":
                    item.text = masked
            screened.append(item)
        if "llamaguard" in checks and self.llamaguard is not None:
            role: Literal["user", "assistant"] = "assistant" if stage == "output" else "user"
            last = screened[-1]
            finding = await self.safety(last.text, role=role, prompt=prompt)
            last.verdicts.append(_verdict("llamaguard", stage, finding, checks["llamaguard"]))
        return screened

    def injection(self, text: str) -> Finding:
        """Rules, then the classifier when one is configured; the stronger finding wins."""
        assert self.rules is not None, "Guardrails.load() first"
        finding = screen_injection(text, self.rules, self.learned, threshold=self.settings.injection.threshold)
        if self.classifier is not None and finding.outcome != "block":
            learned = self.classifier.check(text)
            finding = learned if learned.score > finding.score or learned.outcome == "block" else finding
        return finding

    def _pii(self, text: str, vault: Vault | None, *, revealable: bool) -> tuple[Finding, str]:
        assert self.pii is not None, "Guardrails.load() first"
        masked = self.pii.mask(text, vault, revealable=revealable)
        if not masked.entities:
            return ALLOW, text
        counts = Counter(e.entity for e in masked.entities)
        reason = ", ".join(f"{entity} x{n}" if n > 1 else entity for entity, n in sorted(counts.items()))
        outcome: Literal["mask", "block"] = "block" if self.settings.pii.action == "block" else "mask"
        score = max(e.score for e in masked.entities)
        return Finding(outcome, reason, score, {"entities": dict(counts)}), masked.text

    async def safety(self, text: str, *, role: Literal["user", "assistant"], prompt: str | None = None) -> Finding:
        """Llama Guard's finding within the timeout; on failure allow (fail open) or block (fail closed)."""
        assert self.llamaguard is not None
        settings = self.settings.llamaguard
        conversation = conversation_for(text, role=role, prompt=prompt)
        try:
            verdict = await asyncio.wait_for(
                self.llamaguard_pool.run(self.llamaguard.classify, conversation), settings.timeout_s
            )
        except Exception as exc:  # timeout, unparseable output, a failing model: the setting decides
            problem = "timed out" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
            log.warning("llama guard could not decide", problem=problem, fail_open=settings.fail_open)
            outcome: Literal["allow", "block"] = "allow" if settings.fail_open else "block"
            mode = "fail open" if settings.fail_open else "fail closed"
            return Finding(outcome, f"classifier unavailable: {problem} ({mode})", 0.0, {"unavailable": True})
        if verdict.safe:
            return Finding("allow", "safe", 0.0)
        return Finding("block", "unsafe: " + ",".join(verdict.categories), 1.0, {"categories": verdict.categories})


async def _none() -> None:
    return None


def _verdict(name: GuardCheck, stage: Stage, finding: Finding, mode: GuardMode) -> Verdict:
    return Verdict(name, stage, finding.outcome, finding.reason, finding.score, mode == "enforce", finding.details)


def _matches(routes: list[str], models: list[str], roles: list[str], scope: Scope) -> bool:
    if routes and scope.route not in routes:
        return False
    if models and not (scope.model and any(fnmatch.fnmatchcase(scope.model, m) for m in models)):
        return False
    return not roles or bool(scope.roles & set(roles))
