"""How the Bitrix24 adapter authenticates: an incoming webhook, or a local application's OAuth.

A webhook carries its secret in the URL and never expires. OAuth calls ``{portal}/rest/<method>``
with ``auth=<access token>``; the token lives an hour and is renewed with the refresh token, which
is single-use: the newest pair is kept in a :class:`SecretStore` that every worker process shares.
Two processes renewing at once: the loser's refresh token is refused (``invalid_grant``), and it
takes the pair the winner stored.

The renewal's query carries the client secret and the refresh token, and every REST call its
access token: the attempt log redacts them by their names (:mod:`bus.redaction`), and every token
the bus holds is told to the process's redactor, so no error text or log line can show it.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any, Protocol

import httpx

from bus.adapters.base import SecretStore
from bus.adapters.http import json_object, raise_for_status, upstream_errors
from bus.errors import TransientError
from bus.redaction import active
from bus.settings import Bitrix24OAuth

SYSTEM = "bitrix24"
#: Error codes of a REST call whose token is no good any more.
STALE_TOKEN = frozenset({"expired_token", "invalid_token"})


class Bitrix24Auth(Protocol):
    """Where a REST call goes and which credentials it carries."""

    async def request(self, method: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The URL of ``method`` and the params to send, credentials included."""
        ...

    async def renew(self, params: dict[str, Any]) -> bool:
        """The call with ``params`` was refused for its token: renew it; False if pointless."""
        ...


class WebhookAuth:
    """An incoming webhook: the secret is part of the URL."""

    def __init__(self, webhook_url: str) -> None:
        self._url = webhook_url.rstrip("/")

    async def request(self, method: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """``{webhook}/{method}.json`` with the params as they are."""
        return f"{self._url}/{method}.json", params

    async def renew(self, params: dict[str, Any]) -> bool:
        """A webhook has nothing to renew: an operator must fix it."""
        return False


class OAuthTokens:
    """A local application's token pair, renewed when refused and shared through ``secrets``.

    Parameters:
        settings: the portal, the application's id and secret, the installation's refresh token.
        client: the shared HTTP client.
        secrets: where the newest pair is kept.
        timeout: one request's budget.
    """

    def __init__(
        self,
        settings: Bitrix24OAuth,
        client: httpx.AsyncClient,
        secrets: SecretStore,
        timeout: float,
    ) -> None:
        self._settings = settings
        self._client = client
        self._secrets = secrets
        self._timeout = timeout
        self._rest = f"{settings.portal_url.rstrip('/')}/rest"
        self._name = f"bitrix24-oauth:{settings.portal_url}:{settings.client_id}"
        # Which installation the stored pair descends from: a new refresh token in the settings
        # (the application was installed again) replaces whatever was stored.
        configured = settings.refresh_token.get_secret_value()
        self._seed = hashlib.sha256(configured.encode()).hexdigest()[:16]
        self._pair: dict[str, Any] | None = None
        self._lock = asyncio.Lock()

    async def request(self, method: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """``{portal}/rest/{method}.json`` with ``auth`` added."""
        pair = self._pair or await self._current()
        return f"{self._rest}/{method}.json", {**params, "auth": pair["access_token"]}

    async def renew(self, params: dict[str, Any]) -> bool:
        """Renew the token the refused call carried, unless another call already did."""
        async with self._lock:
            pair = self._pair or await self._current()
            if pair["access_token"] != params.get("auth"):
                return True  # renewed meanwhile: just try again
            self._pair = await self._refresh(pair)
            return True

    async def _current(self) -> dict[str, Any]:
        stored = await self._secrets.get(self._name)
        if stored is not None and stored.get("seed") == self._seed:
            _redacted(stored)
            self._pair = stored
        else:
            configured = self._settings.refresh_token.get_secret_value()
            self._pair = await self._refresh({"access_token": "", "refresh_token": configured})
        return self._pair

    async def _refresh(self, pair: dict[str, Any]) -> dict[str, Any]:
        query = {
            "grant_type": "refresh_token",
            "client_id": self._settings.client_id,
            "client_secret": self._settings.client_secret.get_secret_value(),
            "refresh_token": pair["refresh_token"],
        }
        with upstream_errors(SYSTEM, idempotent=True):
            response = await self._client.get(
                f"{self._settings.server.rstrip('/')}/oauth/token/",
                params=query,
                timeout=self._timeout,
            )
        if response.status_code not in (200, 400, 401):
            raise_for_status(response, SYSTEM, lambda r: r.text[:300])  # down, throttled, …
        answer = json_object(response, SYSTEM, idempotent=True)
        if response.is_success and answer.get("access_token"):
            renewed = {
                "access_token": answer["access_token"],
                "refresh_token": answer["refresh_token"],
                "seed": self._seed,
            }
            _redacted(renewed)
            await self._secrets.put(self._name, renewed)
            return renewed
        stored = await self._secrets.get(self._name)
        if stored is not None and stored.get("refresh_token") != pair["refresh_token"]:
            _redacted(stored)
            return stored  # another process renewed first with the same refresh token
        # The installation's tokens are gone: only re-authorizing the application helps;
        # meanwhile the breaker holds the messages.
        raise TransientError(
            f"{SYSTEM} refused the refresh token ({answer.get('error')}): "
            "re-authorize the application and set bitrix24.oauth.refresh_token",
            http_status=response.status_code,
        )


def _redacted(pair: dict[str, Any]) -> None:
    """Tell the process's redactor the tokens of ``pair``."""
    active().remember_issued(
        *(str(pair[k]) for k in ("access_token", "refresh_token") if pair.get(k))
    )
