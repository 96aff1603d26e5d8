"""The release bundle: built and signed with the bastion's keys, installed fail-closed, rolled back."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from suite.bastion import TrustPolicy, generate_key_pair, load_private_key, load_public_key
from suite.errors import BundleRefused
from suite.release import build_release, install_release, rollback, verify_release
from suite.release.install import installed_versions


@pytest.fixture
def signer(tmp_path: Path) -> tuple[Path, TrustPolicy]:
    private, public = generate_key_pair(tmp_path / "keys", "release-signer")
    return private, TrustPolicy(keys=(load_public_key(public),))


def make_release(tmp_path: Path, private: Path, version: str, min_from: str = "0.0.0", **kw: object) -> Path:
    source = tmp_path / f"src-{version}"
    (source / "images").mkdir(parents=True)
    (source / "images" / "gateway.oci.tar").write_bytes(os.urandom(4096))
    (source / "ansible").mkdir()
    (source / "ansible" / "site.yml").write_text(f"# release {version}\n", encoding="utf-8")
    out = tmp_path / f"suite-release-{version}.bundle"
    build_release(
        source, out, keys=[load_private_key(private)], version=version, min_upgrade_from=min_from,
        creator="release-team", **kw,  # type: ignore[arg-type]
    )  # fmt: skip
    return out


def test_install_upgrade_and_rollback_switch_current(tmp_path: Path, signer: tuple[Path, TrustPolicy]) -> None:
    private, policy = signer
    root = tmp_path / "root"
    first = install_release(make_release(tmp_path, private, "1.0.0"), policy, root)
    assert first.version == "1.0.0"
    assert (root / "current" / "ansible" / "site.yml").read_text(encoding="utf-8") == "# release 1.0.0\n"
    install_release(make_release(tmp_path, private, "1.1.0", min_from="1.0.0"), policy, root)
    assert (root / "current" / "ansible" / "site.yml").read_text(encoding="utf-8") == "# release 1.1.0\n"
    assert rollback(root) == "1.0.0"
    assert (root / "current" / "ansible" / "site.yml").read_text(encoding="utf-8") == "# release 1.0.0\n"
    assert installed_versions(root) == ("1.0.0", "1.1.0")
    # A replay of the release rolled back from, or of an older one, is refused even after the rollback.
    with pytest.raises(BundleRefused, match=r"not newer than 1\.1\.0"):
        install_release(make_release(tmp_path / "again", private, "1.1.0"), policy, root)


def _refused_without_trace(bundle: Path, policy: TrustPolicy, root: Path, match: str, **checks: object) -> None:
    before = sorted(p.as_posix() for p in root.rglob("*")) if root.exists() else []
    with pytest.raises(BundleRefused, match=match):
        install_release(bundle, policy, root, **checks)
    assert (sorted(p.as_posix() for p in root.rglob("*")) if root.exists() else []) == before


def test_tampered_truncated_and_unsigned_releases_are_refused_before_unpacking(
    tmp_path: Path, signer: tuple[Path, TrustPolicy]
) -> None:
    private, policy = signer
    bundle = make_release(tmp_path, private, "2.0.0")
    data = bundle.read_bytes()
    at = data.index(b"# release 2.0.0")
    tampered = tmp_path / "tampered.bundle"
    tampered.write_bytes(data[:at] + b"# release 6.6.6" + data[at + 15 :])
    _refused_without_trace(tampered, policy, tmp_path / "root", "sha256|SHA-256|hash|digest")
    truncated = tmp_path / "truncated.bundle"
    truncated.write_bytes(data[: len(data) // 2])
    _refused_without_trace(truncated, policy, tmp_path / "root", "truncated|size|short")
    other_private, _ = generate_key_pair(tmp_path / "other", "someone-else")
    _refused_without_trace(make_release(tmp_path / "o", other_private, "2.0.0"), policy, tmp_path / "root", "sign")


def test_expired_too_new_and_disk_short_releases_are_refused(tmp_path: Path, signer: tuple[Path, TrustPolicy]) -> None:
    private, policy = signer
    root = tmp_path / "root"
    install_release(make_release(tmp_path, private, "1.0.0"), policy, root)
    jump = make_release(tmp_path, private, "3.0.0", min_from="2.0.0")
    _refused_without_trace(jump, policy, root, "upgrades from 2.0.0 or later; 1.0.0 is installed")
    later = make_release(tmp_path, private, "1.2.0", min_from="1.0.0", valid_days=1)
    _refused_without_trace(later, policy, root, "expired", now=datetime.now(UTC) + timedelta(days=2))
    _refused_without_trace(later, policy, root, "not enough disk space", margin_bytes=2**62)
    verified, meta = verify_release(later, policy, root)
    assert meta.version == "1.2.0"
    assert verified.signers
