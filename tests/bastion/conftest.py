"""Bastion fixtures: signing keys, tiny real models (safetensors and GGUF), bundles, a registry."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from suite.audit import AuditTrail
from suite.bastion import (
    ModelStore,
    PublicKey,
    TrustPolicy,
    create_bundle,
    generate_key_pair,
    load_private_key,
    load_public_key,
)
from suite.bastion.signing import sign
from suite.config import AuditSettings
from suite.db import Database, migrate
from suite.registry import Manifest, ModelRegistry

Member = tuple[tarfile.TarInfo, bytes | None]


@dataclass(frozen=True)
class KeyPair:
    private_path: Path
    public_path: Path
    private: Ed25519PrivateKey
    public: PublicKey


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    """Three signing key pairs, made by the suite's own keygen."""
    out = tmp_path_factory.mktemp("keys")
    pairs = {}
    for name in ("alpha", "beta", "gamma"):
        private, public = generate_key_pair(out, name)
        pairs[name] = KeyPair(private, public, load_private_key(private), load_public_key(public))
    return pairs


def trusting(*pairs: KeyPair, required: int = 1) -> TrustPolicy:
    return TrustPolicy(tuple(pair.public for pair in pairs), required)


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random LlamaForCausalLM saved by transformers with safetensors (Hugging Face layout)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    out = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(out, safe_serialization=True)
    assert (out / "model.safetensors").is_file()
    return out


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny GGUF model written with the gguf package."""
    import gguf
    import numpy as np

    out = tmp_path_factory.mktemp("tiny-gguf")
    writer = gguf.GGUFWriter(str(out / "tiny.gguf"), "llama")
    writer.add_block_count(1)
    writer.add_context_length(64)
    writer.add_embedding_length(16)
    writer.add_head_count(2)
    writer.add_tensor("token_embd.weight", np.random.default_rng(0).standard_normal((64, 16), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


@pytest.fixture
def make_bundle(tmp_path: Path, keys: dict[str, KeyPair]) -> Callable[..., Path]:
    """Bundle a directory with create_bundle (signed by alpha unless keys are given)."""

    def make(files: Path, *, version: str = "1.0.0", name: str = "tiny", signers: list[str] | None = None) -> Path:
        out = tmp_path / "bundles" / f"{name}-{version}.tar"
        create_bundle(
            files,
            out,
            keys=[keys[s].private for s in signers or ["alpha"]],
            name=name,
            version=version,
            creator="tester",
            enforce_model_policy=False,
        )
        return out

    return make


def read_members(bundle: Path) -> list[Member]:
    """Every member of a (small) bundle with its bytes."""
    members: list[Member] = []
    with tarfile.open(bundle) as tar:
        for info in tar.getmembers():
            source = tar.extractfile(info) if info.isreg() else None
            members.append((info, source.read() if source else None))
    return members


def write_members(out: Path, members: list[Member]) -> Path:
    """Write members as a tar, exactly as given (the forger's tool)."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out


def resign(members: list[Member], manifest: Manifest, key: Ed25519PrivateKey) -> list[Member]:
    """Replace the manifest and signatures with a new manifest properly signed by key."""
    data = manifest.to_bytes()
    head = [(tarfile.TarInfo("manifest.json"), data), (tarfile.TarInfo("signatures/1.sig"), sign(data, key).encode())]
    return head + [m for m in members if m[0].name.startswith("payload/")]


def manifest_of(members: list[Member]) -> Manifest:
    data = members[0][1]
    assert data is not None
    return Manifest.model_validate_json(data)


def snapshot(root: Path) -> dict[str, int]:
    """Every path under root with its size (-1 for directories)."""
    return {str(p.relative_to(root)): (p.stat().st_size if p.is_file() else -1) for p in sorted(root.rglob("*"))}


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'suite.db'}")
    migrate(database)
    yield database
    database.dispose()


def registry_for(database: Database, data_dir: Path) -> ModelRegistry:
    trail = AuditTrail(AuditSettings(), database, data_dir=data_dir)
    return ModelRegistry(database, trail=trail, auth_method="test")


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    root = tmp_path / "store"
    root.mkdir()
    return ModelStore(root)
