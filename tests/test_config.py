"""The settings tree: one file, environment overrides, and errors that name the key and the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import suite.config
from suite.cli import app
from suite.config import EMBEDDED_CONFIG_PATH, ConfigError, load_settings
from suite.gateway import create_app
from tests.support import REPO


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


def test_shipped_files_load() -> None:
    default = load_settings(EMBEDDED_CONFIG_PATH)
    example = load_settings(REPO / "config" / "suite.example.yaml")
    assert default.serving.models[0].aliases == ["default"]
    assert example.gateway.port == 8080


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "gateway:\n  prot: 9000\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(path) in str(caught.value)
    assert "gateway.prot: unknown key" in str(caught.value)


def test_wrong_value_names_key(tmp_path: Path) -> None:
    path = write(tmp_path, "serving:\n  models:\n    - name: m\n      engines: 0\n      backends: []\n")
    with pytest.raises(ConfigError, match=r"serving\.models\.0"):
        load_settings(path)


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "gateway:\n  port: 9000\n  host: 0.0.0.0\n")
    monkeypatch.setenv("SUITE_GATEWAY__PORT", "9100")
    settings = load_settings(path)
    assert settings.gateway.port == 9100
    assert settings.gateway.host == "0.0.0.0"  # the rest of the section stays from the file


def test_cli_overrides_merge_into_sections(tmp_path: Path) -> None:
    path = write(tmp_path, "gateway:\n  port: 9000\n  max_body_bytes: 10\n")
    settings = load_settings(path, gateway={"port": 9200})
    assert (settings.gateway.port, settings.gateway.max_body_bytes) == (9200, 10)


def test_duplicate_alias_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "serving:\n  models:\n"
        "    - {name: a, engines: 0, backends: ['http://127.0.0.1:1'], aliases: [default]}\n"
        "    - {name: b, engines: 0, backends: ['http://127.0.0.1:2'], aliases: [default]}\n",
    )
    with pytest.raises(ConfigError, match="'default' is used twice"):
        load_settings(path)


def test_production_refuses_the_dev_idp_and_the_documented_dev_key() -> None:
    with pytest.raises(ConfigError, match="development IdP cannot run in production"):
        load_settings(EMBEDDED_CONFIG_PATH, mode="production")
    with pytest.raises(ConfigError, match="documented development key"):
        load_settings(EMBEDDED_CONFIG_PATH, mode="production", identity={"dev_idp": {"enabled": False}})


def test_without_a_file_the_embedded_default_is_read_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "suite.yaml").write_text("gateway: {port: 9999}\n")  # a stray file is not read
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings == load_settings(EMBEDDED_CONFIG_PATH)
    assert [model.name for model in settings.serving.models] == ["smollm2-135m-instruct"]
    assert settings.identity.dev_idp.enabled
    assert settings.gateway.port == 8080
    # The embedded default is package data: it lies inside the package, not in the checkout's config/.
    assert EMBEDDED_CONFIG_PATH.parent == Path(suite.config.__file__).parent


def test_dev_idp_paths_follow_the_gateway_address_and_port() -> None:
    settings = load_settings(gateway={"port": 18080})
    clients = {client.client_id: client for client in settings.dev_idp_on_gateway.clients}
    assert clients["suite-web"].redirect_uris == ["http://127.0.0.1:18080/auth/callback"]
    assert clients["suite-web"].post_logout_redirect_uris == ["http://127.0.0.1:18080/"]
    assert clients["suite-cli"].redirect_uris == ["http://127.0.0.1:8400/callback"]  # absolute: kept
    assert settings.oidc_issuer == "http://127.0.0.1:18080/idp"


@pytest.mark.parametrize("uri", ["auth/callback", "//evil.example/cb", "ftp://host/cb", "javascript:alert(1)"])
def test_a_redirect_uri_is_a_url_or_a_path_on_the_gateway(uri: str) -> None:
    with pytest.raises(ConfigError, match="neither an http\\(s\\) URL nor a path on the gateway"):
        load_settings(identity={"dev_idp": {"clients": [{"client_id": "c", "redirect_uris": [uri]}]}})


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_settings(tmp_path / "absent.yaml")


def test_invalid_yaml_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(write(tmp_path, "gateway: [unclosed\n"))


PRODUCTION_KEY = "k" * 40


def production(**overrides: object) -> dict[str, object]:
    identity = {"dev_idp": {"enabled": False}, "session": {"secret_key": PRODUCTION_KEY}}
    return {"mode": "production", "auth": {"static_api_keys": []}, "identity": identity, **overrides}


def test_production_requires_a_long_session_key() -> None:
    settings = load_settings(EMBEDDED_CONFIG_PATH, **production())
    assert settings.identity.session.secret_key is not None
    missing = production(identity={"dev_idp": {"enabled": False}})
    with pytest.raises(ConfigError, match=r"identity.session.secret_key: production needs at least 32"):
        load_settings(EMBEDDED_CONFIG_PATH, **missing)
    short = production(identity={"dev_idp": {"enabled": False}, "session": {"secret_key": "short"}})
    with pytest.raises(ConfigError, match=r"identity.session.secret_key"):
        load_settings(EMBEDDED_CONFIG_PATH, **short)


SECRETS = {
    "oidc": "oidc-client-secret-value",
    "idp_user": "dev-user-password-value",
    "idp_client": "dev-client-secret-value",
    "session": "session-key-value-" + "x" * 20,
    "qdrant": "qdrant-api-key-value",
    "db": "db-password-value",
}


def secret_settings(tmp_path: Path) -> Path:
    s = SECRETS
    return write(
        tmp_path,
        f"""
database: {{url: "postgresql+psycopg://suite:{s["db"]}@db.internal:5432/suite"}}
rag: {{qdrant_url: "http://qdrant.internal:6333", qdrant_api_key: {s["qdrant"]}}}
identity:
  oidc: {{client_secret: {s["oidc"]}}}
  session: {{secret_key: {s["session"]}}}
  dev_idp:
    users: [{{username: u, password: {s["idp_user"]}, name: U, email: u@example.com}}]
    clients: [{{client_id: c, client_secret: {s["idp_client"]}}}]
""",
    )


def test_redacted_settings_hide_every_secret(tmp_path: Path) -> None:
    settings = load_settings(secret_settings(tmp_path))
    shown = json.dumps(settings.redacted())

    for value in SECRETS.values():
        assert value not in shown
        assert value not in repr(settings)
    assert settings.redacted()["database"]["url"] == "postgresql+psycopg://suite:***@db.internal:5432/suite"
    # The values themselves are still there for the code that needs them.
    assert SECRETS["db"] in settings.database_url
    assert settings.identity.dev_idp.users[0].password.get_secret_value() == SECRETS["idp_user"]


def test_config_check_prints_no_secret(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["config", "check", "--config", str(secret_settings(tmp_path))])

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["identity"]["oidc"]["client_secret"] == "**********"
    for value in SECRETS.values():
        assert value not in result.output


def test_creating_the_app_writes_no_key_file(tmp_path: Path) -> None:
    settings = load_settings(EMBEDDED_CONFIG_PATH, data_dir=str(tmp_path), serving={"models": []})
    create_app(settings)
    assert not (tmp_path / "secrets").exists()
