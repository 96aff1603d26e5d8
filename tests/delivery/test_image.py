"""The gateway image: built without a registry, saved as an OCI archive, loaded back from it, run with runc.

One build per test session (2.5 minutes on a quiet 2-core machine, up to 9 under load; the Debian
base is made by `make install` into var/cache/containers, since debootstrap needs the network);
saving the archive about 2 minutes, the gateway in the container ready in about a minute. The container runs as the suite user on a read-only
root filesystem with explicit writable volumes, on the host's (the tests' loopback-only) network,
and answers a chat request through the real vLLM engine the session fixture started on the host.
Needs the engine lock: flock /tmp/suite-engine.lock python -m pytest tests/delivery/test_image.py
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from suite.config import DEV_API_KEY_SHA256
from suite.serving import EngineProcess
from tests.support import DEV_KEY, MODEL, REPO, SYSTEM, free_port, ready, wait_until

BUILD = REPO / "containers" / "build.py"
TAG = "localhost/suite-gateway:test"
SUITE_UID = 10001

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (shutil.which("podman") and shutil.which("runc") and shutil.which("skopeo")),
        reason="podman, runc and skopeo are installed by `make install` (scripts/system-packages.d/delivery.txt)",
    ),
]


def podman(*args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], check=check, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The gateway image built from this checkout and saved as an OCI archive; the image itself is removed."""
    out = tmp_path_factory.mktemp("image") / "suite-gateway.oci.tar"
    subprocess.run([sys.executable, str(BUILD), "gateway", "test"], check=True, timeout=1800)
    subprocess.run([sys.executable, str(BUILD), "save", str(out), "test"], check=True, timeout=1800)
    # Out of the store, so the load below really comes from the archive.
    podman("rmi", "--force", TAG)
    yield out
    podman("rmi", "--force", TAG, check=False)


def archive_manifest(path: Path) -> tuple[str, dict[str, Any]]:
    """The manifest digest inside the OCI archive and the image config, read with skopeo."""
    raw = subprocess.run(["skopeo", "inspect", "--raw", f"oci-archive:{path}"], check=True, capture_output=True)
    config = subprocess.run(["skopeo", "inspect", "--config", f"oci-archive:{path}"], check=True, capture_output=True)
    return "sha256:" + hashlib.sha256(raw.stdout).hexdigest(), json.loads(config.stdout)


@pytest.fixture(scope="module")
def loaded(archive: Path) -> tuple[str, dict[str, Any]]:
    """podman load from the archive; the loaded image's digest and its inspect record."""
    digest, config = archive_manifest(archive)
    assert config["config"]["User"] == f"{SUITE_UID}:{SUITE_UID}"
    podman("load", "--input", str(archive))
    inspect = json.loads(podman("image", "inspect", TAG).stdout)[0]
    return digest, inspect


def test_the_loaded_image_keeps_digest_labels_user_and_volumes(loaded: tuple[str, dict[str, Any]]) -> None:
    digest, image = loaded
    assert image["Digest"] == digest
    labels = image["Labels"]
    assert labels["org.opencontainers.image.version"] == "test"
    revision = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], check=True, capture_output=True, text=True)
    assert labels["org.opencontainers.image.revision"] == revision.stdout.strip()
    assert labels["org.opencontainers.image.source"]
    assert json.loads(labels["org.suite.healthcheck"])[0] == "/opt/python/bin/python3.11"
    assert image["User"] == f"{SUITE_UID}:{SUITE_UID}"
    assert set(image["Config"]["Volumes"]) == {"/var/lib/suite", "/etc/suite"}
    # Reproducible history: every layer's created time is the fixed --timestamp.
    assert image["Created"].startswith("1970-01-01")


@pytest.fixture
def container(loaded: tuple[str, dict[str, Any]], vllm_engine: EngineProcess, tmp_path: Path) -> Iterator[str]:
    """The loaded image run by digest with runc: non-root, read-only root, two volumes, the host engine."""
    digest, image = loaded
    config, data = tmp_path / "config", tmp_path / "data"
    config.mkdir()
    data.mkdir()
    os.chown(data, SUITE_UID, SUITE_UID)
    settings = {
        "logging": {"level": "warning"},
        # The container reads only this file: the development key is configured here, as in the embedded default.
        "auth": {"static_api_keys": [{"name": "dev", "sha256": DEV_API_KEY_SHA256, "roles": ["employee"]}]},
        "identity": {
            "policy": [
                {
                    "name": "employees-use-models",
                    "roles": ["employee"],
                    "routes": ["chat", "embeddings"],
                    "models": ["*"],
                }
            ]
        },
        "serving": {"models": [{"name": MODEL, "engines": 0, "backends": [vllm_engine.backend.url]}]},
        "embeddings": {"models": [{"name": "all-minilm-l6-v2"}]},
    }
    (config / "suite.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    port = free_port()
    name = f"suite-gateway-test-{port}"
    podman(
        "run", "--detach", "--name", name, "--pull=never",
        "--runtime", "runc", "--ulimit", "nofile=1024:20000", "--ulimit", "nproc=1024:1024",
        "--read-only", "--tmpfs", "/tmp", "--cap-drop", "all", "--security-opt", "no-new-privileges",
        "--network", "host", "--env", f"SUITE_GATEWAY__PORT={port}", "--env", "SUITE_GATEWAY__HOST=127.0.0.1",
        "--health-cmd", image["Labels"]["org.suite.healthcheck"],
        "--volume", f"{config}:/etc/suite:ro", "--volume", f"{data}:/var/lib/suite",
        f"localhost/suite-gateway@{digest}",
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: ready(url), timeout=300, interval=1, what="the gateway container ready")
        except TimeoutError:
            pytest.fail(
                podman("logs", name, check=False).stdout[-4000:] + podman("logs", name, check=False).stderr[-4000:]
            )
        yield name
    finally:
        podman("rm", "--force", "--time", "5", name, check=False)


def in_container(name: str, code: str) -> subprocess.CompletedProcess[str]:
    return podman("exec", name, "/opt/python/bin/python3.11", "-c", code, check=False)


def test_the_container_answers_a_chat_as_a_non_root_user_on_a_read_only_root(container: str) -> None:
    port = next(
        env.split("=", 1)[1]
        for env in json.loads(podman("inspect", container).stdout)[0]["Config"]["Env"]
        if env.startswith("SUITE_GATEWAY__PORT=")
    )
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=DEV_KEY, max_retries=0, timeout=120)
    answer = client.chat.completions.create(
        model=MODEL,
        messages=[SYSTEM, {"role": "user", "content": "What is the capital of France?"}],  # type: ignore[list-item]
        max_tokens=24,
        temperature=0,
    )
    assert "Paris" in (answer.choices[0].message.content or "")
    # Embeddings: torch and sentence-transformers work in the pruned environment.
    vectors = client.embeddings.create(model="all-minilm-l6-v2", input=["Paris is in France."])
    assert len(vectors.data[0].embedding) == 384
    # The label's health check passes (exec form: the image has no shell).
    assert podman("healthcheck", "run", container, check=False).returncode == 0
    who = in_container(container, "import os; print(os.getuid(), os.getgid())")
    assert who.stdout.split() == [str(SUITE_UID), str(SUITE_UID)]
    readonly = in_container(container, "open('/opt/suite/x', 'w')")
    assert "Read-only file system" in readonly.stderr
    writable = in_container(container, "open('/var/lib/suite/probe', 'w').write('ok')")
    assert writable.returncode == 0, writable.stderr
    for tool in ("/bin/sh", "/usr/bin/bash", "/usr/bin/apt-get", "/usr/bin/dpkg"):
        assert in_container(container, f"import os, sys; sys.exit(os.path.exists({tool!r}))").returncode == 0, tool
