"""The model registry on SQLite and PostgreSQL: states, promotion, rollback, removal, the revision
marker the serving layer polls, and an audit record for every change."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from suite.audit.tables import AuditRecordRow
from suite.db import Database
from suite.errors import AuditUnavailable, ModelVersionNotFound, RegistryConflict
from suite.registry import FileEntry, Manifest, ModelRegistry
from tests.bastion.conftest import registry_for


def _register(registry: ModelRegistry, version: str, root: Path, name: str = "llm") -> None:
    path = root / name / version
    path.mkdir(parents=True)
    (path / "model.gguf").write_bytes(b"GGUF")
    manifest = Manifest(
        name=name,
        version=version,
        format="gguf",
        created=datetime.now(UTC),
        creator="t",
        files=[FileEntry(path="model.gguf", size=4, sha256="0" * 64)],
    )
    registry.register(manifest, path=path, manifest_sha256="f" * 64, signers=["SHA256:x"], actor="importer")


def _states(registry: ModelRegistry, name: str = "llm") -> dict[str, str]:
    return {v.version: v.state for v in registry.versions(name)}


def _actions(database: Database) -> list[tuple[str, str, str | None]]:
    with database.session() as session:
        rows = session.scalars(select(AuditRecordRow).order_by(AuditRecordRow.seq)).all()
    return [(row.action, row.status, row.details.get("version")) for row in rows]


def test_promote_and_rollback_walk_the_serving_history(database: Database, tmp_path: Path) -> None:
    registry = registry_for(database, tmp_path)
    for version in ("1.0", "1.1", "2.0"):
        _register(registry, version, tmp_path)
    assert registry.serving("llm") is None
    assert _states(registry) == {"2.0": "imported", "1.1": "imported", "1.0": "imported"}

    start = registry.revision()
    promoted = registry.promote("llm", "1.0", actor="adam")
    assert registry.changed_since(start)
    assert (promoted.state, promoted.promoted_by) == ("serving", "adam")
    registry.promote("llm", "1.1", actor="adam")
    registry.promote("llm", "2.0", actor="adam")
    assert _states(registry) == {"2.0": "serving", "1.1": "staged", "1.0": "staged"}
    serving = registry.serving("llm")
    assert serving is not None
    assert (serving.version, serving.format, serving.path) == ("2.0", "gguf", tmp_path / "llm" / "2.0")
    assert serving.manifest.files[0].path == "model.gguf"

    # Rollback steps back through the history; the version rolled back from is retired.
    assert registry.rollback("llm", actor="carol").version == "1.1"
    assert registry.rollback("llm", actor="carol").version == "1.0"
    assert _states(registry) == {"2.0": "retired", "1.1": "retired", "1.0": "serving"}
    with pytest.raises(RegistryConflict, match="no earlier serving version"):
        registry.rollback("llm", actor="carol")
    # A retired version can be promoted again deliberately.
    registry.promote("llm", "2.0", actor="adam")
    assert [(p.version, p.action) for p in registry.history("llm")][-3:] == [
        ("1.1", "rollback"),
        ("1.0", "rollback"),
        ("2.0", "promote"),
    ]


def test_every_change_is_an_audited_admin_action(database: Database, tmp_path: Path) -> None:
    registry = registry_for(database, tmp_path)
    _register(registry, "1.0", tmp_path)
    _register(registry, "1.1", tmp_path)
    registry.promote("llm", "1.0", actor="adam")
    registry.promote("llm", "1.1", actor="adam")
    registry.rollback("llm", actor="adam")
    with pytest.raises(ModelVersionNotFound):
        registry.promote("llm", "9.9", actor="mallory")
    with pytest.raises(RegistryConflict, match="serving"):
        registry.remove("llm", "1.0", actor="adam")
    registry.remove("llm", "1.1", actor="adam")
    assert _actions(database) == [
        ("models.import", "ok", "1.0"),
        ("models.import", "ok", "1.1"),
        ("models.promote", "ok", "1.0"),
        ("models.promote", "ok", "1.1"),
        ("models.rollback", "ok", None),
        ("models.promote", "error", "9.9"),
        ("models.remove", "error", "1.0"),
        ("models.remove", "ok", "1.1"),
    ]
    with database.session() as session:
        subjects = set(session.scalars(select(AuditRecordRow.subject)))
        classes = set(session.scalars(select(AuditRecordRow.event_class)))
    assert subjects == {"importer", "adam", "mallory"}
    assert classes == {"admin"}
    # remove deleted the files too.
    assert not (tmp_path / "llm" / "1.1").exists()
    assert [v.version for v in registry.versions("llm")] == ["1.0"]


def test_changes_without_an_audit_trail_are_refused(database: Database, tmp_path: Path) -> None:
    _register(registry_for(database, tmp_path), "1.0", tmp_path)
    reader = ModelRegistry(database)
    with pytest.raises(AuditUnavailable):
        reader.promote("llm", "1.0", actor="adam")
    assert reader.get("llm", "1.0").state == "imported"


def test_concurrent_promotions_leave_exactly_one_serving_version(database: Database, tmp_path: Path) -> None:
    registry = registry_for(database, tmp_path)
    versions = [f"1.{i}" for i in range(6)]
    for version in versions:
        _register(registry, version, tmp_path)
    start = registry.revision()
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda v: registry.promote("llm", v, actor="adam"), versions))
    states = _states(registry)
    assert sorted(states.values()) == ["serving"] + ["staged"] * 5
    assert registry.revision() == start + 6
