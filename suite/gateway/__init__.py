"""The gateway: OpenAI-compatible API in front of the serving layer."""

from suite.gateway.app import create_app, services_of
from suite.gateway.deps import PrincipalDep, Services, ServicesDep

__all__ = ["PrincipalDep", "Services", "ServicesDep", "create_app", "services_of"]
