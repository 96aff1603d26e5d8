"""The Ansible playbooks: syntax, the multi-node inventory's hosts, and a real single-node run into a folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from suite.bastion import generate_key_pair, load_private_key
from suite.release import build_release
from tests.support import REPO

ANSIBLE = REPO / "ansible"
pytestmark = pytest.mark.skipif(shutil.which("ansible-playbook") is None, reason="installed by `make install`")


def playbook(*args: str, cwd: Path = ANSIBLE) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": "/tmp/ansible-local"}
    return subprocess.run(
        ["ansible-playbook", *args], check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def test_playbooks_parse_and_the_multi_node_inventory_lists_every_host() -> None:
    checked = playbook("-i", "inventory/single-node.yml", "--syntax-check", "site.yml", "rollback.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    hosts = playbook("-i", "inventory/multi-node.example.yml", "--list-hosts", "site.yml")
    assert hosts.returncode == 0, hosts.stderr
    assert {"gw1.internal", "gw2.internal", "gpu1.internal", "db1.internal"} <= set(hosts.stdout.split())


def test_single_node_install_and_rollback_run_against_a_folder(tmp_path: Path) -> None:
    private, public = generate_key_pair(tmp_path / "keys", "release")
    bundles = []
    for version in ("1.0.0", "1.1.0"):
        source = tmp_path / f"src-{version}"
        (source / "images").mkdir(parents=True)
        (source / "VERSION").write_text(version, encoding="utf-8")
        bundles.append(tmp_path / f"suite-release-{version}.bundle")
        build_release(source, bundles[-1], keys=[load_private_key(private)], version=version,
                      min_upgrade_from="0.0.0", creator="test")  # fmt: skip
    root = tmp_path / "root"
    common = [
        "-i", "inventory/single-node.yml", "-e", f"suite_release_root={root}", "-e", f"suite_release_python={sys.executable}",
        "-e", f'{{"suite_release_trusted_keys": ["{public}"]}}', "-e", "suite_release_load_images=false",
        "-e", f"suite_release_quadlet_dir={tmp_path / 'quadlets'}",
    ]  # fmt: skip
    for bundle in bundles:
        run = playbook(*common, "-e", f"suite_release_bundle={bundle}", "site.yml")
        assert run.returncode == 0, run.stdout[-3000:]
    assert (root / "current" / "VERSION").read_text(encoding="utf-8") == "1.1.0"
    quadlet = (tmp_path / "quadlets" / "suite-gateway.container").read_text(encoding="utf-8")
    assert "Pull=never" in quadlet
    assert "ReadOnly=true" in quadlet
    assert 'HealthCmd=["/opt/python/bin/python3.11"' in quadlet
    # A replayed older release fails the play at the verify step, before anything changes.
    replay = playbook(*common, "-e", f"suite_release_bundle={bundles[0]}", "site.yml")
    assert replay.returncode != 0
    assert "not newer than 1.1.0" in replay.stdout
    back = playbook(*common, "rollback.yml")
    assert back.returncode == 0, back.stdout[-3000:]
    assert (root / "current" / "VERSION").read_text(encoding="utf-8") == "1.0.0"


# The venv's ansible-lint (a dev dependency): scripts/test.sh runs the venv's python without activating it.
ANSIBLE_LINT = Path(sys.executable).with_name("ansible-lint")


@pytest.mark.skipif(not ANSIBLE_LINT.exists(), reason="ansible-lint is a dev dependency (make install)")
def test_the_playbooks_pass_ansible_lint_production_profile() -> None:
    path = f"{ANSIBLE_LINT.parent}:{os.environ.get('PATH', '')}"  # its ansible-core beside it
    env = {**os.environ, "PATH": path, "NO_COLOR": "1", "ANSIBLE_LOCAL_TEMP": "/tmp/ansible-local"}
    linted = subprocess.run(
        [str(ANSIBLE_LINT), "--offline", "--profile", "production", "--nocolor", "."],
        cwd=ANSIBLE, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert linted.returncode == 0, linted.stdout[-3000:] + linted.stderr[-3000:]
    assert "Profile 'production' was required, and it passed" in linted.stderr + linted.stdout
