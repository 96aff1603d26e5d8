"""A minimal identity provider for the tests: discovery and a JWKS over real HTTP, and a token minter.

The keys are real (joserfc, RSA and EC); the test decides which public keys are published,
can rotate them, and reads how often each document was fetched.
"""

from __future__ import annotations

import base64
import datetime
import json
import time
from collections import Counter
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.jwk import ECKey, KeyParameters, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support import ServerThread, free_port

SigningKey = RSAKey | ECKey


class FakeIdp:
    """Serves ``/.well-known/openid-configuration`` and ``/jwks`` for the keys in ``published``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.published: list[SigningKey] = []
        # Raw JWKS entries served after the published keys, and overrides for broken IdPs.
        self.extra_entries: list[Any] = []
        self.jwks_body: str | None = None
        self.discovery_issuer: str | None = None
        self.hits: Counter[str] = Counter()
        app = Starlette(
            routes=[Route("/.well-known/openid-configuration", self._discovery), Route("/jwks", self._jwks)]
        )
        self._server = ServerThread(app, port=self.port)

    def start(self) -> FakeIdp:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def publish(self, *keys: SigningKey) -> None:
        """Replace the published key set (the public halves), drop the overrides, forget the hit counts."""
        self.published = list(keys)
        self.extra_entries = []
        self.jwks_body = None
        self.discovery_issuer = None
        self.hits.clear()

    async def _discovery(self, request: Request) -> Response:
        self.hits["discovery"] += 1
        return JSONResponse({"issuer": self.discovery_issuer or self.issuer, "jwks_uri": f"{self.issuer}/jwks"})

    async def _jwks(self, request: Request) -> Response:
        self.hits["jwks"] += 1
        if self.jwks_body is not None:
            return Response(self.jwks_body, media_type="application/json")
        return JSONResponse({"keys": [key.as_dict(private=False) for key in self.published] + self.extra_entries})


def rsa_key(kid: str, *, alg: str | None = None) -> RSAKey:
    """A fresh RSA-2048 signing key with this kid (and, if given, its alg pinned)."""
    params: KeyParameters = {"kid": kid, "use": "sig"}
    if alg:
        params["alg"] = alg
    return RSAKey.generate_key(2048, parameters=params)


def ec_key(kid: str, *, curve: str = "P-256") -> ECKey:
    """A fresh EC signing key on this curve, with this kid."""
    return ECKey.generate_key(curve, parameters={"kid": kid, "use": "sig"})


def claims_for(issuer: str, **overrides: Any) -> dict[str, Any]:
    """Valid access-token claims for the audience ``suite``, valid for five minutes; None removes a claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": ["suite", "account"],
        "sub": "u-1234",
        "exp": now + 300,
        "iat": now,
        "nbf": now,
        "name": "Erika Mustermann",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def mint(key: SigningKey, claims: dict[str, Any], *, alg: str = "RS256", **header: Any) -> str:
    """A token signed by ``key``; the header carries its kid unless ``kid=None`` is given."""
    full_header: dict[str, Any] = {"alg": alg, "kid": key.kid, **header}
    full_header = {name: value for name, value in full_header.items() if value is not None}
    return jwt.encode(full_header, claims, key, algorithms=[alg])


def b64(data: bytes | dict[str, Any]) -> str:
    """Base64url without padding, of bytes or of a JSON object."""
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def header_of(token: str) -> dict[str, Any]:
    """A compact JWS's header, unverified."""
    part = token.split(".", maxsplit=1)[0]
    header: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return header


def self_signed_cert(key: RSAKey) -> str:
    """A self-signed certificate for ``key``, base64 DER as the ``x5c`` header carries it."""
    private = key.private_key
    assert private is not None
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(private, hashes.SHA256())
    )
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
