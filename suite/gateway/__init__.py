"""The gateway: OpenAI-compatible API in front of the serving layer."""

from suite.gateway.app import create_app, services_of
from suite.gateway.deps import PrincipalDep, Services

__all__ = ["PrincipalDep", "Services", "create_app", "services_of"]
