"""OpenID Provider metadata (OIDC Discovery 1.0 / RFC 8414), read from the issuer itself.

The document is fetched from ``{issuer}/.well-known/openid-configuration`` on first use and kept
until ``forget()``; its ``issuer`` must equal the configured one exactly (a mix-up defence), and
endpoint URLs must be http(s).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

FETCH_TIMEOUT = httpx.Timeout(5.0)


class DiscoveryError(ValueError):
    """The discovery document could not be read or does not fit the issuer."""


class Discovery:
    """One issuer's metadata, fetched once and shared by its key cache and its introspection."""

    def __init__(self, issuer: str, client: httpx.AsyncClient) -> None:
        self.issuer = issuer
        self.url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        self._client = client
        self._document: dict[str, Any] | None = None
        self._lock = asyncio.Lock()

    async def document(self) -> dict[str, Any]:
        """The metadata; DiscoveryError or httpx.HTTPError when it cannot be had."""
        async with self._lock:
            if self._document is None:
                document = await get_json(self._client, self.url)
                if not isinstance(document, dict) or document.get("issuer") != self.issuer:
                    raise DiscoveryError("the discovery document names another issuer")
                self._document = document
            return self._document

    async def endpoint(self, name: str) -> str:
        """An endpoint URL from the metadata, e.g. ``jwks_uri`` or ``introspection_endpoint``."""
        url = (await self.document()).get(name)
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise DiscoveryError(f"the discovery document has no http(s) {name}")
        return url

    def forget(self) -> None:
        """Read the document again next time (the IdP may have moved its endpoints)."""
        self._document = None


async def get_json(client: httpx.AsyncClient, url: str) -> Any:
    """GET a JSON document; httpx.HTTPError or ValueError on failure."""
    response = await client.get(url, timeout=FETCH_TIMEOUT, headers={"accept": "application/json"})
    response.raise_for_status()
    return response.json()
