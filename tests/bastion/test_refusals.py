"""Every refusal: verify refuses with a message naming the problem, and an import of the same bundle
leaves the model store exactly as it was (nothing unpacked, its temporary directory gone)."""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from suite.bastion import ModelStore, import_bundle, verify_bundle
from suite.db import Database
from suite.errors import BundleRefused
from suite.registry import FileEntry
from tests.bastion.conftest import (
    KeyPair,
    Member,
    manifest_of,
    read_members,
    registry_for,
    resign,
    snapshot,
    trusting,
    write_members,
)

Forge = Callable[[list[Member], dict[str, KeyPair]], list[Member]]


def _payload(members: list[Member], suffix: str) -> int:
    return next(i for i, (info, _) in enumerate(members) if info.name.endswith(suffix))


def changed_byte(members: list[Member], _keys: dict[str, KeyPair]) -> list[Member]:
    index = _payload(members, "model.safetensors")
    info, data = members[index]
    assert data is not None
    flipped = bytearray(data)
    flipped[len(flipped) // 2] ^= 0x01
    members[index] = (info, bytes(flipped))
    return members


def extra_file(members: list[Member], _keys: dict[str, KeyPair]) -> list[Member]:
    return [*members, (tarfile.TarInfo("payload/extra.txt"), b"not in the manifest")]


def missing_file(members: list[Member], _keys: dict[str, KeyPair]) -> list[Member]:
    del members[_payload(members, "config.json")]
    return members


def dotdot_member(members: list[Member], _keys: dict[str, KeyPair]) -> list[Member]:
    return [*members, (tarfile.TarInfo("payload/../escape.txt"), b"x")]


def dotdot_in_signed_manifest(members: list[Member], keys: dict[str, KeyPair]) -> list[Member]:
    manifest = manifest_of(members)
    files = [*manifest.files, FileEntry(path="../escape.txt", size=1, sha256="0" * 64)]
    return resign(members, manifest.model_copy(update={"files": files}), keys["alpha"].private)


def absolute_member(members: list[Member], _keys: dict[str, KeyPair]) -> list[Member]:
    return [*members, (tarfile.TarInfo("/etc/cron.d/evil"), b"x")]


def absolute_under_payload(members: list[Member], _keys: dict[str, KeyPair]) -> list[Member]:
    return [*members, (tarfile.TarInfo("payload//etc/evil"), b"x")]


def _special(name: str, kind: bytes, link: str = "") -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info, None


def symlink(members: list[Member], _keys: dict[str, KeyPair]) -> list[Member]:
    return [*members, _special("payload/link", tarfile.SYMTYPE, "/etc/passwd")]


def hardlink(members: list[Member], _keys: dict[str, KeyPair]) -> list[Member]:
    return [*members, _special("payload/hard", tarfile.LNKTYPE, "payload/config.json")]


def device(members: list[Member], _keys: dict[str, KeyPair]) -> list[Member]:
    return [*members, _special("payload/dev", tarfile.CHRTYPE)]


def fifo(members: list[Member], _keys: dict[str, KeyPair]) -> list[Member]:
    return [*members, _special("payload/pipe", tarfile.FIFOTYPE)]


def untrusted_key(members: list[Member], keys: dict[str, KeyPair]) -> list[Member]:
    return resign(members, manifest_of(members), keys["gamma"].private)


def manifest_edited_after_signing(members: list[Member], _keys: dict[str, KeyPair]) -> list[Member]:
    info, data = members[0]
    assert data is not None
    members[0] = (info, data.replace(b'"1.0.0"', b'"9.0.0"'))
    return members


def manifest_size_disagrees(members: list[Member], keys: dict[str, KeyPair]) -> list[Member]:
    manifest = manifest_of(members)
    files = [e.model_copy(update={"size": e.size + 1}) if e.path == "config.json" else e for e in manifest.files]
    return resign(members, manifest.model_copy(update={"files": files}), keys["alpha"].private)


def unsigned(members: list[Member], _keys: dict[str, KeyPair]) -> list[Member]:
    return [m for m in members if not m[0].name.startswith("signatures/")]


def payload_before_manifest(members: list[Member], _keys: dict[str, KeyPair]) -> list[Member]:
    return [members[-1], *members[:-1]]


CASES: list[tuple[Forge, str]] = [
    (changed_byte, "model.safetensors was changed"),
    (extra_file, "extra file not in the manifest: extra.txt"),
    (missing_file, "missing from the bundle: config.json"),
    (dotdot_member, "escapes the bundle"),
    (dotdot_in_signed_manifest, "escapes the bundle"),
    (absolute_member, "absolute path"),
    (absolute_under_payload, "absolute path"),
    (symlink, "symbolic link in bundle: link -> /etc/passwd"),
    (hardlink, "hard link in bundle: hard"),
    (device, "device file in bundle: dev"),
    (fifo, "FIFO in bundle: pipe"),
    (untrusted_key, "untrusted key"),
    (manifest_edited_after_signing, "does not match the manifest"),
    (manifest_size_disagrees, "size of config.json differs from the manifest"),
    (unsigned, "not signed"),
    (payload_before_manifest, "first member must be manifest.json"),
]


@pytest.mark.parametrize(("forge", "message"), CASES, ids=[c[0].__name__ for c in CASES])
def test_refused_and_nothing_written(
    forge: Forge,
    message: str,
    tmp_path: Path,
    keys: dict[str, KeyPair],
    make_bundle: Callable[..., Path],
    tiny_llama: Path,
    store: ModelStore,
    sqlite_database: Database,
) -> None:
    good = make_bundle(tiny_llama)
    bad = write_members(tmp_path / "bad.tar", forge(read_members(good), keys))
    policy = trusting(keys["alpha"], keys["beta"])
    with pytest.raises(BundleRefused, match=message):
        verify_bundle(bad, policy)

    registry = registry_for(sqlite_database, tmp_path)
    before = snapshot(store.root)
    with pytest.raises(BundleRefused, match=message):
        import_bundle(bad, policy=policy, store=store, registry=registry, actor="tester")
    assert snapshot(store.root) == before
    assert registry.versions() == []


def test_a_truncated_bundle_is_refused(
    tmp_path: Path, keys: dict[str, KeyPair], make_bundle: Callable[..., Path], tiny_llama: Path
) -> None:
    bundle = make_bundle(tiny_llama)
    data = bundle.read_bytes()
    bundle.write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleRefused, match="truncated"):
        verify_bundle(bundle, trusting(keys["alpha"]))


def test_k_of_n_counts_distinct_trusted_signers(
    keys: dict[str, KeyPair], make_bundle: Callable[..., Path], tiny_gguf: Path
) -> None:
    everyone = (keys["alpha"], keys["beta"], keys["gamma"])
    two = make_bundle(tiny_gguf, signers=["alpha", "beta"])
    verified = verify_bundle(two, trusting(*everyone, required=2))
    assert set(verified.signers) == {keys["alpha"].public.fingerprint, keys["beta"].public.fingerprint}
    with pytest.raises(BundleRefused, match="needs signatures from 3 trusted keys, has 2"):
        verify_bundle(two, trusting(*everyone, required=3))
    same_twice = make_bundle(tiny_gguf, signers=["alpha", "alpha"], version="1.0.1")
    with pytest.raises(BundleRefused, match="has 1"):
        verify_bundle(same_twice, trusting(*everyone, required=2))
    # A trusted key that did not sign does not help an untrusted one that did.
    with pytest.raises(BundleRefused, match="untrusted key"):
        verify_bundle(two, trusting(keys["alpha"], keys["gamma"], required=2))


def test_no_trusted_keys_refuses(keys: dict[str, KeyPair], make_bundle: Callable[..., Path], tiny_gguf: Path) -> None:
    with pytest.raises(BundleRefused, match="no trusted keys"):
        verify_bundle(make_bundle(tiny_gguf), trusting())
