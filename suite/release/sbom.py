"""CycloneDX SBOMs of an image: its Python environment (cyclonedx-bom) and its Debian packages.

The Python SBOM is made by ``cyclonedx-py environment`` run against the interpreter staged for the
image (containers/build.py relocates it with the pruned site-packages), so it lists what the image
holds, not the development environment it was taken from. The OS SBOM is built with
cyclonedx-python-lib's own model from the package list containers/build.py records from the base
rootfs's dpkg status before apt, dpkg and the shells are stripped (those packages carry a
``suite:files-removed`` property: their metadata stays, their programs are gone).
Both tools are development dependencies: SBOMs are made where the release is built, never on the
hosts, so ``suite.release`` does not import this module.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from suite.errors import BundleRefused


def python_sbom(context: Path, out: Path, *, name: str, version: str) -> Path:
    """SBOM of the Python environment staged in an image's build context (``context/python``)."""
    python = context / "python" / "bin" / "python3.11"
    tool = shutil.which("cyclonedx-py") or str(Path(sys.executable).with_name("cyclonedx-py"))
    env = {
        **os.environ,
        "LD_LIBRARY_PATH": str(context / "python" / "lib"),
        "SOURCE_DATE_EPOCH": "0",
        "PYTHONNOUSERSITE": "1",
    }
    env.pop("PYTHONPATH", None)
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [tool, "environment", "--output-reproducible", "--sv", "1.6", "--of", "JSON", "-o", str(out), str(python)],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    # The image's own component, so the document says what it describes.
    document = json.loads(out.read_text(encoding="utf-8"))
    document.setdefault("metadata", {})["component"] = {
        "type": "container",
        "bom-ref": f"{name}@{version}",
        "name": name,
        "version": version,
    }
    out.write_text(json.dumps(document, indent=1, sort_keys=True), encoding="utf-8")
    return out


def os_sbom(packages_json: Path, out: Path, *, name: str, version: str, distro: str = "debian-12") -> Path:
    """SBOM of the Debian packages recorded from the image's base rootfs (one component per package)."""
    packages: list[dict[str, Any]] = json.loads(packages_json.read_text(encoding="utf-8"))
    bom = Bom()
    root = Component(name=name, version=version, type=ComponentType.CONTAINER, bom_ref=name)
    bom.metadata.component = root
    for package in packages:
        purl = PackageURL(
            type="deb",
            namespace="debian",
            name=package["Package"],
            version=package["Version"],
            qualifiers={"arch": package["Architecture"], "distro": distro},
        )
        properties = [Property(name="suite:files-removed", value="true")] if package.get("Stripped") else []
        bom.components.add(
            Component(
                name=package["Package"],
                version=package["Version"],
                type=ComponentType.LIBRARY,
                purl=purl,
                bom_ref=purl.to_string(),
                properties=properties,
            )
        )
    # Every package is installed in the image; dpkg's own dependency graph is not recorded.
    bom.register_dependency(root, bom.components)
    text = JsonV1Dot6(bom).output_as_string(indent=1)
    check_sbom(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out


def check_sbom(text: str) -> None:
    """Validate a CycloneDX 1.6 JSON document against the schema; BundleRefused naming the fault."""
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise BundleRefused(f"the SBOM is not valid CycloneDX 1.6: {error}")


def components(path: Path) -> dict[str, str]:
    """Name to version of every component an SBOM file lists."""
    document = json.loads(path.read_text(encoding="utf-8"))
    return {item["name"]: item.get("version", "") for item in document.get("components", [])}
