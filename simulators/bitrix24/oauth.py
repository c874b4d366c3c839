"""OAuth 2.0 for a local application: access/refresh token pairs and their checks.

REST calls to ``/rest/{method}`` carry ``auth=<access_token>``. An access token lives
``ttl`` seconds on the injectable clock (3600 like Bitrix24) unless the control API expires it
sooner; a refresh token lives 180 days and can be used once: ``/oauth/token/`` with
``grant_type=refresh_token`` trades it, with the application's ``client_id`` and
``client_secret``, for a new pair. Older access tokens stay valid until they expire.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from simulators.bitrix24.errors import B24Error, no_auth
from simulators.bitrix24.events import MEMBER_ID

#: How long a refresh token can be used.
REFRESH_TTL = 180 * 24 * 3600
#: Where Bitrix24's authorization server lives; tokens name it as their issuer.
SERVER_ENDPOINT = "https://oauth.bitrix.info/rest/"


class OAuthError(Exception):
    """A refused token request: the HTTP status and the OAuth ``error`` code."""

    def __init__(self, code: str, description: str, status: int = 400) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        """The error as the authorization server sends it."""
        return {"error": self.code, "error_description": self.description}


class TokenStore:
    """The tokens issued to the one application installed on the portal.

    Parameters:
        client_id: the application's id.
        client_secret: its secret.
        user_id: the user the tokens act for.
        ttl: seconds an access token lives.
        clock: monotonic seconds; tests pass a fake.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        user_id: int,
        ttl: float,
        clock: Callable[[], float],
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.user_id = user_id
        self.ttl = ttl
        self.clock = clock
        self._access: dict[str, float] = {}
        self._refresh: dict[str, float] = {}

    def issue(self) -> tuple[str, str]:
        """A new ``(access_token, refresh_token)`` pair."""
        access, refresh = secrets.token_hex(32), secrets.token_hex(32)
        now = self.clock()
        self._access[access] = now + self.ttl
        self._refresh[refresh] = now + REFRESH_TTL
        return access, refresh

    def check(self, token: Any) -> None:
        """Accept a live access token.

        Raises:
            B24Error: 401 ``NO_AUTH_FOUND`` without a token, ``expired_token`` for an expired
                one, ``invalid_token`` for one this portal never issued.
        """
        if not isinstance(token, str) or not token:
            raise no_auth()
        expires_at = self._access.get(token)
        if expires_at is None:
            raise B24Error(401, "invalid_token", "The access token provided is invalid.")
        if self.clock() >= expires_at:
            raise B24Error(401, "expired_token", "The access token provided has expired.")

    def refresh(self, params: dict[str, str]) -> tuple[str, str]:
        """Trade a refresh token for a new pair (``/oauth/token/`` parameters).

        Raises:
            OAuthError: ``invalid_request`` for another grant type or missing parameters,
                ``invalid_client`` for wrong application credentials, ``invalid_grant`` for an
                unknown, used or expired refresh token.
        """
        if params.get("grant_type") != "refresh_token":
            raise OAuthError("invalid_request", "Only grant_type=refresh_token is supported.")
        token = params.get("refresh_token", "")
        if not token or "client_id" not in params or "client_secret" not in params:
            raise OAuthError("invalid_request", "Request parameters are missing.")
        credentials = (params["client_id"], params["client_secret"])
        if credentials != (self.client_id, self.client_secret):
            raise OAuthError("invalid_client", "Invalid client credentials.")
        expires_at = self._refresh.pop(token, None)
        if expires_at is None or self.clock() >= expires_at:
            raise OAuthError("invalid_grant", "Invalid refresh token.")
        return self.issue()

    def expire(self, access_token: str | None = None) -> int:
        """End one access token (or all of them) now; returns how many were live."""
        now = self.clock()
        tokens = list(self._access) if access_token is None else [access_token]
        ended = 0
        for token in tokens:
            if token in self._access and self._access[token] > now:
                self._access[token] = now
                ended += 1
        return ended

    def token_response(self, pair: tuple[str, str], portal: str) -> dict[str, Any]:
        """The JSON the authorization server answers a token request with."""
        access, refresh = pair
        return {
            "access_token": access,
            "expires": int(time.time() + self.ttl),
            "expires_in": int(self.ttl),
            "scope": "crm",
            "domain": "oauth.bitrix.info",
            "server_endpoint": SERVER_ENDPOINT,
            "status": "L",
            "client_endpoint": f"{portal}/rest/",
            "member_id": MEMBER_ID,
            "user_id": self.user_id,
            "refresh_token": refresh,
        }
