"""Ingest through the running gateway: an admin's request, paths under rag.ingest_roots only, audited.

Real gateway (dev IdP tokens, real all-MiniLM, Qdrant local mode held by the gateway); the
chat backend is never called here, so it points at a closed port.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from suite.audit.tables import AuditRecordRow
from suite.gateway import create_app, services_of
from suite.rag.cli import ingest_via_gateway
from tests.auth.dev_idp.flow import dev_idp_settings
from tests.rag.test_access import token
from tests.support import ServerThread, free_port, gateway_settings

ADMIN = {"name": "admins-administer", "roles": ["admin"], "routes": ["admin"]}
SEARCH = {"name": "staff-search", "roles": ["employee"], "routes": ["retrieval"], "collections": ["*"]}


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("admin-ingest")
    folder = data_dir / "inbox" / "handbook"
    folder.mkdir(parents=True)
    (folder / "parking.md").write_text("# Parking\n\nParking spaces in the basement are assigned by facilities.\n")
    (folder / "canteen.md").write_text("# Canteen\n\nThe canteen opens at half past eleven on weekdays.\n")
    return data_dir


@pytest.fixture(scope="module")
def gateway(inbox: Path) -> Iterator[ServerThread]:
    port = free_port()
    base = gateway_settings(
        inbox,
        backends=[f"http://127.0.0.1:{free_port()}"],
        identity={"dev_idp": dev_idp_settings(), "policy": [ADMIN, SEARCH]},
        embeddings=True,
        port=port,
    )
    settings = base.model_copy(update={"rag": base.rag.model_copy(update={"ingest_roots": [Path("inbox")]})})
    server = ServerThread(create_app(settings, manage_engines=False), port=port).start()
    yield server
    server.stop()


def ingest(gateway: ServerThread, user: str, path: Path | str, **body: object) -> httpx.Response:
    request = {"path": str(path), "groups": ["engineering"], "create": True, **body}
    url = f"{gateway.url}/v1/admin/collections/handbook/ingest"
    return httpx.post(url, json=request, headers=token(gateway, user), timeout=120)


def lines(response: httpx.Response) -> list[dict[str, object]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


def test_admin_ingests_with_progress_and_bob_finds_it(gateway: ServerThread, inbox: Path) -> None:
    events = lines(ingest(gateway, "adam", inbox / "inbox" / "handbook"))
    assert [e["done"] for e in events[:-1]] == [1, 2]  # one progress line per document
    assert {e["total"] for e in events[:-1]} == {2}
    assert all(isinstance(e["chunks"], int) and e["seconds"] >= 0 for e in events[:-1])  # type: ignore[operator]
    result = events[-1]
    assert result["object"] == "ingest.result"
    assert result["summary"]["added"] == 2  # type: ignore[index]
    found = httpx.post(
        f"{gateway.url}/v1/retrieve",
        json={"query": "When does the canteen open?", "collections": ["handbook"]},
        headers=token(gateway, "bob"),
        timeout=60,
    )
    assert any("canteen" in item["text"] for item in found.json()["data"])


def test_the_cli_ingests_incrementally_through_the_gateway(gateway: ServerThread, inbox: Path) -> None:
    folder = inbox / "inbox" / "handbook"
    credential = token(gateway, "adam")["authorization"].removeprefix("Bearer ")
    request = {"path": str(folder), "groups": ["engineering"], "create": True}
    ingest_via_gateway(gateway.url, "handbook", request, api_key=credential)
    (folder / "canteen.md").unlink()
    summary = ingest_via_gateway(gateway.url, "handbook", request, api_key=credential)["summary"]
    assert (summary["unchanged"], summary["removed"]) == (1, 1)


def test_ingest_is_an_audited_admin_action(gateway: ServerThread, inbox: Path) -> None:
    lines(ingest(gateway, "adam", inbox / "inbox" / "handbook"))
    database = services_of(gateway.server.config.app).database
    with database.sessions() as session:
        query = select(AuditRecordRow).where(AuditRecordRow.action == "ingest").order_by(AuditRecordRow.seq.desc())
        record = session.scalars(query.limit(1)).one()
    assert (record.event_class, record.subject, record.collections) == ("admin", "adam", ["handbook"])
    assert record.details["source"].endswith("/inbox/handbook/")


def test_only_admins_may_ingest(gateway: ServerThread, inbox: Path) -> None:
    refused = ingest(gateway, "bob", inbox / "inbox" / "handbook")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize("where", ["outside", "link", "relative"])
def test_paths_outside_the_ingest_roots_are_refused(gateway: ServerThread, inbox: Path, where: str) -> None:
    outside = inbox / "secrets"
    outside.mkdir(exist_ok=True)
    (outside / "salaries.md").write_text("# Salaries\n\nConfidential.\n")
    link = inbox / "inbox" / "shortcut"
    if not link.exists():
        link.symlink_to(outside)
    path = {"outside": outside, "link": link, "relative": "inbox/handbook"}[where]
    refused = ingest(gateway, "adam", path)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["param"] == "path"
    assert "absolute" in error["message"] if where == "relative" else "rag.ingest_roots" in error["message"]
