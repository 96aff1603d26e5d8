"""The auth seam: configured static keys (hashed) and nothing else."""

from __future__ import annotations

import pytest

from suite.auth import StaticKeyAuthenticator, hash_api_key
from suite.config import AuthSettings
from suite.errors import AuthenticationFailed

KEY = "sk-test-0123456789"


@pytest.fixture
def authenticator() -> StaticKeyAuthenticator:
    settings = AuthSettings(static_api_keys=[{"name": "svc", "sha256": hash_api_key(KEY), "roles": ["admin"]}])
    return StaticKeyAuthenticator(settings)


def test_configured_key_gives_principal(authenticator: StaticKeyAuthenticator) -> None:
    principal = authenticator.authenticate(f"Bearer {KEY}")
    assert principal.subject == "apikey:svc"
    assert principal.roles == frozenset({"admin"})
    assert principal.auth_method == "static_api_key"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "Missing credentials"),
        ("", "Missing credentials"),
        (f"Basic {KEY}", "Malformed Authorization header"),
        ("Bearer ", "Malformed Authorization header"),
        ("Bearer sk-test-wrong", "Invalid API key"),
    ],
)
def test_refusals_say_why(authenticator: StaticKeyAuthenticator, header: str | None, reason: str) -> None:
    with pytest.raises(AuthenticationFailed, match=reason):
        authenticator.authenticate(header)


def test_no_keys_configured_refuses_everything() -> None:
    with pytest.raises(AuthenticationFailed):
        StaticKeyAuthenticator(AuthSettings()).authenticate(f"Bearer {KEY}")
