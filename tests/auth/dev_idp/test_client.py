"""request_access_token (behind `suite token --gateway`) against a real dev IdP over HTTP: the token
it brings back, and what it says when the provider is not there or refuses."""

from __future__ import annotations

import httpx
import pytest

from suite.auth.dev_idp import DevIdpRequestFailed, request_access_token
from suite.config import DevIdpClient
from tests.auth.dev_idp.flow import AUDIENCE, CALLBACK, CLI_CALLBACK, PASSWORDS, WEB_SECRET, Idp, jwks, verify
from tests.support import free_port

CLI = DevIdpClient(client_id="suite-cli", redirect_uris=[CLI_CALLBACK])


def test_a_users_token_over_http_verifies_with_the_providers_keys(idp: Idp, http: httpx.Client) -> None:
    token = request_access_token(idp.url, username="bob", password=PASSWORDS["bob"], client=CLI)
    claims = verify(token, jwks(http, idp), issuer=idp.url).claims
    assert (claims["sub"], claims["client_id"], claims["aud"]) == ("bob", "suite-cli", AUDIENCE)
    assert (claims["roles"], claims["groups"]) == (["employee"], ["engineering"])


def test_a_confidential_client_sends_its_secret(idp: Idp, http: httpx.Client) -> None:
    web = DevIdpClient(client_id="suite-web", client_secret=WEB_SECRET, redirect_uris=[CALLBACK])
    token = request_access_token(idp.url, username="carol", password=PASSWORDS["carol"], client=web)
    assert verify(token, jwks(http, idp), issuer=idp.url).claims["roles"] == ["compliance_officer"]
    wrong = DevIdpClient(client_id="suite-web", client_secret="not-the-secret", redirect_uris=[CALLBACK])
    with pytest.raises(DevIdpRequestFailed, match="refused the code: 401 invalid_client"):
        request_access_token(idp.url, username="carol", password=PASSWORDS["carol"], client=wrong)


def test_a_wrong_password_says_the_configurations_differ(idp: Idp) -> None:
    with pytest.raises(DevIdpRequestFailed, match=r"refused the password of 'alice'.*pass the same --config"):
        request_access_token(idp.url, username="alice", password="alice", client=CLI)


def test_an_unregistered_redirect_uri_is_named(idp: Idp) -> None:
    elsewhere = DevIdpClient(client_id="suite-cli", redirect_uris=["http://127.0.0.1:8400/callback"])
    with pytest.raises(DevIdpRequestFailed, match=r"Redirect URI http://127.0.0.1:8400/callback is not supported"):
        request_access_token(idp.url, username="alice", password=PASSWORDS["alice"], client=elsewhere)


def test_a_service_client_cannot_log_users_in(idp: Idp) -> None:
    service = DevIdpClient(client_id="svc-batch", grant_types=["client_credentials"])
    with pytest.raises(DevIdpRequestFailed, match="cannot log users in"):
        request_access_token(idp.url, username="alice", password=PASSWORDS["alice"], client=service)


def test_no_provider_or_another_issuer_is_said_plainly(idp: Idp) -> None:
    nobody = f"http://127.0.0.1:{free_port()}/idp"
    with pytest.raises(DevIdpRequestFailed, match=r"Cannot reach the dev IdP at .*; is `suite up` running\?"):
        request_access_token(nobody, username="alice", password="x", client=CLI)
    with pytest.raises(DevIdpRequestFailed, match=r"No identity provider at .*/idp \(404\)"):
        request_access_token(f"{idp.url}/idp", username="alice", password="x", client=CLI)
    # The provider answers for its own issuer only: an issuer written differently is refused with both names.
    with pytest.raises(DevIdpRequestFailed, match=f"names itself '{idp.url}'"):
        request_access_token(f"{idp.url}/", username="alice", password="x", client=CLI)
