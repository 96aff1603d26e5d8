"""Asking a running development IdP for a user's access token over HTTP (`suite token --gateway`).

The provider that signs is the one the gateway trusts: its keys live in the gateway's data
directory and its issuer is the gateway's address, so a token got this way is accepted whatever
``--data-dir`` or ``--port`` the gateway was started with. The walk is the ordinary one of a
public client: discovery, authorization code with S256 PKCE (the login form posted with the
user's credentials, the redirect read, never followed), then the token endpoint.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from suite.config import DevIdpClient

# The provider's error page (pages.error_page): the error and its description.
_ERROR_LINES = re.compile(r'<p class="error">(.*?)</p>\s*(?:<p>(.*?)</p>)?', re.DOTALL)


class DevIdpRequestFailed(Exception):
    """The running dev IdP could not be reached or refused; the message says which and why."""


def request_access_token(
    issuer: str,
    *,
    username: str,
    password: str,
    client: DevIdpClient,
    scope: str = "openid",
    timeout_s: float = 15,
) -> str:
    """An access token for ``username`` from the dev IdP at ``issuer``, got through ``client``.

    ``client`` is one of identity.dev_idp.clients with the authorization_code grant and a
    redirect URI (``suite-cli`` in the embedded default); a confidential client sends its secret.
    Raises DevIdpRequestFailed with a message for the person at the terminal.
    """
    if "authorization_code" not in client.grant_types or not client.redirect_uris:
        raise DevIdpRequestFailed(
            f"The client {client.client_id!r} cannot log users in (it needs the authorization_code grant "
            "and a redirect URI); use --client-id suite-cli."
        )
    redirect_uri = client.redirect_uris[0]
    with httpx.Client(trust_env=False, timeout=timeout_s, follow_redirects=False) as http:
        endpoints = _discover(http, issuer)
        verifier = secrets.token_urlsafe(48)
        state = secrets.token_urlsafe(16)
        query = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": _challenge(verifier),
            "code_challenge_method": "S256",
        }
        # The login form posts back to the authorize URL with the same query.
        credentials = {"username": username, "password": password}
        login = _call(http, "POST", endpoints["authorization_endpoint"], params=query, data=credentials)
        code = _code_from(login, redirect_uri=redirect_uri, state=state, username=username)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        # A confidential client authenticates with client_secret_basic, a public one names itself.
        secret = client.client_secret
        auth = (client.client_id, secret.get_secret_value()) if secret is not None else None
        if secret is None:
            form["client_id"] = client.client_id
        tokens = _call(http, "POST", endpoints["token_endpoint"], data=form, auth=auth)
        if tokens.status_code != 200:
            raise DevIdpRequestFailed(f"The dev IdP refused the code: {tokens.status_code} {_oauth_error(tokens)}")
        token = _json(tokens).get("access_token")
        if not isinstance(token, str) or not token:
            raise DevIdpRequestFailed("The dev IdP's token answer has no access_token.")
        return token


def _discover(http: httpx.Client, issuer: str) -> dict[str, str]:
    answer = _call(http, "GET", f"{issuer.rstrip('/')}/.well-known/openid-configuration")
    if answer.status_code == 404:
        raise DevIdpRequestFailed(
            f"No identity provider at {issuer} (404): is the dev IdP enabled (identity.dev_idp.enabled)?"
        )
    if answer.status_code != 200:
        raise DevIdpRequestFailed(f"The dev IdP at {issuer} answered {answer.status_code} to discovery.")
    document = _json(answer)
    if document.get("issuer") != issuer:
        raise DevIdpRequestFailed(
            f"The IdP at {issuer} names itself {document.get('issuer')!r}: give the gateway's URL exactly as it "
            "serves (e.g. http://127.0.0.1:8080)."
        )
    endpoints = {name: document.get(name) for name in ("authorization_endpoint", "token_endpoint")}
    if not all(isinstance(url, str) and url for url in endpoints.values()):
        raise DevIdpRequestFailed(f"The discovery document of {issuer} names no authorization or token endpoint.")
    return {name: str(url) for name, url in endpoints.items()}


def _code_from(answer: httpx.Response, *, redirect_uri: str, state: str, username: str) -> str:
    if answer.status_code == 200:  # the login page again
        raise DevIdpRequestFailed(
            f"The dev IdP refused the password of {username!r}: the running gateway's identity.dev_idp.users "
            "differ from this configuration (pass the same --config)."
        )
    location = answer.headers.get("location", "")
    if answer.status_code not in (302, 303) or not location.startswith(redirect_uri):
        raise DevIdpRequestFailed(f"The dev IdP refused the login: {answer.status_code} {_page_text(answer)}")
    params: dict[str, str] = {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
    if "error" in params:
        described = f"{params['error']} {params.get('error_description', '')}".strip()
        raise DevIdpRequestFailed(f"The dev IdP refused the login: {described}")
    if params.get("state") != state or not params.get("code"):
        raise DevIdpRequestFailed("The dev IdP's redirect carries no code for this request.")
    return params["code"]


def _call(http: httpx.Client, method: str, url: str, **options: Any) -> httpx.Response:
    try:
        return http.request(method, url, **options)
    except httpx.TransportError as exc:
        problem = type(exc).__name__
        raise DevIdpRequestFailed(f"Cannot reach the dev IdP at {url} ({problem}); is `suite up` running?") from None


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        document = answer.json()
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise DevIdpRequestFailed(f"{answer.request.url} did not answer with a JSON object.")
    return document


def _oauth_error(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return _page_text(answer)
    if isinstance(body, dict):
        return f"{body.get('error', '')} {body.get('error_description', '')}".strip()
    return _page_text(answer)


def _page_text(answer: httpx.Response) -> str:
    """What an answer says: the error lines of the provider's error page, or the start of the text."""
    found = _ERROR_LINES.search(answer.text)
    text = " ".join(part for part in found.groups() if part) if found else re.sub(r"<[^>]+>", " ", answer.text)
    return " ".join(html.unescape(text).split())[:300]


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
