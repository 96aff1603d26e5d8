"""The browser login against a second, independent OpenID provider (panva's oidc-provider).

A real authorization code flow with PKCE, driven by httpx through the gateway and the provider's
own login and consent pages: the login asks for a resource (RFC 8707) and an API scope, the
provider then issues an RFC 9068 JWT access token for the suite, and the session's roles come
from that token, or from the userinfo endpoint, as configured (the ID token's groups then do not
count); the login's audit record says which source gave what.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import ValidationError

from suite.audit import AuditFilters, AuditQuery
from suite.config import BrowserLoginSettings
from tests.auth.jwks_server import rsa_key
from tests.auth.login.flow import WEB_SECRET, Gateway, serve_gateway
from tests.auth.second_idp import (
    JWT_RESOURCE,
    OTHER_RESOURCE,
    SecondIdp,
    harness_installed,
    login_client,
    sign_in,
)

# Groups only the access tokens carry (extraTokenClaims); the ID token and userinfo have the account's own.
GROUPS = {"alice": ["suite-admins"]}
ACCOUNTS = {"alice": {"name": "Alice Adler", "groups": ["suite-staff"]}}
MAPPING = {"suite-admins": ["admin"], "suite-staff": ["employee"]}


@contextmanager
def gateway_with_second_idp(tmp_path: Path, login: dict[str, Any]) -> Iterator[tuple[Gateway, SecondIdp]]:
    """A gateway whose identity.oidc is the second provider (started after it: it needs the callback URL)."""
    if not harness_installed():
        pytest.fail("oidc-provider is not installed: run `make install` (npm ci in tests/auth/oidc_provider)")
    idp = SecondIdp(signing=[rsa_key("login-1")], introspection_key=rsa_key("unused"), groups=GROUPS, accounts=ACCOUNTS)
    oidc = {
        "issuer": idp.issuer,
        "audience": "suite",
        "required_typ": "at+jwt",
        "client_id": "suite-web",
        "client_secret": WEB_SECRET,
        "role_mapping": MAPPING,
        "login": login,
    }
    with serve_gateway(tmp_path, identity={"oidc": oidc, "dev_idp": {"enabled": False}}) as gateway:
        idp.clients.append(login_client("suite-web", WEB_SECRET, gateway.url))
        idp.start()
        try:
            yield gateway, idp
        finally:
            idp.close()


def signed_in_as_alice(tmp_path: Path, login: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The whole login as alice with these login settings: the authorize URL's query, /auth/me, the audit details."""
    with (
        gateway_with_second_idp(tmp_path, login) as (gateway, _idp),
        httpx.Client(follow_redirects=False, timeout=15, trust_env=False) as browser,
    ):
        query = log_in(browser, gateway)
        me: dict[str, Any] = browser.get(f"{gateway.url}/auth/me").json()
        return query, me, login_record(gateway)


def log_in(browser: httpx.Client, gateway: Gateway) -> dict[str, Any]:
    """The whole login as alice; the authorize URL's query. Ends signed in."""
    started = browser.get(f"{gateway.url}/auth/login", params={"next": "/chat"})
    assert started.status_code == 302, started.text
    authorize = started.headers["location"]
    callback = sign_in(browser, authorize, account="alice", until=f"{gateway.url}/auth/callback")
    done = browser.get(callback)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/chat"
    return parse_qs(urlsplit(authorize).query)


def login_record(gateway: Gateway) -> dict[str, Any]:
    records = AuditQuery(gateway.database).search(AuditFilters(action="login", subject="alice")).records
    assert len(records) == 1
    assert records[0].status == "ok"
    details: dict[str, Any] = records[0].details
    return details


def test_login_with_a_resource_gets_its_roles_from_the_access_token(tmp_path: Path) -> None:
    login = {"resource": JWT_RESOURCE, "extra_scopes": ["api"], "roles_from": ["access_token"]}
    query, me, record = signed_in_as_alice(tmp_path, login)

    assert query["resource"] == [JWT_RESOURCE]
    assert query["scope"] == ["openid profile email api"]
    assert query["code_challenge_method"] == ["S256"]
    # The access token (for the resource: aud suite, typ at+jwt, checked as a bearer token) alone
    # decides: the ID token's group suite-staff (employee) does not count.
    assert (me["subject"], me["roles"], me["groups"]) == ("alice", ["admin"], ["suite-admins"])
    assert record["roles_from"] == {"access_token": ["admin"]}


def test_without_the_resource_the_access_token_is_opaque_and_roles_come_from_userinfo(tmp_path: Path) -> None:
    login = {"roles_from": ["access_token", "userinfo"]}
    query, me, record = signed_in_as_alice(tmp_path, login)

    assert "resource" not in query
    assert (me["subject"], me["roles"], me["groups"]) == ("alice", ["employee"], ["suite-staff"])
    # No resource: the provider issues an opaque token for its userinfo endpoint, which the login cannot read.
    assert record["roles_from"] == {
        "access_token": {"skipped": "the access token is opaque, not a JWT"},
        "userinfo": ["employee"],
    }


def test_several_resources_are_all_asked_for_and_the_token_is_for_the_first(tmp_path: Path) -> None:
    login = {
        "resource": [JWT_RESOURCE, OTHER_RESOURCE],
        "audience": "suite",  # Auth0's parameter: sent along, other providers ignore it
        "extra_scopes": ["api"],
        "roles_from": ["access_token"],
    }
    query, me, record = signed_in_as_alice(tmp_path, login)

    # RFC 8707: the authorization request repeats the parameter; the grant covers both resources.
    assert query["resource"] == [JWT_RESOURCE, OTHER_RESOURCE]
    assert query["audience"] == ["suite"]
    # The token request names the first alone (oidc-provider refuses several there): a JWT for the suite.
    assert (me["roles"], record["roles_from"]) == (["admin"], {"access_token": ["admin"]})


def test_the_first_resource_decides_whose_access_token_the_login_reads(tmp_path: Path) -> None:
    login = {"resource": [OTHER_RESOURCE, JWT_RESOURCE], "extra_scopes": ["api"], "roles_from": ["access_token"]}
    query, me, record = signed_in_as_alice(tmp_path, login)

    assert query["resource"] == [OTHER_RESOURCE, JWT_RESOURCE]
    # The access token is for the other API (aud other): it gives the suite no roles, and the record says why.
    assert me["roles"] == []
    assert "audience mismatch: expected 'suite'" in record["roles_from"]["access_token"]["skipped"]


def test_resource_settings_take_one_uri_or_a_list_of_absolute_uris() -> None:
    assert BrowserLoginSettings(resource="urn:suite:api").resource == ["urn:suite:api"]
    assert BrowserLoginSettings(resource=None).resource == []
    both = ["https://suite.example.org/api", "urn:suite:api", "urn:suite:api"]
    assert BrowserLoginSettings(resource=both).resource == both[:2]
    for wrong in ("suite", "https://suite.example.org/api#x", "urn:suite api"):
        with pytest.raises(ValidationError, match="no absolute URI without a fragment"):
            BrowserLoginSettings(resource=wrong)
