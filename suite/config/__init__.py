"""The suite's one settings tree.

Loaded once, by the CLI or the app factory, from a YAML file (``--config``; without one the
embedded default that ships in the package, ``suite/config/embedded.yaml``, whatever the working
directory) with ``SUITE_...`` environment overrides (``SUITE_GATEWAY__PORT=9000``).
Every model forbids unknown keys, so a typo stops start-up with a message that
names the key and the file instead of being silently ignored.

The tree's top is here; each capability's sections live in their own module
(``identity``, ``serving``, ``rag``, ``audit``, ``guardrails``, ``bastion``) and are
re-exported, so ``from suite.config import X`` works for every section.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from suite.config.audit import (
    AuditSettings,
    ContentPolicy,
    SiemDestination,
    SiemKind,
    SiemSettings,
    SyslogFacility,
    WitnessOrigin,
    WitnessSettings,
)
from suite.config.bastion import BastionSettings
from suite.config.guardrails import (
    GuardCheck,
    GuardMode,
    GuardOverride,
    GuardrailSettings,
    GuardStage,
    InjectionSettings,
    LlamaGuardSettings,
    OutputSchemaSettings,
    PiiSettings,
)
from suite.config.identity import (
    AuthSettings,
    BrowserLoginSettings,
    ClaimPath,
    ClaimPaths,
    DevIdpClient,
    DevIdpSettings,
    DevIdpUser,
    IdentitySettings,
    IntrospectionSettings,
    OidcSettings,
    PolicyRoute,
    PolicyRule,
    QuotaLimits,
    QuotaSettings,
    RoleSource,
    SessionSettings,
    StaticApiKey,
)
from suite.config.rag import RagCollectionSettings, RagSettings, RerankSettings
from suite.config.section import Section, require_unique
from suite.config.serving import EmbeddingModel, EmbeddingSettings, EngineModel, ServingSettings
from suite.config.web import WebSettings

# The embedded default (`suite up` with no --config): package data, so it is there in a wheel too.
EMBEDDED_CONFIG_PATH = Path(__file__).with_name("embedded.yaml")

# The key the embedded default documents in the README; refused in production.
DEV_API_KEY = "sk-suite-dev-embedded-default"
DEV_API_KEY_SHA256 = hashlib.sha256(DEV_API_KEY.encode()).hexdigest()
# The shortest secret (session key) production accepts.
MIN_PRODUCTION_SECRET_CHARS = 32


class ConfigError(Exception):
    """The configuration file or environment is invalid; the message says where and why."""


class LoggingSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    # "auto": readable on a terminal, JSON otherwise (journald, container logs).
    format: Literal["auto", "json", "console"] = "auto"


class GatewaySettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)


class DatabaseSettings(Section):
    # SQLAlchemy URL. None: SQLite at data_dir/suite.db (WAL). Production:
    # postgresql+psycopg://suite:PASSWORD@db.internal/suite (a secret: it may carry the password)
    url: SecretStr | None = None
    echo: bool = False


class Settings(BaseSettings):
    """The whole configuration of one suite installation."""

    model_config = SettingsConfigDict(env_prefix="SUITE_", env_nested_delimiter="__", extra="forbid", frozen=True)

    mode: Literal["development", "production"] = "development"
    data_dir: Path = Path("var")
    logging: LoggingSettings = LoggingSettings()
    gateway: GatewaySettings = GatewaySettings()
    auth: AuthSettings = AuthSettings()
    database: DatabaseSettings = DatabaseSettings()
    identity: IdentitySettings = IdentitySettings()
    audit: AuditSettings = AuditSettings()
    serving: ServingSettings = ServingSettings()
    embeddings: EmbeddingSettings = EmbeddingSettings()
    rag: RagSettings = RagSettings()
    bastion: BastionSettings = BastionSettings()
    guardrails: GuardrailSettings = GuardrailSettings()
    web: WebSettings = WebSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file arrives as init kwargs; the environment overrides it.
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _unique_model_names(self) -> Settings:
        names = [n for m in self.serving.models for n in (m.name, *m.aliases)]
        names += [n for m in self.embeddings.models for n in (m.name, *m.aliases)]
        require_unique(names, "serving.models / embeddings.models")
        ports = [m.base_port + i for m in self.serving.models for i in range(m.engines * m.slots)]
        if len(ports) != len(set(ports)):
            raise ValueError("serving.models: engine ports overlap; space the base_port values apart")
        return self

    @model_validator(mode="after")
    def _no_placeholder_secrets_in_production(self) -> Settings:
        if self.mode == "production" and self.identity.dev_idp.enabled:
            raise ValueError("identity.dev_idp.enabled: the development IdP cannot run in production mode")
        if self.mode == "production":
            for key in self.auth.static_api_keys:
                if key.sha256 == DEV_API_KEY_SHA256:
                    raise ValueError(
                        f"auth.static_api_keys[{key.name}] is the documented development key; "
                        "create a real key for production"
                    )
            session_key = self.identity.session.secret_key
            if session_key is None or len(session_key.get_secret_value()) < MIN_PRODUCTION_SECRET_CHARS:
                raise ValueError(
                    f"identity.session.secret_key: production needs at least {MIN_PRODUCTION_SECRET_CHARS} "
                    "random characters (it signs the login cookie of every replica)"
                )
        return self

    @property
    def gateway_url(self) -> str:
        """The gateway's own base URL, from its address and port (``http://127.0.0.1:8080``)."""
        return f"http://{self.gateway.host}:{self.gateway.port}"

    @property
    def oidc_issuer(self) -> str | None:
        """The issuer tokens must come from: the configured IdP, or the dev IdP the gateway mounts at /idp."""
        if self.identity.oidc.issuer:
            return self.identity.oidc.issuer
        if self.identity.dev_idp.enabled:
            return f"{self.gateway_url}/idp"
        return None

    @property
    def dev_idp_on_gateway(self) -> DevIdpSettings:
        """The dev IdP's settings with its clients' path-only URIs placed on the gateway's address and port."""
        return self.identity.dev_idp.on_gateway(self.gateway_url)

    @property
    def database_url(self) -> str:
        """The configured database URL, or SQLite in the data directory."""
        if self.database.url is not None:
            return self.database.url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'suite.db').resolve()}"

    def redacted(self) -> dict[str, Any]:
        """The effective settings as JSON-ready data with every secret masked (for `suite config check`).

        SecretStr fields read ``**********``; the database URL keeps its shape, its password masked.
        """
        data = self.model_dump(mode="json")
        data["database"]["url"] = redact_url(self.database_url) if self.database.url is not None else None
        return data

    def resolve(self, path: Path) -> Path:
        """A configured path, relative paths taken from data_dir."""
        return path if path.is_absolute() else self.data_dir / path


def redact_url(url: str) -> str:
    """A URL with the password (if any) replaced by ``***``, for logs and output."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read settings from a YAML file (None: the embedded default, ``EMBEDDED_CONFIG_PATH``) plus environment.

    Which file is read never depends on the working directory. Raises ConfigError naming the
    file and the offending key.
    """
    config_path = path or EMBEDDED_CONFIG_PATH
    if not config_path.is_file():
        if path is None:  # a broken installation, not a user's mistake
            raise ConfigError(f"{config_path}: the embedded configuration is missing from this installation")
        raise ConfigError(f"{config_path}: no such configuration file")
    try:
        loaded = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{config_path}: not valid YAML: {exc}") from exc
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"{config_path}: the top level must be a mapping of keys")
    data = _merge(loaded or {}, overrides)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, config_path)) from None


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(exc: ValidationError, config_path: Path) -> str:
    lines = [f"{config_path}: invalid configuration"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        if error["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key")
        else:
            lines.append(f"  {key}: {error['msg']}")
    return "\n".join(lines)


__all__ = [
    "DEV_API_KEY",
    "DEV_API_KEY_SHA256",
    "EMBEDDED_CONFIG_PATH",
    "MIN_PRODUCTION_SECRET_CHARS",
    "AuditSettings",
    "AuthSettings",
    "BastionSettings",
    "BrowserLoginSettings",
    "ClaimPath",
    "ClaimPaths",
    "ConfigError",
    "ContentPolicy",
    "DatabaseSettings",
    "DevIdpClient",
    "DevIdpSettings",
    "DevIdpUser",
    "EmbeddingModel",
    "EmbeddingSettings",
    "EngineModel",
    "GatewaySettings",
    "GuardCheck",
    "GuardMode",
    "GuardOverride",
    "GuardStage",
    "GuardrailSettings",
    "IdentitySettings",
    "InjectionSettings",
    "IntrospectionSettings",
    "LlamaGuardSettings",
    "LoggingSettings",
    "OidcSettings",
    "OutputSchemaSettings",
    "PiiSettings",
    "PolicyRoute",
    "PolicyRule",
    "QuotaLimits",
    "QuotaSettings",
    "RagCollectionSettings",
    "RagSettings",
    "RerankSettings",
    "RoleSource",
    "Section",
    "ServingSettings",
    "SessionSettings",
    "Settings",
    "SiemDestination",
    "SiemKind",
    "SiemSettings",
    "StaticApiKey",
    "SyslogFacility",
    "WebSettings",
    "WitnessOrigin",
    "WitnessSettings",
    "load_settings",
    "redact_url",
]
