"""Import: tiny real models (safetensors, GGUF) land in the store atomically and are registered;
pickle weights, code and downgrades are refused with the store left as it was, and audited."""

from __future__ import annotations

import json
import pickle
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from suite.audit.tables import AuditRecordRow
from suite.bastion import ModelStore, import_bundle, verify_bundle
from suite.bastion.bundle import create_bundle
from suite.db import Database
from suite.errors import BundleRefused
from suite.registry import hash_file
from tests.bastion.conftest import KeyPair, registry_for, snapshot, trusting


def _copy(source: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(source, target)
    return target


@pytest.mark.parametrize("model", ["tiny_llama", "tiny_gguf"])
def test_import_unpacks_atomically_and_registers(
    model: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    keys: dict[str, KeyPair],
    make_bundle: Callable[..., Path],
    store: ModelStore,
    sqlite_database: Database,
) -> None:
    source: Path = request.getfixturevalue(model)
    bundle = make_bundle(source, version="0.3.0")
    registry = registry_for(sqlite_database, tmp_path)
    version = import_bundle(bundle, policy=trusting(keys["alpha"]), store=store, registry=registry, actor="alice")

    assert version.path == (store.root / "tiny" / "0.3.0").resolve()
    assert version.state == "imported"
    assert version.format == ("safetensors" if model == "tiny_llama" else "gguf")
    assert version.imported_by == "alice"
    assert version.signers == (keys["alpha"].public.fingerprint,)
    for entry in version.manifest.files:
        assert hash_file(version.path / entry.path) == (entry.size, entry.sha256)
    assert stat.S_IMODE(version.path.stat().st_mode) == 0o755
    # Only the version directory is left: no temporary directory behind.
    assert sorted(p.name for p in store.root.iterdir()) == ["tiny"]
    assert registry.get("tiny", "0.3.0") == version
    with sqlite_database.session() as session:
        record = session.scalars(select(AuditRecordRow).where(AuditRecordRow.action == "models.import")).one()
    assert (record.subject, record.status, record.model) == ("alice", "ok", "tiny")
    assert record.details["manifest_sha256"] == version.manifest_sha256


def _bad_llama(tiny_llama: Path, tmp_path: Path, change: str) -> Path:
    model = _copy(tiny_llama, tmp_path, f"bad-{change}")
    if change == "pickle":
        (model / "pytorch_model.bin").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    elif change == "code":
        (model / "modeling_evil.py").write_text("import os\nos.system('id')\n")
    elif change in ("auto_map", "trust_remote_code"):
        config = json.loads((model / "config.json").read_text())
        config[change] = {"AutoModel": "modeling_evil.Evil"} if change == "auto_map" else True
        (model / "config.json").write_text(json.dumps(config))
    elif change == "renamed_pickle":
        (model / "model.safetensors").write_bytes(pickle.dumps(list(range(1000))))
    return model


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("pickle", "pickle-based weights are refused .*: pytorch_model.bin"),
        ("code", "code is refused in a model bundle: modeling_evil.py"),
        ("auto_map", r"config.json asks for custom code \(auto_map\)"),
        ("trust_remote_code", r"config.json asks for custom code \(trust_remote_code\)"),
        ("renamed_pickle", "model.safetensors is not a safetensors file"),
    ],
)
def test_weights_and_code_that_would_run_are_refused(
    change: str,
    message: str,
    tmp_path: Path,
    keys: dict[str, KeyPair],
    make_bundle: Callable[..., Path],
    tiny_llama: Path,
    store: ModelStore,
    sqlite_database: Database,
) -> None:
    bundle = make_bundle(_bad_llama(tiny_llama, tmp_path, change))
    registry = registry_for(sqlite_database, tmp_path)
    before = snapshot(store.root)
    with pytest.raises(BundleRefused, match=message):
        import_bundle(bundle, policy=trusting(keys["alpha"]), store=store, registry=registry, actor="bob")
    assert snapshot(store.root) == before
    assert registry.versions() == []
    with sqlite_database.session() as session:
        record = session.scalars(select(AuditRecordRow).where(AuditRecordRow.action == "models.import")).one()
    assert (record.subject, record.status) == ("bob", "error")
    assert record.details["bundle"] == bundle.name


def test_bundle_creation_refuses_what_import_would(tmp_path: Path, keys: dict[str, KeyPair], tiny_llama: Path) -> None:
    with pytest.raises(BundleRefused, match="pickle"):
        create_bundle(
            _bad_llama(tiny_llama, tmp_path, "pickle"),
            tmp_path / "b.tar",
            keys=[keys["alpha"].private],
            name="x",
            version="1",
            creator="t",
        )
    assert not (tmp_path / "b.tar").exists()


def test_an_older_version_is_refused_unless_downgrade_is_allowed(
    tmp_path: Path,
    keys: dict[str, KeyPair],
    make_bundle: Callable[..., Path],
    tiny_gguf: Path,
    store: ModelStore,
    sqlite_database: Database,
) -> None:
    registry = registry_for(sqlite_database, tmp_path)
    policy = trusting(keys["alpha"])
    import_bundle(make_bundle(tiny_gguf, version="1.10.0"), policy=policy, store=store, registry=registry, actor="a")
    before = snapshot(store.root)
    older = make_bundle(tiny_gguf, version="1.9.0")
    # packaging's ordering: 1.9.0 < 1.10.0, which a string comparison would get wrong.
    with pytest.raises(BundleRefused, match=r"older than the installed 1.10.0 \(a rollback attack\?\)"):
        import_bundle(older, policy=policy, store=store, registry=registry, actor="a")
    with pytest.raises(BundleRefused, match="imported already"):
        import_bundle(
            make_bundle(tiny_gguf, version="1.10.0"), policy=policy, store=store, registry=registry, actor="a"
        )
    assert snapshot(store.root) == before
    imported = import_bundle(older, policy=policy, store=store, registry=registry, actor="a", allow_downgrade=True)
    assert [v.version for v in registry.versions("tiny")] == ["1.10.0", "1.9.0"]
    assert imported.path.is_dir()


def test_a_suite_update_verifies_but_is_not_a_model(
    tmp_path: Path, keys: dict[str, KeyPair], store: ModelStore, sqlite_database: Database
) -> None:
    update = tmp_path / "update"
    update.mkdir()
    (update / "suite-0.2.0-py3-none-any.whl").write_bytes(b"PK\x03\x04 wheel bytes")
    bundle = tmp_path / "update.tar"
    create_bundle(
        update, bundle, keys=[keys["alpha"].private], name="suite", version="0.2.0", kind="suite-update", creator="t"
    )
    verified = verify_bundle(bundle, trusting(keys["alpha"]))
    assert (verified.manifest.kind, verified.manifest.format) == ("suite-update", None)
    registry = registry_for(sqlite_database, tmp_path)
    with pytest.raises(BundleRefused, match="suite-update bundle is not a model"):
        import_bundle(bundle, policy=trusting(keys["alpha"]), store=store, registry=registry, actor="t")
