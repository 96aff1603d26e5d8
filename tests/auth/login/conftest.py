"""One gateway (dev IdP at /idp, browser login installed) shared by the module's tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.auth.login.flow import Gateway, serve_gateway


@pytest.fixture(scope="module")
def login_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with serve_gateway(tmp_path_factory.mktemp("gateway")) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[httpx.Client]:
    """A browser: a cookie jar, and redirects looked at one by one instead of followed."""
    with httpx.Client(follow_redirects=False, timeout=15, trust_env=False) as client:
        yield client
