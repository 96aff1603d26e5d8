"""A second, independent OpenID provider for the identity tests: panva's `oidc-provider` (npm, OpenID
certified), run with Node on a free loopback port from tests/auth/oidc_provider (installed by
`make install` with `npm ci`).

It issues client-credentials tokens for configured resources (RFC 8707): JWT (RFC 9068, typ at+jwt)
or opaque, introspects (RFC 7662) and revokes them. Keys are generated here; ``restart`` brings it
back on the same port with other keys (rotation), opaque tokens issued before are then gone.
With ``accounts`` and a login client (``login_client``) it also serves the authorization code flow
through its development login and consent pages (any password), which ``sign_in`` walks.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import httpx
from joserfc.jwk import ECKey, RSAKey

from tests.support import free_port, wait_until

HARNESS = Path(__file__).parent / "oidc_provider"

# Resource indicators -> what the provider issues for them.
JWT_RESOURCE = "urn:suite:api"
OPAQUE_RESOURCE = "urn:suite:opaque"
OTHER_RESOURCE = "urn:other:api"
RESOURCES = {
    JWT_RESOURCE: {"scope": "api", "audience": "suite", "accessTokenFormat": "jwt", "jwt": {"sign": {"alg": "RS256"}}},
    OPAQUE_RESOURCE: {"scope": "api", "audience": "suite", "accessTokenFormat": "opaque"},
    OTHER_RESOURCE: {
        "scope": "api",
        "audience": "other",
        "accessTokenFormat": "jwt",
        "jwt": {"sign": {"alg": "RS256"}},
    },
}

SERVICE = ("svc-reporting", "svc-reporting-secret")
INTROSPECTOR = ("suite-introspect", "suite-introspect-secret")
INTROSPECTOR_JWT = "suite-introspect-jwt"


def harness_installed() -> bool:
    return shutil.which("node") is not None and (HARNESS / "node_modules" / "oidc-provider").is_dir()


def private_jwk(key: RSAKey | ECKey, alg: str) -> dict[str, Any]:
    return {**key.as_dict(private=True), "alg": alg, "use": "sig"}


class SecondIdp:
    """The provider process and what the tests ask of it."""

    def __init__(
        self,
        *,
        signing: list[RSAKey | ECKey],
        introspection_key: RSAKey,
        groups: dict[str, list[str]],
        accounts: dict[str, dict[str, Any]] | None = None,
        extra_claims: dict[str, dict[str, Any]] | None = None,
        token_ttl_s: int = 600,
    ) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self._dir = Path(tempfile.mkdtemp(prefix="second-idp-"))
        self._signing = signing
        self._introspection_key = introspection_key
        self._groups = groups
        self._accounts = accounts or {}
        # Access-token claims besides groups, per client or account id (e.g. a namespaced roles claim).
        self._extra_claims = extra_claims or {}
        self._token_ttl_s = token_ttl_s
        # Further clients (e.g. a login client), registered before start.
        self.clients: list[dict[str, Any]] = []
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> SecondIdp:
        config = {
            "port": self.port,
            "jwks": {
                "keys": [private_jwk(key, "ES256" if isinstance(key, ECKey) else "RS256") for key in self._signing]
            },
            "resources": RESOURCES,
            "groups": self._groups,
            "accounts": self._accounts,
            "extraClaims": self._extra_claims,
            "tokenTtl": self._token_ttl_s,
            "clients": [*self._clients(), *self.clients],
        }
        path = self._dir / "config.json"
        path.write_text(json.dumps(config))
        with (self._dir / "provider.log").open("ab") as log:  # the child keeps its own descriptor
            self._process = subprocess.Popen(
                ["node", str(HARNESS / "server.mjs"), str(path)], cwd=HARNESS, stdout=log, stderr=subprocess.STDOUT
            )
        wait_until(self._ready, timeout=30, what="oidc-provider to answer discovery")
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def restart(self, *, signing: list[RSAKey | ECKey]) -> None:
        """The same issuer and port, other signing keys (the first one signs)."""
        self.stop()
        self._signing = signing
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def _ready(self) -> bool:
        assert self._process is not None
        if self._process.poll() is not None:
            raise RuntimeError(f"oidc-provider exited: {(self._dir / 'provider.log').read_text()[-2000:]}")
        try:
            return httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def _clients(self) -> list[dict[str, Any]]:
        service = {
            "client_id": SERVICE[0],
            "client_secret": SERVICE[1],
            "grant_types": ["client_credentials"],
            "response_types": [],
            "redirect_uris": [],
            "token_endpoint_auth_method": "client_secret_basic",
        }
        introspector = {**service, "client_id": INTROSPECTOR[0], "client_secret": INTROSPECTOR[1]}
        public = self._introspection_key.as_dict(private=False)
        by_key = {
            "client_id": INTROSPECTOR_JWT,
            "grant_types": ["client_credentials"],
            "response_types": [],
            "redirect_uris": [],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [{**public, "alg": "RS256", "use": "sig"}]},
        }
        return [service, introspector, by_key]

    # --- what the tests ask ------------------------------------------------------------------------

    def token(self, resource: str = JWT_RESOURCE, *, client: tuple[str, str] = SERVICE) -> str:
        """A client-credentials access token for resource."""
        response = httpx.post(
            f"{self.issuer}/token",
            data={"grant_type": "client_credentials", "resource": resource, "scope": "api"},
            auth=client,
            timeout=10,
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token

    def revoke(self, token: str, *, client: tuple[str, str] = SERVICE) -> None:
        response = httpx.post(
            f"{self.issuer}/token/revocation",
            data={"token": token, "token_type_hint": "access_token"},
            auth=client,
            timeout=10,
        )
        response.raise_for_status()


def login_client(client_id: str, secret: str, base_url: str) -> dict[str, Any]:
    """A confidential web client for the code flow, returning to a gateway's /auth/callback."""
    return {
        "client_id": client_id,
        "client_secret": secret,
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "redirect_uris": [f"{base_url}/auth/callback"],
        "post_logout_redirect_uris": [f"{base_url}/"],
        "token_endpoint_auth_method": "client_secret_basic",
    }


_FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*>.*?name="prompt" value="(\w+)"', re.DOTALL)


def sign_in(browser: httpx.Client, authorize: str, *, account: str, until: str) -> str:
    """Walk the provider's login and consent pages from an authorize URL, as a user would.

    Redirects are followed one by one (the cookies are the browser's) until one leads to ``until``
    (the client's callback); that URL is returned, not followed.
    """
    url = authorize
    for _ in range(20):
        if url.startswith(until):
            return url
        response = browser.get(url)
        if response.is_redirect:
            url = str(response.url.join(response.headers["location"]))
            continue
        assert response.status_code == 200, response.text[-2000:]
        match = _FORM.search(response.text)
        assert match, response.text[-2000:]
        action, prompt = str(response.url.join(html.unescape(match.group(1)))), match.group(2)
        form = {"prompt": prompt, "login": account, "password": "any"} if prompt == "login" else {"prompt": prompt}
        posted = browser.post(action, data=form)
        assert posted.is_redirect, posted.text[-2000:]
        url = str(posted.url.join(posted.headers["location"]))
    raise AssertionError(f"the sign-in at the provider did not come back to {until}")
