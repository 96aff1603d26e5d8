"""Browser login for the web chat and the consoles: OpenID Connect, then a server-side session.

The authorization code flow with PKCE (S256), ``state`` and ``nonce`` is authlib's Starlette
client, registered from the issuer's discovery document. At the callback authlib checks the
state, redeems the code and validates the ID token (signature, ``iss``, ``aud`` = our client
id, ``exp``, nonce). Roles and groups are read from the sources ``identity.oidc.login.roles_from``
names: the ID token, the access token (validated like any bearer token, ``OidcVerifier``) and the
userinfo endpoint; which source gave what goes into the login's audit record. The authorization
request carries every configured ``resource`` (RFC 8707), the token request the first of them (the
suite's own), both the ``audience`` and the extra scopes when configured, so an IdP that needs them
issues the access token for the suite. The user then gets a session
cookie (``suite.auth.browser``) and the API keeps using bearer tokens and API keys.

    GET  /auth/login?next=/path   to the IdP; back to next (a local path) afterwards
    GET  /auth/callback           the IdP's redirect: session created, cookie set
    POST /auth/logout             CSRF-protected; session deleted, then the IdP's end-session endpoint
    GET  /auth/me                 who is signed in, and the session's CSRF token
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from typing import TYPE_CHECKING, Annotated, Any, Literal

import httpx
import structlog
from authlib.integrations.base_client import (  # type: ignore[import-untyped, unused-ignore]
    MismatchingStateError,
    OAuthError,
)
from authlib.integrations.starlette_client import OAuth  # type: ignore[import-untyped, unused-ignore]
from fastapi import APIRouter, FastAPI, Query, Request
from joserfc.errors import JoseError
from pydantic import BaseModel, Field
from starlette.responses import RedirectResponse, Response

from suite.audit import AuditEvent, principal_fields
from suite.auth.browser import (
    BrowserLogin,
    LoginTransactionMiddleware,
    WebSessionDep,
    browser_login,
    check_csrf,
    clear_session_cookie,
    external_url,
    failure_response,
    login_secret_key,
    lookup_session,
    safe_next,
    session_cookie,
    set_session_cookie,
)
from suite.auth.claims import principal_from_claims
from suite.auth.oidc import OidcVerifier
from suite.auth.principal import AuthMethod, Principal
from suite.auth.sessions import WebSession, WebSessionStore
from suite.config import OidcSettings, RoleSource, Settings
from suite.db import Database
from suite.errors import AuditUnavailable, AuthenticationFailed, InvalidRequest, SuiteError, UpstreamError

if TYPE_CHECKING:
    from suite.audit import AuditTrail

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/auth", tags=["browser login"])

_SCOPE = "openid profile email"
_NEXT = "suite_next"  # where to go after the login, kept in the login-transaction cookie
_NO_IDP = "Browser sign-in is not available: set identity.oidc.issuer or enable identity.dev_idp."
_UNREACHABLE = "The identity provider could not be reached: try again later."
_STATE_MISMATCH = "This sign-in was not started in this browser or took too long (state mismatch): sign in again."
_NONCE_MISMATCH = "The ID token does not belong to this sign-in (nonce mismatch): sign in again."
# Without these the login cannot go on; authlib would raise a bare RuntimeError later.
_REQUIRED_METADATA = ("authorization_endpoint", "token_endpoint", "jwks_uri")


class IdpAnswerUnusable(Exception):
    """The IdP answered, but not as OpenID Connect says (a discovery document naming another issuer, ...)."""


def _http_errors(name: str) -> tuple[type[Exception], ...]:
    # authlib's HTTP client is built on httpx2 where it is installed (it is, via openai), else on httpx.
    try:
        import httpx2
    except ImportError:  # pragma: no cover
        return (getattr(httpx, name),)
    return (getattr(httpx, name), getattr(httpx2, name))


# Network trouble only (connect, timeout, broken connection): the IdP is unreachable.
_TRANSPORT_ERRORS = _http_errors("TransportError")
# The IdP answered with an error status (authlib calls raise_for_status).
_STATUS_ERRORS = _http_errors("HTTPStatusError")
# What an unreachable or misbehaving IdP raises through authlib. Anything else (a RuntimeError of a
# misconfigured client, a bug) is no IdP failure and is not turned into one: it is a 500 with a request id.
_IDP_FAILURES: tuple[type[Exception], ...] = (
    *_TRANSPORT_ERRORS,
    *_STATUS_ERRORS,
    json.JSONDecodeError,
    IdpAnswerUnusable,
)


def idp_failure_message(exc: Exception) -> str:
    """What went wrong with the IdP, for the user (no secrets: a status, a path, a named fault)."""
    if isinstance(exc, _TRANSPORT_ERRORS):
        return _UNREACHABLE
    if isinstance(exc, _STATUS_ERRORS):
        status = exc.response.status_code  # type: ignore[attr-defined]
        path = exc.request.url.path  # type: ignore[attr-defined]
        return f"The identity provider answered HTTP {status} for {path}: try again later."
    if isinstance(exc, json.JSONDecodeError):
        return "The identity provider's answer is not JSON: check identity.oidc.issuer."
    return f"The identity provider is misconfigured: {exc}."


async def _discover(state: BrowserLogin) -> dict[str, Any]:
    """The IdP's discovery document, checked: an object, naming our issuer and the endpoints a login needs."""
    try:
        metadata: dict[str, Any] = await state.oauth.load_server_metadata()
    except TypeError:
        # authlib stores the parsed answer as a dict; a JSON list or string fails there.
        raise IdpAnswerUnusable("its discovery document is not a JSON object") from None
    if metadata.get("issuer") != state.issuer:
        raise IdpAnswerUnusable(f"its discovery document names the issuer {str(metadata.get('issuer'))[:200]!r}")
    missing = [name for name in _REQUIRED_METADATA if not metadata.get(name)]
    if missing:
        raise IdpAnswerUnusable(f"its discovery document has no {', '.join(missing)}")
    return metadata


def _unusable(state: BrowserLogin, exc: Exception) -> UpstreamError:
    message = idp_failure_message(exc)
    log.warning("identity provider unusable", issuer=state.issuer, error=message, cause=type(exc).__name__)
    return UpstreamError(message)


class SessionInfo(BaseModel):
    """The signed-in user, as web pages show it."""

    subject: str
    name: str
    roles: list[str]
    groups: list[str]
    auth_method: AuthMethod
    csrf_token: str = Field(description="Send back as form field csrf_token or header X-CSRF-Token on state changes.")


@router.get("/login", summary="Sign in through the identity provider", response_class=RedirectResponse)
async def login(request: Request, next_path: Annotated[str | None, Query(alias="next")] = None) -> Response:
    """Send the browser to the IdP; after signing in it returns to ``next`` (a local path, else /)."""
    state = browser_login(request)
    target = safe_next(next_path)
    if await lookup_session(request) is not None:
        return RedirectResponse(target, status_code=303)
    if state.oauth is None:
        return failure_response(request, AuthenticationFailed(_NO_IDP))
    try:
        await _discover(state)
        response: Response = await state.oauth.authorize_redirect(request, external_url(request, "/auth/callback"))
    except _IDP_FAILURES as exc:
        return failure_response(request, _unusable(state, exc))
    request.session[_NEXT] = target
    return response


@router.get("/callback", include_in_schema=False)
async def callback(request: Request) -> Response:
    """The IdP's redirect after the login: on success a new session, its cookie, and on to ``next``."""
    state = browser_login(request)
    target = safe_next(request.session.get(_NEXT))
    try:
        principal, id_token, roles_from = await _complete_login(state, request)
    except SuiteError as error:
        await _audit(request, "login", None, status="denied", details={"reason": error.message})
        return failure_response(request, error)
    finally:
        request.session.clear()  # the login transaction is over either way
    previous = session_cookie(request)
    if previous:
        # A login never continues an older session (session fixation).
        await state.sessions.delete(previous)
    cookie, session = await state.sessions.create(principal, id_token=id_token)
    log.info("browser login", subject=principal.subject, session=session.session_id[:12])
    details = {"session": session.session_id[:12], "roles_from": roles_from}
    await _audit(request, "login", principal, status="ok", details=details)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, state.settings, cookie)
    return response


@router.post("/logout", summary="Sign out", response_class=RedirectResponse)
async def logout(request: Request) -> Response:
    """End the session (the form must carry its ``csrf_token``), then sign out at the IdP, which returns to /."""
    state = browser_login(request)
    session = await lookup_session(request)
    target = "/"
    cookie = session_cookie(request)
    if session is not None and cookie is not None:
        await check_csrf(request, session)
        await state.sessions.delete(cookie)
        log.info("browser logout", subject=session.principal.subject, session=session.session_id[:12])
        await _audit(request, "logout", session.principal, status="ok", details={"session": session.session_id[:12]})
        target = await _end_session_url(state, request, session) or "/"
    response = RedirectResponse(target, status_code=303)
    clear_session_cookie(response, request, state.settings)
    return response


async def _audit(
    request: Request,
    action: str,
    principal: Principal | None,
    *,
    status: Literal["ok", "denied"],
    details: dict[str, Any],
) -> None:
    # Logins and logouts are on the audit trail; the login stands even if the trail is down (it is logged there).
    event = AuditEvent(
        event_class="auth",
        action=action,
        request_id=getattr(request.state, "request_id", None),
        client_address=request.client.host if request.client else None,
        route=request.url.path,
        status=status,
        details=details,
        **principal_fields(principal),
    )
    try:
        await browser_login(request).audit.record(event)
    except AuditUnavailable:
        log.error("login event not recorded: audit trail unavailable", action=action)


@router.get("/me", summary="The signed-in user")
async def me(session: WebSessionDep, response: Response) -> SessionInfo:
    """Who is signed in (401 otherwise), with the CSRF token pages embed in their forms."""
    response.headers["cache-control"] = "no-store"
    principal = session.principal
    return SessionInfo(
        subject=principal.subject,
        name=principal.name,
        roles=sorted(principal.roles),
        groups=sorted(principal.groups),
        auth_method=principal.auth_method,
        csrf_token=session.csrf_token,
    )


async def _complete_login(state: BrowserLogin, request: Request) -> tuple[Principal, str, dict[str, Any]]:
    """State, code and ID token checked (authlib); the principal, the ID token and where its roles came from.

    A SuiteError says why a login fails.
    """
    if state.oauth is None:
        raise AuthenticationFailed(_NO_IDP)
    error = request.query_params.get("error")
    if error:
        description = request.query_params.get("error_description")
        detail = f"{error}: {description}" if description else error
        raise AuthenticationFailed(f"The identity provider refused the sign-in ({detail[:200]}).")
    oidc = state.settings.identity.oidc
    # authlib checks the nonce and at_hash itself, but not that the ID token is meant for us (aud).
    options = {"iss": {"essential": True, "value": state.issuer}, "aud": {"essential": True, "value": oidc.client_id}}
    try:
        token = await state.oauth.authorize_access_token(request, claims_options=options, leeway=oidc.leeway_s)
    except MismatchingStateError:
        raise InvalidRequest(_STATE_MISMATCH) from None
    except OAuthError as exc:
        raise AuthenticationFailed(f"The identity provider did not accept the sign-in ({exc.error}).") from None
    except JoseError as exc:
        if "'nonce'" in str(exc.description):
            raise AuthenticationFailed(_NONCE_MISMATCH) from None
        raise AuthenticationFailed(f"The identity provider's ID token is invalid ({exc}).") from None
    except _IDP_FAILURES as exc:
        raise _unusable(state, exc) from None
    claims, id_token = token.get("userinfo"), token.get("id_token")
    if not isinstance(claims, dict) or not isinstance(id_token, str):
        raise AuthenticationFailed("The identity provider sent no ID token: the client needs the 'openid' scope.")
    principal, roles_from = await _principal(state, claims, token)
    return principal, id_token, roles_from


async def _principal(
    state: BrowserLogin, id_claims: dict[str, Any], token: dict[str, Any]
) -> tuple[Principal, dict[str, Any]]:
    """The principal of the ID token, its roles and groups from the sources ``login.roles_from`` names.

    Also returns, per source, the suite roles it gave, or why it was not used ("skipped"), for
    the login's audit record. A source that cannot be used does not fail the login: it then
    counts for nothing, so the user may end up with fewer roles, never with unverified ones.
    """
    oidc = state.settings.identity.oidc
    identity = principal_from_claims(id_claims, oidc, auth_method="session")
    roles: set[str] = set()
    groups: set[str] = set()
    used: dict[str, Any] = {}
    for source in oidc.login.roles_from:
        try:
            found = await _roles_source(state, source, identity, id_claims, token)
        except AuthenticationFailed as exc:
            # Unverified claims never count; the login goes on with what the other sources say.
            log.warning("login role source not used", subject=identity.subject, source=source, reason=exc.message)
            used[source] = {"skipped": exc.message}
            continue
        roles |= found.roles
        groups |= found.groups
        used[source] = sorted(found.roles)
    return dataclasses.replace(identity, roles=frozenset(roles), groups=frozenset(groups)), used


async def _roles_source(
    state: BrowserLogin, source: RoleSource, identity: Principal, id_claims: dict[str, Any], token: dict[str, Any]
) -> Principal:
    """The principal one role source gives (same subject as the ID token), or AuthenticationFailed why not."""
    oidc = state.settings.identity.oidc
    if source == "id_token":
        return identity
    access_token = token.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise AuthenticationFailed("the identity provider sent no access token")
    if source == "access_token":
        # An opaque access token (not a JWT) cannot be read here.
        if state.access_tokens is None or access_token.count(".") != 2:
            raise AuthenticationFailed("the access token is opaque, not a JWT")
        claims = await state.access_tokens.verify(access_token)
    else:
        claims = await _userinfo(state, token)
    found = principal_from_claims(claims, oidc, auth_method="session")
    if found.subject != identity.subject:
        raise AuthenticationFailed(f"the {source} names another subject than the ID token")
    return found


async def _userinfo(state: BrowserLogin, token: dict[str, Any]) -> dict[str, Any]:
    """The userinfo endpoint's claims for the login's access token (a JSON answer; a signed one is not read)."""
    try:
        answer = await state.oauth.userinfo(token=token)
    except _IDP_FAILURES as exc:
        raise AuthenticationFailed(f"the userinfo endpoint failed ({idp_failure_message(exc)})") from None
    if not isinstance(answer, dict):
        raise AuthenticationFailed("the userinfo endpoint sent no JSON object")
    return dict(answer)


async def _end_session_url(state: BrowserLogin, request: Request, session: WebSession) -> str | None:
    """The IdP's RP-initiated logout URL (back to our root afterwards); None when the IdP has none or is down."""
    if state.oauth is None:
        return None
    try:
        metadata = await _discover(state)
        if not metadata.get("end_session_endpoint"):
            return None
        # The state is not checked on return (the root page is no callback); the IdP echoes it back.
        logout = await state.oauth.create_logout_url(
            post_logout_redirect_uri=external_url(request, "/"),
            id_token_hint=session.id_token,
            state=secrets.token_urlsafe(16),
            client_id=state.settings.identity.oidc.client_id,
        )
    except _IDP_FAILURES as exc:
        # The local session is gone already; the IdP's own session ends when it next expires.
        log.warning("identity provider logout skipped", issuer=state.issuer, error=idp_failure_message(exc))
        return None
    url: str = logout["url"]
    return url


def install_browser_login(
    app: FastAPI, settings: Settings, database: Database, *, audit: AuditTrail, access_tokens: OidcVerifier | None
) -> BrowserLogin:
    """Add browser login to the gateway: the /auth routes, the login-transaction cookie, the session store.

    Call from the app factory before the app starts (middleware cannot be added later), with the
    gateway's own token verifier so both share one key cache. Without an IdP (no
    ``identity.oidc.issuer``, dev IdP off) the routes exist and sign-in says why not. The
    factory hands the BrowserLogin returned to requests (its lifespan's state, ``LOGIN_STATE``).
    """
    issuer = settings.oidc_issuer
    login = BrowserLogin(
        settings=settings,
        audit=audit,
        sessions=WebSessionStore(database, settings.identity.session),
        oauth=_oauth_client(settings, issuer) if issuer else None,
        access_tokens=access_tokens,
        issuer=issuer,
    )
    app.include_router(router)
    app.add_middleware(
        LoginTransactionMiddleware,
        secret_key=login_secret_key(settings),
        secure_cookie=settings.identity.session.secure_cookie,
    )
    if issuer is None:
        log.info("browser login unavailable: no identity provider configured")
    return login


def _oauth_client(settings: Settings, issuer: str) -> Any:
    """authlib's Starlette client for our IdP, configured from its discovery document on first use."""
    oidc = settings.identity.oidc
    authorize, token = _target_params(oidc)
    return OAuth().register(
        name="suite",
        client_id=oidc.client_id,
        client_secret=oidc.client_secret.get_secret_value() if oidc.client_secret else None,
        server_metadata_url=issuer.rstrip("/") + "/.well-known/openid-configuration",
        # On the authorization request and again on the token request (RFC 8707 2.1 and 2.2).
        authorize_params=authorize or None,
        access_token_params=token or None,
        client_kwargs={
            "scope": " ".join([_SCOPE, *oidc.login.extra_scopes]),
            "code_challenge_method": "S256",
            # A public client (no secret) proves itself with PKCE alone.
            "token_endpoint_auth_method": "client_secret_basic" if oidc.client_secret else "none",
            # Air-gapped: never a proxy from the environment.
            "trust_env": False,
            "timeout": 10.0,
        },
    )


def _target_params(oidc: OidcSettings) -> tuple[dict[str, str | list[str]], dict[str, str]]:
    """The resource (RFC 8707) and audience (Auth0) parameters of the authorization and the token request.

    The authorization request names every configured resource (a repeated parameter), the token
    request the first alone: the access token the login reads is the suite's.
    """
    login = oidc.login
    authorize: dict[str, str | list[str]] = {}
    token: dict[str, str] = {}
    if login.resource:
        authorize["resource"] = login.resource
        token["resource"] = login.resource[0]
    if login.audience:
        authorize["audience"] = token["audience"] = login.audience
    return authorize, token
