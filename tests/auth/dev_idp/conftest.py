"""A real dev IdP on a loopback port, shared by the module's tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.auth.dev_idp.flow import Idp, serve_idp


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Idp]:
    """The provider with the test users and clients."""
    with serve_idp(tmp_path_factory.mktemp("dev-idp")) as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """A client that, like a test harness, stops at redirects instead of following them."""
    with httpx.Client(follow_redirects=False, timeout=10) as client:
        yield client
