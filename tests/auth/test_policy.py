"""RBAC: deny by default, rules per route, model and collection, each decision naming its rule."""

from __future__ import annotations

import pytest

from suite.auth import Policy, Principal
from suite.config import PolicyRule
from suite.errors import PermissionDenied

RULES = [
    PolicyRule(
        name="employees-small-models",
        roles=["employee"],
        routes=["chat", "completions", "embeddings"],
        models=["smollm2-*", "all-minilm-*"],
    ),
    PolicyRule(name="finance-big-model", groups=["finance"], routes=["chat"], models=["llama-70b"]),
    PolicyRule(
        name="finance-handbook", groups=["finance"], routes=["retrieval"], collections=["finance-*", "handbook"]
    ),
    PolicyRule(name="everyone-handbook", roles=["employee"], routes=["retrieval"], collections=["handbook"]),
    PolicyRule(name="compliance-audit", roles=["compliance_officer"], routes=["audit"]),
    PolicyRule(name="admins", roles=["admin"], routes=["admin", "audit"]),
]
policy = Policy(RULES)


def person(*roles: str, groups: tuple[str, ...] = (), models: frozenset[str] | None = None) -> Principal:
    return Principal("u", "u", "oidc_bearer", frozenset(roles), frozenset(groups), allowed_models=models)


ALICE = person("employee", groups=("finance",))
BOB = person("employee", groups=("engineering",))
CAROL = person("compliance_officer")
ADAM = person("admin")
NOBODY = person()


@pytest.mark.parametrize(
    ("who", "route", "model", "allowed", "rule"),
    [
        (ALICE, "chat", "smollm2-135m-instruct", True, "employees-small-models"),
        (ALICE, "chat", "llama-70b", True, "finance-big-model"),
        (BOB, "chat", "smollm2-135m-instruct", True, "employees-small-models"),
        (BOB, "chat", "llama-70b", False, "default-deny"),
        (BOB, "completions", "llama-70b", False, "default-deny"),
        (ALICE, "completions", "llama-70b", False, "default-deny"),  # the group rule names chat only
        (BOB, "embeddings", "all-minilm-l6-v2", True, "employees-small-models"),
        (CAROL, "chat", "smollm2-135m-instruct", False, "default-deny"),
        (NOBODY, "chat", "smollm2-135m-instruct", False, "default-deny"),
        (ADAM, "chat", "smollm2-135m-instruct", False, "default-deny"),
    ],
)
def test_models_route_by_route(who: Principal, route: str, model: str, allowed: bool, rule: str) -> None:
    decision = policy.decide(who, route, model=model)  # type: ignore[arg-type]
    assert (decision.allowed, decision.rule) == (allowed, rule)


@pytest.mark.parametrize(
    ("who", "route", "allowed", "rule"),
    [
        (CAROL, "audit", True, "compliance-audit"),
        (ADAM, "audit", True, "admins"),
        (ADAM, "admin", True, "admins"),
        (ALICE, "audit", False, "default-deny"),
        (CAROL, "admin", False, "default-deny"),
        (BOB, "admin", False, "default-deny"),
    ],
)
def test_audit_and_admin_routes(who: Principal, route: str, allowed: bool, rule: str) -> None:
    decision = policy.decide(who, route)  # type: ignore[arg-type]
    assert (decision.allowed, decision.rule) == (allowed, rule)


@pytest.mark.parametrize(
    ("who", "collection", "allowed", "rule"),
    [
        (ALICE, "finance-reports", True, "finance-handbook"),
        (ALICE, "handbook", True, "finance-handbook"),
        (BOB, "handbook", True, "everyone-handbook"),
        (BOB, "finance-reports", False, "default-deny"),
        (CAROL, "handbook", False, "default-deny"),
    ],
)
def test_collections(who: Principal, collection: str, allowed: bool, rule: str) -> None:
    decision = policy.decide(who, "retrieval", collection=collection)
    assert (decision.allowed, decision.rule) == (allowed, rule)


def test_api_key_scope_narrows_rbac() -> None:
    scoped = person("employee", models=frozenset({"all-minilm-l6-v2"}))
    assert policy.decide(scoped, "embeddings", model="all-minilm-l6-v2").allowed
    decision = policy.decide(scoped, "chat", model="smollm2-135m-instruct")
    assert (decision.allowed, decision.rule) == (False, "api-key-scope")


def test_denial_names_only_what_was_asked() -> None:
    with pytest.raises(PermissionDenied) as caught:
        policy.require(BOB, "chat", model="llama-70b")
    assert "llama-70b" in caught.value.message
    assert "smollm2" not in caught.value.message
    assert caught.value.decision.rule == "default-deny"  # type: ignore[attr-defined]


def test_no_rules_deny_everything() -> None:
    assert not Policy([]).decide(ADAM, "admin").allowed


def test_rule_must_grant_someone() -> None:
    with pytest.raises(ValueError, match="grants nothing"):
        PolicyRule(name="empty", routes=["chat"], models=["*"])
