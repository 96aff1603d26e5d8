"""The release bundle end to end through its CLI: assemble, countersign, inspect, diff, parts, and the
wheelhouse installing the host tools into a fresh venv inside a loopback-only network namespace.

The wheelhouse here holds the suite's own wheel and the host tools' wheels (offline-bundle/host-tools.txt,
cached by `make install`), not the full 4 GB environment: the full one is `pip download` of
requirements.lock at release time, too big and slow for CI; the subset is what a host runs first
(verify and install before anything else of the release).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from suite.bastion import generate_key_pair
from tests.support import REPO

HOST_WHEELS = REPO / "var" / "cache" / "wheelhouse-host"


def release(*args: str, python: str = sys.executable, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)} if python == sys.executable else {"PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [python, "-m", "suite.release", *args], check=False, capture_output=True, text=True, env=env, timeout=900
    )
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    if not (HOST_WHEELS / "requirements.txt").exists():
        pytest.skip("var/cache/wheelhouse-host is made by `make install` (offline-bundle/host-wheels.sh)")
    tmp = tmp_path_factory.mktemp("release")
    keys = {}
    for who in ("vendor", "customer"):
        private, public = generate_key_pair(tmp / "keys" / who, who)
        keys[f"{who}"], keys[f"{who}.pub"] = private, public
    out = {}
    for version, min_from in (("1.0.0", "0.0.0"), ("1.1.0", "1.0.0")):
        folder = tmp / version
        release("assemble", str(folder), "--version", version, "--min-upgrade-from", min_from,
                "--sign-key", str(keys["vendor"]), "--wheels", str(HOST_WHEELS), "--split", "4M")  # fmt: skip
        out[version] = folder / f"suite-release-{version}.bundle"
    return tmp, {**keys, **out}


def test_assembled_release_lists_every_part_and_splits_with_checksums(bundles: tuple[Path, dict[str, Path]]) -> None:
    _, found = bundles
    shown = release("inspect", str(found["1.1.0"])).stdout
    assert "suite-release 1.1.0 (suite-update)" in shown
    assert "UNVERIFIED" in shown
    assert "upgrades from 1.0.0 or later" in shown
    for top in ("ansible", "runbooks", "wheelhouse", "release.json"):
        assert f"  {top}: " in shown
    parts = sorted((found["1.1.0"].parent / "parts").glob("*.part-*"))
    assert len(parts) > 1
    assert all(part.stat().st_size <= 4 * 2**20 for part in parts)
    listing = found["1.1.0"].parent / "parts" / "suite-release-1.1.0.bundle.parts.sha256"
    checked = subprocess.run(
        ["sha256sum", "-c", listing.name], check=False, cwd=listing.parent, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout


def test_hosts_that_require_the_customer_countersignature_refuse_without_it(
    bundles: tuple[Path, dict[str, Path]],
) -> None:
    tmp, found = bundles
    root = tmp / "root"
    vendor = ["--key", str(found["vendor.pub"])]
    customer = ["--customer-key", str(found["customer.pub"])]
    refused = release("verify", str(found["1.0.0"]), *vendor, *customer, "--root", str(root), check=False)
    assert refused.returncode == 1
    assert "needs 1 customer signatures, has 0" in refused.stderr
    signed = tmp / "countersigned-1.0.0.bundle"
    release("countersign", str(found["1.0.0"]), "--key", str(found["customer"]), "--out", str(signed))
    # The customer's key alone is not the vendor's: both parties are counted apart.
    alone = release("verify", str(signed), "--key", str(found["customer.pub"]), *customer, "--root", str(root),
                    check=False)  # fmt: skip
    assert alone.returncode == 1
    assert "a customer key is also a release key" in alone.stderr
    release("install", str(signed), *vendor, *customer, "--root", str(root))
    assert (root / "current" / "release.json").exists()
    changes = release("diff", str(found["1.1.0"]), "--root", str(root)).stdout
    assert changes.startswith("1.0.0 -> 1.1.0")
    assert "  release.json" in changes  # changed: the version inside
    assert "  wheelhouse/requirements.lock" not in changes  # same pins, same bytes


@pytest.mark.skipif(shutil.which("unshare") is None, reason="util-linux unshare")
def test_the_wheelhouse_installs_the_host_tools_in_a_fresh_venv_without_network(
    bundles: tuple[Path, dict[str, Path]],
) -> None:
    tmp, found = bundles
    unpacked = tmp / "unpacked"
    release("install", str(found["1.0.0"]), "--key", str(found["vendor.pub"]), "--root", str(unpacked))
    house = unpacked / "current" / "wheelhouse"
    suite_wheel = next(house.glob("suite-*.whl"))
    venv = tmp / "host-venv"
    script = (
        "ip link set lo up && "
        f"{sys.base_prefix}/bin/python3.11 -m venv {venv} && "
        f"{venv}/bin/pip install --quiet --no-index --find-links {house} --no-deps {suite_wheel} "
        f"-r {house}/requirements.lock"
    )
    # A clean environment: with the tests' PYTHONPATH pip would take the checkout's suite for installed.
    subprocess.run(
        ["unshare", "-n", "bash", "-c", script], check=True, timeout=900, env={"PATH": "/usr/sbin:/usr/bin:/bin"}
    )
    python = str(venv / "bin" / "python")
    # The fresh venv is on its own (no PYTHONPATH, no site-packages of the development environment) ...
    where = subprocess.run([python, "-c", "import suite; print(suite.__file__)"], capture_output=True, text=True,
                           env={"PATH": "/usr/bin:/bin"}, cwd=tmp, check=True)  # fmt: skip
    assert where.stdout.startswith(str(venv))
    # ... and checks the next release, inside the air gap, as the playbook's verify step does.
    verified = subprocess.run(
        ["unshare", "-n", python, "-m", "suite.release", "verify", str(found["1.1.0"]), "--key", str(found["vendor.pub"]),
         "--root", str(unpacked)],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, cwd=tmp, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    assert "ok: release 1.1.0" in verified.stdout
    assert json.loads((unpacked / "current" / "release.json").read_text())["version"] == "1.0.0"
