"""The dev IdP's test users and clients, and a browser-like walk through its login, driven with httpx."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from suite.auth.dev_idp import DevIdpKeys, create_dev_idp_app
from suite.config import DevIdpSettings
from tests.support import ServerThread, free_port

AUDIENCE = "suite"
# Never contacted: the tests read the redirect and stop there, as a browser would hand it to the app.
CALLBACK = "http://127.0.0.1:9/auth/callback"
CLI_CALLBACK = "http://127.0.0.1:9/cli/callback"
SIGNED_OUT = "http://127.0.0.1:9/signed-out"
WEB_SECRET = "web-secret-0123456789"
BATCH_SECRET = "batch-secret-0123456789"
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw", "adam": "adam-pw"}
_FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)"')


def dev_idp_settings() -> DevIdpSettings:
    """The four personas and three kinds of client the suite's tests use."""
    return DevIdpSettings(
        enabled=True,
        access_token_ttl_s=300,
        users=[
            {
                "username": "alice",
                "password": PASSWORDS["alice"],
                "name": "Alice Adler",
                "email": "alice@example.test",
                "groups": ["finance"],
                "roles": ["employee"],
            },
            {
                "username": "bob",
                "password": PASSWORDS["bob"],
                "name": "Bob Brandt",
                "email": "bob@example.test",
                "groups": ["engineering"],
                "roles": ["employee"],
            },
            {
                "username": "carol",
                "password": PASSWORDS["carol"],
                "name": "Carol Curie",
                "email": "carol@example.test",
                "groups": ["compliance"],
                "roles": ["compliance_officer"],
            },
            {
                "username": "adam",
                "password": PASSWORDS["adam"],
                "name": "Adam Admin",
                "email": "adam@example.test",
                "groups": ["it"],
                "roles": ["admin"],
            },
        ],
        clients=[
            {
                "client_id": "suite-web",
                "client_secret": WEB_SECRET,
                "redirect_uris": [CALLBACK],
                "post_logout_redirect_uris": [SIGNED_OUT],
            },
            {"client_id": "suite-cli", "client_secret": None, "redirect_uris": [CLI_CALLBACK]},
            {
                "client_id": "svc-batch",
                "client_secret": BATCH_SECRET,
                "grant_types": ["client_credentials"],
                "roles": ["employee"],
            },
        ],
    )


@dataclass(frozen=True)
class Idp:
    """A running dev IdP: its URL (also the issuer) and the keys it signs with."""

    url: str
    keys: DevIdpKeys


@contextmanager
def serve_idp(state_dir: Path, *, keys: DevIdpKeys | None = None) -> Iterator[Idp]:
    """A real provider on a free loopback port, its issuer being its own URL; keys from ``state_dir`` if not given."""
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    keys = keys or DevIdpKeys.load_or_create(state_dir)
    app = create_dev_idp_app(dev_idp_settings(), issuer=issuer, audience=AUDIENCE, state_dir=state_dir, keys=keys)
    server = ServerThread(app, port=port).start()
    try:
        yield Idp(url=server.url, keys=keys)
    finally:
        server.stop()


@dataclass(frozen=True)
class Authorization:
    """What the client keeps between the authorize redirect and the token request."""

    state: str
    nonce: str
    verifier: str
    params: dict[str, str]


def start_authorization(
    client_id: str = "suite-web", *, redirect_uri: str = CALLBACK, scope: str = "openid profile email"
) -> Authorization:
    """Fresh state, nonce and PKCE verifier, and the authorize query built from them."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return Authorization(state, nonce, verifier, params)


def form_action(page: str) -> str:
    """Where the login page's form posts to."""
    match = _FORM_ACTION.search(page)
    assert match, "no login form on the page"
    return html.unescape(match.group(1))


def log_in(
    http: httpx.Client, idp: Idp, auth: Authorization, *, username: str = "alice", password: str | None = None
) -> httpx.Response:
    """Open the login page and submit it; the answer is not followed."""
    page = http.get(f"{idp.url}/authorize", params=auth.params)
    assert page.status_code == 200, page.text
    password = PASSWORDS[username] if password is None else password
    return http.post(form_action(page.text), data={"username": username, "password": password})


def redirect_params(response: httpx.Response, expected_target: str) -> dict[str, str]:
    """The query of a redirect to ``expected_target``."""
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == expected_target
    return {key: values[0] for key, values in parse_qs(location.query).items()}


def authorization_code(http: httpx.Client, idp: Idp, auth: Authorization, *, username: str = "alice") -> str:
    """Log in and return the code from the redirect (after checking the state came back)."""
    params = redirect_params(log_in(http, idp, auth, username=username), auth.params["redirect_uri"])
    assert params["state"] == auth.state
    return params["code"]


def redeem(http: httpx.Client, idp: Idp, auth: Authorization, code: str, **extra: Any) -> httpx.Response:
    """Exchange a code at the token endpoint as suite-web (client_secret_basic)."""
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": auth.params["redirect_uri"],
        "code_verifier": auth.verifier,
    }
    return http.post(f"{idp.url}/token", data=data | extra, auth=(auth.params["client_id"], WEB_SECRET))


def jwks(http: httpx.Client, idp: Idp) -> KeySet:
    """The published keys, fetched over HTTP as any relying party would."""
    return KeySet.import_key_set(http.get(f"{idp.url}/jwks").json())


def verify(token: str, keys: KeySet, *, issuer: str, audience: str = AUDIENCE, typ: str = "at+jwt") -> jwt.Token:
    """Signature, typ and registered claims checked; the decoded token returned."""
    decoded = jwt.decode(token, keys, algorithms=["RS256"])
    assert decoded.header["typ"] == typ
    assert decoded.header["kid"]
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        exp={"essential": True},
        sub={"essential": True},
    ).validate(decoded.claims)
    return decoded
