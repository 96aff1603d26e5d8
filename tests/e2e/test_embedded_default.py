"""The embedded default as a new user meets it: `suite up` from a directory outside the checkout, on a
port of its own, a browser login through its dev IdP, and `suite token` for that gateway; the wheel
carries the configuration.

`suite up` runs the real gateway process with the shipped configuration; only its model is pointed
at a closed port (SUITE_SERVING__MODELS), and embeddings and guardrails are off, so no engine or
model load is needed for what is checked here: which configuration was read, and the identity parts.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from suite.config import EMBEDDED_CONFIG_PATH
from tests.auth.dev_idp.flow import form_action
from tests.support import DEV_KEY, MODEL, REPO, free_port, wait_until

SUITE = str(Path(sys.executable).with_name("suite"))


def suite_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: the checkout's code, no SUITE_ settings but those given."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("SUITE_")}
    return env | {"PYTHONPATH": str(REPO)} | extra


@dataclass(frozen=True)
class Running:
    url: str
    data_dir: Path
    log: Path


@pytest.fixture(scope="module")
def suite_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """`suite up --port P --data-dir D` started in an empty directory, with no --config."""
    tmp = tmp_path_factory.mktemp("embedded")
    cwd, data_dir, log = tmp / "elsewhere", tmp / "data", tmp / "suite-up.log"
    cwd.mkdir()
    assert not str(cwd).startswith(str(REPO))
    port = free_port()
    closed = f"http://127.0.0.1:{free_port()}"
    env = suite_env(
        SUITE_SERVING__MODELS=json.dumps([{"name": MODEL, "aliases": ["default"], "engines": 0, "backends": [closed]}]),
        SUITE_EMBEDDINGS__MODELS="[]",
        SUITE_GUARDRAILS__ENABLED="false",
        SUITE_LOGGING__FORMAT="json",
    )
    command = [SUITE, "up", "--port", str(port), "--data-dir", str(data_dir)]
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{url}/healthz") or process.poll() is not None, timeout=180, what="gateway up")
        assert process.poll() is None, log.read_text()
        yield Running(url=url, data_dir=data_dir, log=log)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def token(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SUITE, "token", *args], cwd=cwd, env=suite_env(**env), capture_output=True, text=True, timeout=120, check=False
    )


def models_with(url: str, credential: str) -> httpx.Response:
    return httpx.get(f"{url}/v1/models", headers={"authorization": f"Bearer {credential}"}, timeout=10)


def test_suite_up_anywhere_reads_the_embedded_default(suite_up: Running) -> None:
    # The dev IdP, the development key and the policy exist only in the embedded configuration.
    discovery = httpx.get(f"{suite_up.url}/idp/.well-known/openid-configuration", timeout=10)
    assert discovery.status_code == 200
    assert discovery.json()["issuer"] == f"{suite_up.url}/idp"  # the port given, not 8080
    listed = models_with(suite_up.url, DEV_KEY)
    assert listed.status_code == 200, listed.text
    assert {"default", MODEL} <= {model["id"] for model in listed.json()["data"]}
    assert (suite_up.data_dir / "suite.db").exists()  # --data-dir, not ./var of the directory
    assert "NO MODELS CONFIGURED" not in suite_up.log.read_text()


def test_browser_login_works_on_the_port_suite_up_was_given(suite_up: Running) -> None:
    with httpx.Client(follow_redirects=False, timeout=15, trust_env=False) as browser:
        login = browser.get(f"{suite_up.url}/auth/login", params={"next": "/"})
        assert login.status_code == 302, login.text
        page = browser.get(login.headers["location"])
        # The embedded client's redirect URI is a path: the dev IdP accepts this port's callback.
        assert page.status_code == 200, page.text
        back = browser.post(form_action(page.text), data={"username": "alice", "password": "alice"})
        assert back.status_code == 302, back.text
        assert back.headers["location"].startswith(f"{suite_up.url}/auth/callback?")
        signed_in = browser.get(back.headers["location"])
        assert signed_in.status_code in (302, 303), signed_in.text
        me = browser.get(f"{suite_up.url}/auth/me")
    assert me.status_code == 200, me.text
    assert (me.json()["subject"], me.json()["roles"]) == ("alice", ["employee"])


def test_suite_token_for_that_gateway(suite_up: Running, tmp_path: Path) -> None:
    # Asked over HTTP of the running gateway's dev IdP: fits its data directory and port.
    asked = token("alice", "--gateway", suite_up.url, cwd=tmp_path)
    assert asked.returncode == 0, asked.stderr
    assert models_with(suite_up.url, asked.stdout.strip()).status_code == 200
    # Signed here with the gateway's keys (--data-dir), for its port (from the settings).
    port = suite_up.url.rsplit(":", 1)[1]
    signed = token("alice", "--data-dir", str(suite_up.data_dir), cwd=tmp_path, SUITE_GATEWAY__PORT=port)
    assert signed.returncode == 0, signed.stderr
    assert models_with(suite_up.url, signed.stdout.strip()).status_code == 200
    # Without either, the keys of ./var here are not the gateway's: the refusal says so.
    stray = token("alice", cwd=tmp_path, SUITE_GATEWAY__PORT=port)
    refused = models_with(suite_up.url, stray.stdout.strip())
    assert refused.status_code == 401
    assert "Unknown signing key" in refused.json()["error"]["message"]
    # A gateway that is not there is named, with no stack trace.
    nobody = token("alice", "--gateway", f"http://127.0.0.1:{free_port()}", cwd=tmp_path)
    assert nobody.returncode == 1
    assert "Cannot reach the dev IdP" in nobody.stderr
    assert "Traceback" not in nobody.stderr


def test_the_wheel_carries_the_embedded_configuration(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(REPO / "suite", source / "suite", ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
    shutil.copy2(REPO / "pyproject.toml", source)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("suite-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("suite/config/embedded.yaml") == EMBEDDED_CONFIG_PATH.read_bytes()
        archive.extractall(tmp_path / "site")
    # Installed from the wheel alone, started in an empty directory: the demo's settings.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = suite_env(PYTHONPATH=str(tmp_path / "site"))
    check = subprocess.run(
        [sys.executable, "-c", "import suite, suite.cli; print(suite.__file__); suite.cli.run()", "config", "check"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
    where, _, shown = check.stdout.partition("\n")
    assert where.startswith(str(tmp_path / "site"))
    settings = json.loads(shown)
    assert [model["name"] for model in settings["serving"]["models"]] == [MODEL]
    assert settings["identity"]["dev_idp"]["enabled"] is True
