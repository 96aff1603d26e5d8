"""RBAC: deny by default; rules from settings grant routes, models and collections to roles or groups.

Every decision names the rule that made it, so that the audit trail can record why a
request was allowed or refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from suite.auth.principal import Principal
from suite.config import PolicyRoute, PolicyRule
from suite.errors import PermissionDenied

DEFAULT_DENY = "default-deny"
API_KEY_SCOPE = "api-key-scope"


@dataclass(frozen=True)
class Decision:
    """The outcome of one policy check and the rule that decided it."""

    allowed: bool
    rule: str
    route: PolicyRoute
    model: str | None = None
    collection: str | None = None


class Policy:
    """Evaluates the configured rules, in order; the first rule that grants wins."""

    def __init__(self, rules: list[PolicyRule]) -> None:
        self._rules = rules

    def decide(
        self, principal: Principal, route: PolicyRoute, *, model: str | None = None, collection: str | None = None
    ) -> Decision:
        """Allow or deny one route (and model or collection) for a principal."""
        if model is not None and principal.allowed_models is not None and model not in principal.allowed_models:
            return Decision(False, API_KEY_SCOPE, route, model, collection)
        for rule in self._rules:
            if self._grants(rule, principal, route, model, collection):
                return Decision(True, rule.name, route, model, collection)
        return Decision(False, DEFAULT_DENY, route, model, collection)

    def require(
        self, principal: Principal, route: PolicyRoute, *, model: str | None = None, collection: str | None = None
    ) -> Decision:
        """decide(), raising PermissionDenied that names only what was asked for when denied."""
        decision = self.decide(principal, route, model=model, collection=collection)
        if not decision.allowed:
            if collection is not None:
                what = f"the collection '{collection}'"
            elif model is not None:
                what = f"the model '{model}'"
            else:
                what = f"the {route} API"
            raise PermissionDenied(f"You are not allowed to use {what}.", decision=decision)
        return decision

    def allowed_models(self, principal: Principal, route: PolicyRoute, models: list[str]) -> list[str]:
        """The subset of models the principal may use on a route (for listings)."""
        return [m for m in models if self.decide(principal, route, model=m).allowed]

    @staticmethod
    def _grants(
        rule: PolicyRule, principal: Principal, route: PolicyRoute, model: str | None, collection: str | None
    ) -> bool:
        if route not in rule.routes:
            return False
        if not (principal.roles & set(rule.roles) or principal.groups & set(rule.groups)):
            return False
        if model is not None and not any(fnmatchcase(model, pattern) for pattern in rule.models):
            return False
        return collection is None or any(fnmatchcase(collection, pattern) for pattern in rule.collections)
