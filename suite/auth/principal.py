"""Who is calling: the identity every /v1 route receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

AuthMethod = Literal["static_api_key", "api_key", "oidc_bearer", "session"]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: subject, display name, suite roles, IdP groups, how it authenticated."""

    subject: str
    name: str
    auth_method: AuthMethod
    roles: frozenset[str] = field(default_factory=frozenset)
    groups: frozenset[str] = field(default_factory=frozenset)
    # A managed API key may be limited to some models on top of RBAC; None: no such limit.
    allowed_models: frozenset[str] | None = None
