"""Two issuers behind one gateway: employees from the dev IdP, services from panva's oidc-provider.

Real tokens of both providers through the gateway's bearer authentication (``identity.oidc``
and ``identity.extra_issuers`` from the settings, as an operator writes them), each issuer
with its own claim paths and role mapping: the second provider's roles sit in a namespaced
claim (Auth0's convention). A dev IdP key rotation is picked up on the first request signed
with the new key, and ``required_typ: at+jwt`` refuses a JWT of the right issuer, audience
and signature that is no access token.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from suite.auth.dev_idp import DevIdpKeys, mint_access_token
from suite.auth.dev_idp.tokens import sign
from suite.config import Settings
from suite.gateway import create_app
from suite.gateway.deps import PrincipalDep
from tests.auth.jwks_server import header_of, rsa_key
from tests.auth.login.flow import WEB_SECRET, login_settings
from tests.auth.second_idp import SecondIdp, harness_installed
from tests.support import ServerThread, free_port

NAMESPACED = "https://suite.example.org/roles"
# The service's access tokens carry a plain group (mapped nowhere) and suite roles in a namespaced claim.
GROUPS = {"svc-reporting": ["reporting"]}
EXTRA_CLAIMS = {"svc-reporting": {NAMESPACED: ["employee"]}}


@dataclass(frozen=True)
class TwoIssuers:
    url: str
    settings: Settings
    second: SecondIdp

    def whoami(self, token: str) -> httpx.Response:
        return httpx.get(f"{self.url}/probe/bearer", headers={"authorization": f"Bearer {token}"}, timeout=15)

    def employee_token(self, keys: DevIdpKeys, username: str = "alice") -> str:
        idp = self.settings.identity.dev_idp
        user = next(u for u in idp.users if u.username == username)
        issuer = self.settings.oidc_issuer
        assert issuer is not None
        return mint_access_token(
            idp, keys, issuer=issuer, audience="suite", user=user, client_id="suite-web", scope="openid"
        )


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoIssuers]:
    if not harness_installed():
        pytest.fail("oidc-provider is not installed: run `make install` (npm ci in tests/auth/oidc_provider)")
    second = SecondIdp(
        signing=[rsa_key("svc-1")], introspection_key=rsa_key("unused"), groups=GROUPS, extra_claims=EXTRA_CLAIMS
    ).start()
    services = {
        "issuer": second.issuer,
        "audience": "suite",
        "required_typ": "at+jwt",
        "algorithms": ["RS256"],
        "claims": {"roles": [NAMESPACED]},
    }
    employees = {"client_id": "suite-web", "client_secret": WEB_SECRET, "required_typ": "at+jwt"}
    port = free_port()
    settings = login_settings(
        tmp_path_factory.mktemp("two-issuers"), port, identity={"oidc": employees, "extra_issuers": [services]}
    )
    app = create_app(settings, manage_engines=False)

    @app.get("/probe/bearer")
    async def bearer(principal: PrincipalDep) -> dict[str, Any]:
        return {"subject": principal.subject, "roles": sorted(principal.roles), "groups": sorted(principal.groups)}

    server = ServerThread(app, port=port).start()
    try:
        yield TwoIssuers(url=server.url, settings=settings, second=second)
    finally:
        server.stop()
        second.close()


def dev_keys(gateway: TwoIssuers) -> DevIdpKeys:
    return DevIdpKeys.load_or_create(gateway.settings.data_dir / "dev-idp")


def test_employees_and_services_from_two_providers_side_by_side(gateway: TwoIssuers) -> None:
    employee = gateway.whoami(gateway.employee_token(dev_keys(gateway)))
    service = gateway.whoami(gateway.second.token())

    assert employee.status_code == 200, employee.text
    assert employee.json() == {"subject": "alice", "roles": ["employee"], "groups": ["finance"]}
    # The second issuer's own claim paths: roles from the namespaced claim, its plain group maps nothing.
    assert service.status_code == 200, service.text
    assert service.json() == {"subject": "svc-reporting", "roles": ["employee"], "groups": ["reporting"]}


def test_a_token_of_the_dev_idp_is_not_taken_for_the_second_providers(gateway: TwoIssuers) -> None:
    # Signed by the dev IdP's key but naming the second provider as issuer: checked against its keys.
    claims = {"iss": gateway.second.issuer, "sub": "mallory", "aud": "suite", "exp": 4_102_444_800, "iat": 1}
    forged = gateway.whoami(sign(dev_keys(gateway), claims, typ="at+jwt"))
    assert forged.status_code == 401
    assert "Unknown signing key" in forged.json()["error"]["message"]


def test_a_dev_idp_key_rotation_is_accepted_on_the_first_request(gateway: TwoIssuers) -> None:
    keys = dev_keys(gateway)
    assert gateway.whoami(gateway.employee_token(keys)).status_code == 200  # the gateway's key cache is warm
    new_kid = keys.rotate()
    rotated = gateway.employee_token(keys)

    # jwks_min_refetch_s is 60: only the per-kid refetch lets the new key work at once.
    answer = gateway.whoami(rotated)
    assert answer.status_code == 200, answer.text
    assert header_of(rotated)["kid"] == new_kid


def test_required_typ_refuses_a_jwt_that_is_no_access_token(gateway: TwoIssuers) -> None:
    keys = dev_keys(gateway)
    issuer = gateway.settings.oidc_issuer
    claims = {"iss": issuer, "sub": "alice", "aud": "suite", "exp": 4_102_444_800, "iat": 1, "roles": ["employee"]}
    # Same issuer, audience, key and claims; only typ differs (an ID token's "JWT").
    assert gateway.whoami(sign(keys, claims, typ="at+jwt")).status_code == 200
    refused = gateway.whoami(sign(keys, claims, typ="JWT"))
    assert refused.status_code == 401
    assert "Token type not accepted" in refused.json()["error"]["message"]
