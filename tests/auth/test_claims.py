"""From claims to a Principal: the shapes Keycloak, Entra ID and plain IdPs emit, and junk in them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from suite.auth.claims import claim_at, principal_from_claims
from suite.auth.principal import Principal
from suite.config import OidcSettings
from suite.errors import AuthenticationFailed

ISSUER = "https://idp.example.internal/realms/suite"


def principal_of(token_claims: dict[str, Any], **settings: Any) -> Principal:
    return principal_from_claims(token_claims, OidcSettings(issuer=ISSUER, **settings), auth_method="oidc_bearer")


def test_keycloak_shaped_token() -> None:
    claims = {
        "sub": "6f1c2d7e-0000-4000-8000-000000000001",
        "preferred_username": "erika",
        "realm_access": {"roles": ["admin", "offline_access", "uma_authorization"]},
        "resource_access": {"account": {"roles": ["manage-account"]}},
        "groups": ["/Compliance", "/Staff"],
    }
    principal = principal_of(claims, role_mapping={"/Staff": ["employee"]})
    assert principal.subject == "6f1c2d7e-0000-4000-8000-000000000001"
    assert principal.name == "erika"
    assert principal.roles == frozenset({"admin", "employee"})
    assert principal.groups == frozenset({"/Compliance", "/Staff"})
    assert principal.auth_method == "oidc_bearer"


def test_entra_shaped_token() -> None:
    claims = {
        "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
        "oid": "00000000-0000-0000-66f3-3332eca7ea81",
        "name": "Erika Mustermann",
        "roles": ["compliance_officer", "Task.Read"],
        "groups": ["9f1c2d7e-1111-4000-8000-00000000aaaa"],
    }
    principal = principal_of(
        claims, claims={"subject": "oid"}, role_mapping={"9f1c2d7e-1111-4000-8000-00000000aaaa": ["employee"]}
    )
    assert principal.subject == "00000000-0000-0000-66f3-3332eca7ea81"
    assert principal.name == "Erika Mustermann"
    assert principal.roles == frozenset({"compliance_officer", "employee"})


def test_plain_groups_carry_no_roles_unless_mapped() -> None:
    principal = principal_of({"sub": "u1", "groups": ["admin", "staff"]})
    # A group named like a suite role is not a role: only role claims pass through unmapped.
    assert principal.roles == frozenset()
    assert principal.groups == frozenset({"admin", "staff"})


def test_role_mapping_from_groups_and_roles() -> None:
    mapping = {"/Compliance": ["compliance_officer", "employee"], "kc-admins": ["admin"], "/Nobody": ["admin"]}
    principal = principal_of({"sub": "u1", "groups": ["/Compliance"], "roles": ["kc-admins"]}, role_mapping=mapping)
    assert principal.roles == frozenset({"compliance_officer", "employee", "admin"})


def test_token_roles_outside_suite_roles_are_dropped() -> None:
    principal = principal_of({"sub": "u1", "roles": ["admin", "superuser"]}, suite_roles=["employee"])
    assert principal.roles == frozenset()


def test_single_string_role_claim_counts() -> None:
    assert principal_of({"sub": "u1", "roles": "admin"}).roles == frozenset({"admin"})


@pytest.mark.parametrize(
    "junk",
    [None, 7, 3.5, True, {"admin": True}, [None, 7, ["admin"], {"role": "admin"}, ""], {"roles": {"admin": 1}}],
)
def test_junk_claim_values_are_ignored(junk: Any) -> None:
    claims = {"sub": "u1", "name": junk, "roles": junk, "groups": junk, "realm_access": junk}
    principal = principal_of(claims, role_mapping={"admin": ["admin"]})
    assert principal.name == "u1"
    assert principal.roles == frozenset()
    assert principal.groups == frozenset()


def test_junk_mixed_with_strings_keeps_the_strings() -> None:
    principal = principal_of({"sub": "u1", "realm_access": {"roles": ["employee", 3, None]}, "groups": ["g", {}]})
    assert principal.roles == frozenset({"employee"})
    assert principal.groups == frozenset({"g"})


def test_name_falls_back_through_the_configured_paths() -> None:
    assert principal_of({"sub": "u1", "name": "", "preferred_username": "erika"}).name == "erika"
    assert principal_of({"sub": "u1"}).name == "u1"


@pytest.mark.parametrize("subject", [None, "", 42, ["u1"], {"id": "u1"}])
def test_missing_subject_refused(subject: Any) -> None:
    with pytest.raises(AuthenticationFailed, match="Token has no subject"):
        principal_of({"sub": subject, "name": "Erika"})


def test_claim_at_walks_dotted_paths_safely() -> None:
    claims = {"a": {"b": {"c": 1}}, "s": "text"}
    assert claim_at(claims, "a.b.c") == 1
    assert claim_at(claims, "a.x.c") is None
    assert claim_at(claims, "s.len") is None


AUTH0_CLAIMS = {
    "sub": "auth0|42",
    "https://suite.example.com/roles": ["admin"],
    "https://suite.example.com/claims": {"groups": ["Finance"]},
}


@pytest.mark.parametrize(
    ("roles", "groups"),
    [
        (["https://suite.example.com/roles"], [["https://suite.example.com/claims", "groups"]]),
        (["/https:~1~1suite.example.com~1roles"], ["/https:~1~1suite.example.com~1claims/groups"]),
    ],
)
def test_namespaced_claims_by_name_pointer_and_key_list(roles: list[Any], groups: list[Any]) -> None:
    principal = principal_of(AUTH0_CLAIMS, claims={"roles": roles, "groups": groups})
    assert principal.roles == frozenset({"admin"})
    assert principal.groups == frozenset({"Finance"})


def test_claim_at_forms() -> None:
    claims = {"a.b": 1, "a": {"b": 2, "c/d": {"~e": 3}}}
    assert claim_at(claims, "a.b") == 1  # the top-level name wins over the dotted path
    assert claim_at(claims, ["a", "b"]) == 2
    assert claim_at(claims, "/a/c~1d/~0e") == 3
    assert claim_at(claims, "/a/missing") is None
    assert claim_at(claims, ["a", "b", "deeper"]) is None


def test_role_patterns_map_group_names() -> None:
    patterns = {r"CN=Suite-(Admins|Operators),OU=Groups,.*": ["admin"], r"sg-.*-staff": ["employee"]}
    groups = ["CN=Suite-Admins,OU=Groups,DC=corp,DC=example", "sg-berlin-staff", "xsg-berlin-staff"]
    principal = principal_of({"sub": "u1", "groups": groups}, role_patterns=patterns)
    assert principal.roles == frozenset({"admin", "employee"})
    # Whole names only: a pattern matching part of a name maps nothing.
    assert principal_of({"sub": "u1", "groups": ["my-sg-x-staff"]}, role_patterns=patterns).roles == frozenset()


def test_bad_role_pattern_is_a_settings_error() -> None:
    with pytest.raises(ValidationError, match="not a regular expression"):
        OidcSettings(role_patterns={"(unclosed": ["admin"]})


@pytest.mark.parametrize("claims", [{"subject": ""}, {"roles": [[]]}, {"groups": [["groups", ""]]}])
def test_empty_claim_paths_are_settings_errors(claims: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="must not be empty"):
        OidcSettings(claims=claims)
