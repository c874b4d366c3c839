"""The state of one simulated NAV server instance, kept on its aiohttp app."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from aiohttp import web

from simulators.navision.store import Store


@dataclass
class NavService:
    """Configuration and data of one NAV server instance with one company.

    Parameters:
        store: the company's data.
        instance: the server instance name in the URL (``DynamicsNAV110``).
        company: the company name.
        max_page_size: NAV's "Max Page Size" setting for server-driven paging.
        username: the NavUserPassword user.
        password: its password (or web service access key).
        metadata: the ``$metadata`` document.
        today: NAV's work date; tests may swap in a fixed date.
    """

    store: Store
    instance: str
    company: str
    max_page_size: int
    username: str
    password: str
    metadata: str
    today: Callable[[], date] = date.today
    _authorization: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        self._authorization = f"Basic {token}"

    def authorized(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header carries this server's credentials."""
        if header is None:
            return False
        if header == self._authorization:
            # Every request of a benchmark takes this path: no decoding.
            return True
        return _decode_basic(header) == (self.username, self.password)

    def root(self, request: web.Request) -> str:
        """The OData service root on the host the client used."""
        return f"{request.url.origin()}/{self.instance}/ODataV4"


def _decode_basic(header: str) -> tuple[str, str] | None:
    # aiohttp 3.14 deprecates BasicAuth, and a scheme is case-insensitive ("basic" is valid).
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


NAV_KEY = web.AppKey("navision", NavService)
