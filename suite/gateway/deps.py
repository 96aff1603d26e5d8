"""FastAPI dependencies: how routes receive the principal and the suite's services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from suite.auth import Principal, StaticKeyAuthenticator
from suite.config import Settings
from suite.embeddings import EmbeddingService
from suite.serving import ModelCatalog, Relay


@dataclass
class Services:
    """Everything the routes work with, built once by the app factory."""

    settings: Settings
    authenticator: StaticKeyAuthenticator
    catalog: ModelCatalog
    relay: Relay
    embeddings: EmbeddingService
    started_at: float


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def require_principal(request: Request, services: ServicesDep) -> Principal:
    """The authenticated caller of a /v1 route (401 in the OpenAI shape otherwise).

    Credentials are read from the Authorization header only, never from the query string.
    """
    principal = services.authenticator.authenticate(request.headers.get("authorization"))
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(require_principal)]


def get_request_id(request: Request) -> str:
    request_id: str = request.state.request_id
    return request_id


RequestIdDep = Annotated[str, Depends(get_request_id)]
