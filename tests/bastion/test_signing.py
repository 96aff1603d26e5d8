"""Keys and SSHSIG signatures, checked against the stock tool (ssh-keygen -Y) in both directions."""

from __future__ import annotations

import shutil
import stat
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from suite.bastion import NAMESPACE, generate_key_pair
from suite.bastion.signing import sign, verify
from suite.errors import BundleRefused
from tests.bastion.conftest import KeyPair


@pytest.fixture(scope="module")
def ssh_keygen() -> str:
    """The stock tool; a missing one fails these tests (scripts/test.sh installs openssh-client)."""
    found = shutil.which("ssh-keygen")
    if found is None:
        pytest.fail("ssh-keygen is needed to check signatures with the stock tool: apt-get install openssh-client")
    return found


def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path: Path) -> None:
    private, public = generate_key_pair(tmp_path, "admin")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"OPENSSH PRIVATE KEY" in private.read_bytes()
    assert public.read_text().startswith("ssh-ed25519 AAAA")
    with pytest.raises(FileExistsError):
        generate_key_pair(tmp_path, "admin")


def test_a_changed_message_or_namespace_is_refused(keys: dict[str, KeyPair]) -> None:
    signature = sign(b"manifest", keys["alpha"].private)
    assert verify(b"manifest", signature).fingerprint == keys["alpha"].public.fingerprint
    with pytest.raises(BundleRefused, match="does not match the manifest"):
        verify(b"manifesT", signature)
    with pytest.raises(BundleRefused, match="namespace"):
        verify(b"manifest", sign(b"manifest", keys["alpha"].private, namespace="git"))
    with pytest.raises(BundleRefused, match="malformed"):
        verify(b"manifest", signature.replace("A", "B", 3))


def test_fingerprint_is_the_one_ssh_keygen_prints(ssh_keygen: str, keys: dict[str, KeyPair]) -> None:
    out = subprocess.run(
        [ssh_keygen, "-l", "-f", str(keys["alpha"].public_path)], capture_output=True, text=True, check=False
    )
    assert keys["alpha"].public.fingerprint in out.stdout


def test_stock_ssh_keygen_verifies_a_bundle_manifest(
    ssh_keygen: str, tmp_path: Path, keys: dict[str, KeyPair], make_bundle: Callable[..., Path], tiny_gguf: Path
) -> None:
    bundle = make_bundle(tiny_gguf)
    # The runbook's manual check: take manifest.json and its signature out, verify with ssh-keygen.
    with tarfile.open(bundle) as tar:
        tar.extractall(tmp_path / "out", members=[tar.getmember("manifest.json"), tar.getmember("signatures/1.sig")])
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'admin namespaces="{NAMESPACE}" {keys["alpha"].public.openssh()}\n')
    manifest = (tmp_path / "out" / "manifest.json").read_bytes()

    def ssh_verify(data: bytes, identity: str = "admin") -> subprocess.CompletedProcess[bytes]:
        command = [ssh_keygen, "-Y", "verify", "-f", str(allowed), "-I", identity, "-n", NAMESPACE]
        return subprocess.run(
            [*command, "-s", str(tmp_path / "out/signatures/1.sig")], input=data, capture_output=True, check=False
        )

    good = ssh_verify(manifest)
    assert good.returncode == 0, good.stderr
    assert b"Good" in good.stdout
    assert ssh_verify(manifest.replace(b"1.0.0", b"1.0.1")).returncode != 0


def test_a_signature_made_by_ssh_keygen_verifies_here(
    ssh_keygen: str, tmp_path: Path, keys: dict[str, KeyPair]
) -> None:
    message = tmp_path / "manifest.json"
    message.write_bytes(b'{"name": "x"}\n')
    subprocess.run(
        [ssh_keygen, "-Y", "sign", "-f", str(keys["beta"].private_path), "-n", NAMESPACE, str(message)],
        check=True,
        capture_output=True,
    )
    signer = verify(message.read_bytes(), (tmp_path / "manifest.json.sig").read_text())
    assert signer.raw == keys["beta"].public.raw
