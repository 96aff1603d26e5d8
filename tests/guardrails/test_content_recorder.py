"""One content recorder for every route (issue 14, finding 4): ``masked`` is always PII-masked text.

Embeddings, retrieval and the audit search text used to store a SHA-256 under ``masked`` while
chat stored presidio-masked text. The recorder is what every route now keeps content through.
"""

from __future__ import annotations

import ast
import asyncio
import hashlib

from suite.config import AuditSettings
from suite.gateway.records import ContentRecorder
from suite.guardrails import Guardrails
from tests.support import REPO

TEXT = "Please write to maria.schneider@example.com about the offer."


def test_masked_means_pii_masked_text_not_a_hash(guardrails: Guardrails) -> None:
    recorder = ContentRecorder(AuditSettings(content="masked"), guardrails)
    for route in ("chat", "embeddings", "retrieval", "audit"):
        policy = recorder.policy_for(route=route, model=None)
        kept = asyncio.run(recorder.keep(policy, TEXT))
        assert policy == "masked"
        assert kept is not None
        assert "maria.schneider@example.com" not in kept
        assert "<EMAIL_ADDRESS" in kept  # a placeholder, not a digest
        assert not kept.startswith("sha256:")


def test_without_a_masker_the_record_says_hash(guardrails: Guardrails) -> None:
    recorder = ContentRecorder(AuditSettings(content="masked"), None)
    policy = recorder.policy_for(route="embeddings", model=None)
    assert policy == "hash"
    assert asyncio.run(recorder.keep(policy, TEXT)) == "sha256:" + hashlib.sha256(TEXT.encode()).hexdigest()
    assert asyncio.run(recorder.keep("none", TEXT)) is None
    assert asyncio.run(ContentRecorder(AuditSettings(content="full"), guardrails).keep("full", TEXT)) == TEXT


def test_every_route_keeps_content_through_the_one_recorder() -> None:
    # No gateway or web module applies a content policy itself: only the recorder does.
    users = {}
    for path in sorted([*(REPO / "suite" / "gateway").rglob("*.py"), *(REPO / "suite" / "web").rglob("*.py")]):
        names = {
            node.id if isinstance(node, ast.Name) else node.attr
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Name | ast.Attribute)
        }
        if found := names & {"apply_content_policy", "content_policy_for"}:
            users[str(path.relative_to(REPO))] = found
    assert users == {"suite/gateway/records.py": {"apply_content_policy", "content_policy_for"}}
    for route in ("openai/router.py", "openai/pipeline.py", "rag/router.py", "audit/router.py"):
        assert "ContentDep" in (REPO / "suite" / "gateway" / route).read_text(encoding="utf-8"), route
