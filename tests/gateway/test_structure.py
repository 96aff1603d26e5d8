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

from suite.config import EMBEDDED_CONFIG_PATH, Settings, load_settings
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
        EMBEDDED_CONFIG_PATH, data_dir=str(tmp_path), serving={"models": []}, embeddings={"models": []}
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


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return names


def test_the_relay_stays_below_the_gateway() -> None:
    # Finding 2: the serving layer called up into the chat service on every chunk.
    upward = {
        f"{path.relative_to(REPO)}: {name}"
        for path in sorted((SUITE / "serving").rglob("*.py"))
        for name in _imports(path)
        if name.startswith(("suite.gateway", "suite.web"))
    }
    assert upward == set()


def test_the_stream_tap_has_one_small_adapter() -> None:
    # Only one class implements the relay's tap, and it is the adapter, not a stage doing everything.
    tap_methods = {"observe", "usage", "finish", "abandon"}
    implementations = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                methods = {n.name for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
                if tap_methods <= methods:
                    implementations.append((str(path.relative_to(REPO)), node.name, len(methods)))
    adapters = [(path, name) for path, name, _ in implementations if not path.startswith("suite/serving/")]
    assert adapters == [("suite/gateway/openai/tap.py", "RelayTap")]
    assert all(count <= 7 for _, _, count in implementations)
