"""The request path's structure (issue 14, finding 1): frozen services, no app.state, one lifespan.

These are the tests that would have caught the service locator: a ``Services`` changed after it
was built, routes and auth reaching into ``app.state``, and a router opening the RAG store in a
lifespan of its own.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient

from suite.config import Settings, load_settings
from suite.gateway import Services, create_app, services_of
from suite.gateway.deps import PolicyDep, get_services
from tests.support import REPO

SUITE = REPO / "suite"
FACTORY = SUITE / "gateway" / "app.py"


def _sources() -> list[Path]:
    return sorted(p for p in SUITE.rglob("*.py") if p != FACTORY)


def _reads_app_state(tree: ast.AST) -> list[int]:
    # ``<anything>.app.state`` or ``app.state``: the app's state bag, in any form.
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "state":
            owner = node.value
            if (isinstance(owner, ast.Name) and owner.id == "app") or (
                isinstance(owner, ast.Attribute) and owner.attr == "app"
            ):
                lines.append(node.lineno)
    return lines


def test_no_module_outside_the_app_factory_touches_app_state() -> None:
    found = {
        str(path.relative_to(REPO)): lines
        for path in _sources()
        if (lines := _reads_app_state(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert found == {}


def test_the_check_finds_app_state_where_it_is_read() -> None:
    # The check itself can fail: both spellings of the old locator are found.
    tree = ast.parse("a = request.app.state.services\napp.state.web = 1\n")
    assert _reads_app_state(tree) == [1, 2]


def test_no_router_has_a_lifespan_of_its_own() -> None:
    # Every resource is opened and closed by the app factory's one lifespan.
    offenders = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and any(k.arg == "lifespan" for k in node.keywords):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []


@pytest.fixture
def app_settings(tmp_path: Path) -> Settings:
    return load_settings(
        REPO / "config" / "suite.yaml", data_dir=str(tmp_path), serving={"models": []}, embeddings={"models": []}
    )


def test_services_are_frozen(app_settings: Settings) -> None:
    services = services_of(create_app(app_settings, manage_engines=False))
    assert dataclasses.is_dataclass(Services)
    with pytest.raises(dataclasses.FrozenInstanceError):
        services.rag = None  # type: ignore[misc]


def test_requests_get_the_parts_the_lifespan_handed_them(app_settings: Settings) -> None:
    app = create_app(app_settings, manage_engines=False)
    probe = APIRouter()

    @probe.get("/probe-parts")
    async def parts(request: Request, policy: PolicyDep) -> dict[str, bool]:
        services = await get_services(request)
        return {"same": services is services_of(app) and policy is services.policy}

    app.include_router(probe)
    with TestClient(app) as client:
        assert client.get("/probe-parts").json() == {"same": True}
