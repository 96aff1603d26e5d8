"""Identity and access settings: API keys, OIDC, the dev IdP, browser sessions, RBAC rules, quotas."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from suite.config.section import Section


class StaticApiKey(Section):
    """A service key accepted until the identity layer takes over; only its hash is kept."""

    name: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    roles: list[str] = Field(default_factory=lambda: ["employee"])


class AuthSettings(Section):
    static_api_keys: list[StaticApiKey] = Field(default_factory=list)


# Where a claim sits: a top-level claim name ("https://example.com/roles" is one when the token has
# it), else a dotted path ("realm_access.roles"); a JSON Pointer ("/https:~1~1example.com~1roles");
# or a list of keys (["https://example.com/claims", "roles"]).
ClaimPath = str | list[str]


class ClaimPaths(Section):
    """Where the Principal's parts sit in a token's claims (the first present path wins)."""

    subject: ClaimPath = "sub"
    name: list[ClaimPath] = ["name", "preferred_username", "sub"]  # noqa: RUF012
    # Keycloak: realm_access.roles; Entra ID: roles; plain IdPs: roles; Auth0: a namespaced claim.
    roles: list[ClaimPath] = ["realm_access.roles", "roles"]  # noqa: RUF012
    # Entra ID and Keycloak (with the group mapper): groups.
    groups: list[ClaimPath] = ["groups"]  # noqa: RUF012

    @field_validator("subject")
    @classmethod
    def _subject_not_empty(cls, value: ClaimPath) -> ClaimPath:
        return _nonempty_path(value)

    @field_validator("name", "roles", "groups")
    @classmethod
    def _paths_not_empty(cls, value: list[ClaimPath]) -> list[ClaimPath]:
        return [_nonempty_path(path) for path in value]


def _nonempty_path(path: ClaimPath) -> ClaimPath:
    if not path or (isinstance(path, list) and not all(path)):
        raise ValueError("a claim path (or a key in it) must not be empty")
    return path


class IntrospectionSettings(Section):
    """Token introspection (RFC 7662) for opaque access tokens: where, and how the suite authenticates."""

    # None: the discovery document's introspection_endpoint.
    endpoint: str | None = None
    # The suite's client at the IdP for introspection calls.
    client_id: str | None = None
    client_auth: Literal["client_secret_basic", "private_key_jwt"] = "client_secret_basic"
    client_secret: SecretStr | None = None
    # private_key_jwt: a PEM private key (RSA or P-256) whose public half the IdP has for the client.
    private_key_file: Path | None = None
    private_key_alg: Literal["RS256", "PS256", "ES256"] = "RS256"
    private_key_kid: str | None = None
    # An active answer is reused at most this long (and never past the token's exp); an inactive
    # one (revoked, expired, unknown) this long. Revocation takes effect within cache_ttl_s.
    cache_ttl_s: float = Field(default=60, ge=0, le=3600)
    negative_cache_ttl_s: float = Field(default=10, ge=0, le=600)
    cache_max_entries: int = Field(default=10_000, ge=1)
    # Refuse an active token whose introspection carries no aud (most IdPs send it).
    require_audience: bool = True

    @model_validator(mode="after")
    def _credentials_for_the_method(self) -> IntrospectionSettings:
        if self.client_auth == "private_key_jwt" and self.private_key_file is None:
            raise ValueError("introspection.client_auth private_key_jwt needs introspection.private_key_file")
        return self


RoleSource = Literal["id_token", "access_token", "userinfo"]
# A URI scheme, then anything but white space (RFC 3986 3.1).
_ABSOLUTE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


class BrowserLoginSettings(Section):
    """What the browser login asks the IdP for, and where a session's roles come from."""

    # RFC 8707 resource indicators (one, or a list), so the access token is issued for the suite
    # (oidc-provider, PingFederate, AD FS, Entra ID v1; Keycloak with the audience mapper needs none).
    # All of them go on the authorization request (the grant covers each); the token request names
    # the first alone, the suite's own: the access token the login reads is for it (RFC 8707 2.2;
    # many IdPs issue one audience per access token). Empty: none sent.
    resource: list[str] = Field(default_factory=list)
    # Auth0's non-standard audience parameter, sent on both requests too. None: not sent.
    audience: str | None = None
    # Scopes asked for besides "openid profile email": an API's scope ("api://suite/.default" on
    # Entra ID, a custom scope on Okta), "offline_access" is never needed.
    extra_scopes: list[str] = Field(default_factory=list)
    # Where the session's roles and groups are read (all listed sources are united; the subject and
    # name always come from the ID token). access_token: only when it is a JWT that passes the
    # issuer's bearer checks (audience included); userinfo: the IdP's userinfo endpoint, called with
    # the access token, its sub must be the ID token's.
    roles_from: list[RoleSource] = ["id_token", "access_token"]  # noqa: RUF012

    @field_validator("resource", mode="before")
    @classmethod
    def _one_or_more_resources(cls, value: object) -> object:
        if value is None:
            return []
        return [value] if isinstance(value, str) else value

    @field_validator("resource")
    @classmethod
    def _resources_are_absolute_uris(cls, value: list[str]) -> list[str]:
        for resource in value:
            # RFC 8707 2: an absolute URI without a fragment ("urn:suite:api", "https://suite.example.org").
            if not _ABSOLUTE_URI.match(resource) or "#" in resource:
                raise ValueError(f"resource: {resource!r} is no absolute URI without a fragment (RFC 8707)")
        return list(dict.fromkeys(value))

    @field_validator("extra_scopes")
    @classmethod
    def _scopes_are_words(cls, value: list[str]) -> list[str]:
        for scope in value:
            if not scope or any(char.isspace() for char in scope):
                raise ValueError(f"extra_scopes: {scope!r} is not one scope (no spaces; list each one)")
        return value

    @field_validator("roles_from")
    @classmethod
    def _some_source(cls, value: list[RoleSource]) -> list[RoleSource]:
        if not value:
            raise ValueError("roles_from: name at least one of id_token, access_token, userinfo")
        return list(dict.fromkeys(value))


class OidcSettings(Section):
    """The company IdP (or the dev IdP): how tokens are validated and users log in."""

    # The issuer URL exactly as it appears in tokens' iss; discovery is read from
    # {issuer}/.well-known/openid-configuration. None: the dev IdP's when it is enabled,
    # otherwise bearer tokens are not accepted.
    issuer: str | None = None
    # The aud every access token must carry.
    audience: str = "suite"
    # (pydantic copies mutable defaults per instance; ruff cannot see that Section is a pydantic model)
    algorithms: list[Literal["RS256", "PS256", "ES256"]] = ["RS256", "PS256", "ES256"]  # noqa: RUF012
    leeway_s: int = Field(default=30, ge=0, le=300)
    # An unknown kid triggers a JWKS refetch at once, then again for the same kid at most this often;
    # all refetches together are bounded by jwks_max_refetch_per_minute (a flood of random kids).
    jwks_min_refetch_s: float = Field(default=60, ge=0)
    jwks_max_refetch_per_minute: int = Field(default=10, ge=1, le=600)
    # The JWS typ header every access token must carry (RFC 9068: "at+jwt"; "application/" optional).
    # None: not checked (Entra ID v1/v2, AD FS and Keycloak send "JWT" or nothing).
    required_typ: str | None = None
    # The browser login's client (authorization code + PKCE).
    client_id: str = "suite-web"
    client_secret: SecretStr | None = None
    # The browser login's requests and role sources (used for identity.oidc only).
    login: BrowserLoginSettings = BrowserLoginSettings()
    claims: ClaimPaths = ClaimPaths()
    # How access tokens are checked: jwt (signature and claims, locally), introspection (asked of the
    # IdP each time, cached briefly), or both (JWT when the token parses as one, otherwise introspection).
    validation: Literal["jwt", "introspection", "both"] = "jwt"
    introspection: IntrospectionSettings = IntrospectionSettings()
    # IdP role or group name -> suite roles, e.g. {"/Compliance": ["compliance_officer"]}.
    role_mapping: dict[str, list[str]] = Field(default_factory=dict)
    # Regular expression (whole name) over IdP role and group names -> suite roles,
    # e.g. {"^CN=Suite-Admins,.*$": ["admin"]}; applied besides role_mapping.
    role_patterns: dict[str, list[str]] = Field(default_factory=dict)
    # Suite roles a token's own role claims may carry through unmapped.
    suite_roles: list[str] = Field(default_factory=lambda: ["employee", "compliance_officer", "admin"])

    @field_validator("role_patterns")
    @classmethod
    def _patterns_compile(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"role_patterns: {pattern!r} is not a regular expression: {exc}") from None
        return value


class DevIdpUser(Section):
    username: str
    password: SecretStr
    name: str
    email: str
    groups: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)


class DevIdpClient(Section):
    client_id: str
    client_secret: SecretStr | None = None  # None: a public client (PKCE only)
    # Absolute http(s) URLs, or paths ("/auth/callback"): those are on the gateway's own address and
    # port, whatever `suite up --port` chose (DevIdpSettings.on_gateway).
    redirect_uris: list[str] = Field(default_factory=list)
    post_logout_redirect_uris: list[str] = Field(default_factory=list)
    grant_types: list[Literal["authorization_code", "refresh_token", "client_credentials"]] = [  # noqa: RUF012
        "authorization_code",
        "refresh_token",
    ]
    # For client_credentials: the roles the service token carries.
    roles: list[str] = Field(default_factory=list)

    @field_validator("redirect_uris", "post_logout_redirect_uris")
    @classmethod
    def _urls_or_paths(cls, value: list[str]) -> list[str]:
        for uri in value:
            if not (uri.startswith("/") and not uri.startswith("//")) and not re.match(r"^https?://[^/]+", uri):
                raise ValueError(f"{uri!r} is neither an http(s) URL nor a path on the gateway such as /auth/callback")
        return value

    def on_gateway(self, gateway_url: str) -> DevIdpClient:
        """This client with its path-only URIs placed on ``gateway_url`` (``http://127.0.0.1:8080``)."""

        def placed(uris: list[str]) -> list[str]:
            return [gateway_url.rstrip("/") + uri if uri.startswith("/") else uri for uri in uris]

        return self.model_copy(
            update={
                "redirect_uris": placed(self.redirect_uris),
                "post_logout_redirect_uris": placed(self.post_logout_redirect_uris),
            }
        )


class DevIdpSettings(Section):
    """The development OIDC provider (`suite dev-idp`); refused in production mode."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8090, ge=1, le=65535)
    access_token_ttl_s: int = Field(default=900, gt=0)
    refresh_token_ttl_s: int = Field(default=8 * 3600, gt=0)
    users: list[DevIdpUser] = Field(default_factory=list)
    clients: list[DevIdpClient] = Field(default_factory=list)

    def on_gateway(self, gateway_url: str) -> DevIdpSettings:
        """These settings with every client's path-only URIs placed on the gateway's base URL."""
        return self.model_copy(update={"clients": [client.on_gateway(gateway_url) for client in self.clients]})


class SessionSettings(Section):
    """Browser sessions after an OIDC login (server-side; the cookie holds only a random id)."""

    cookie_name: str = "suite_session"
    # Absolute lifetime and idle timeout of a session.
    max_age_s: int = Field(default=8 * 3600, gt=0)
    idle_timeout_s: int = Field(default=3600, gt=0)
    # auto: Secure when the request came over HTTPS (X-Forwarded-Proto from the TLS proxy counts).
    secure_cookie: Literal["auto", "always", "never"] = "auto"
    # Signs the short-lived login-transaction cookie (state, nonce, PKCE verifier).
    # Required in production (at least 32 characters). None in development: a random key held in
    # memory, so a restart only cancels logins in progress (set it when several replicas serve logins).
    secret_key: SecretStr | None = None


PolicyRoute = Literal["chat", "completions", "embeddings", "retrieval", "audit", "admin", "guardrails"]


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
    # Seconds between reconciliations of the in-memory counters with the database: the most a crash
    # loses, and about how long replicas on one PostgreSQL take to see each other's counts.
    sync_interval_s: float = Field(default=1.0, gt=0, le=60)
    # Seconds between deletions of ended windows from the database (quota_counters stays bounded).
    prune_interval_s: float = Field(default=600, gt=0)


class IdentitySettings(Section):
    oidc: OidcSettings = OidcSettings()
    # Further issuers accepted for bearer tokens (e.g. service accounts from a second IdP), each with its
    # own audience, claims, mapping, algorithms and validation; the browser login uses identity.oidc only.
    extra_issuers: list[OidcSettings] = Field(default_factory=list)
    dev_idp: DevIdpSettings = DevIdpSettings()
    session: SessionSettings = SessionSettings()
    # Deny by default: a request is allowed only when a rule grants it.
    policy: list[PolicyRule] = Field(default_factory=list)
    quotas: QuotaSettings = QuotaSettings()

    @model_validator(mode="after")
    def _extra_issuers_named(self) -> IdentitySettings:
        issuers = [self.oidc.issuer] if self.oidc.issuer else []
        for extra in self.extra_issuers:
            if extra.issuer is None:
                raise ValueError("identity.extra_issuers: every entry needs its issuer")
            if extra.issuer in issuers:
                raise ValueError(f"identity.extra_issuers: the issuer {extra.issuer!r} is configured twice")
            issuers.append(extra.issuer)
        return self
