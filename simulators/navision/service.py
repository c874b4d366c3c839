"""The state of one simulated NAV server instance, kept on its aiohttp app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from aiohttp import web

from simulators.basic_auth import BasicCredentials
from simulators.navision.store import Store


@dataclass
class NavService:
    """Configuration and data of one NAV server instance with one company.

    Parameters:
        store: the company's data.
        instance: the server instance name in the URL (``DynamicsNAV110``).
        company: the company name.
        max_page_size: NAV's "Max Page Size" setting for server-driven paging.
        credentials: the NavUserPassword user and its password (or web service access key).
        metadata: the ``$metadata`` document.
        today: NAV's work date; tests may swap in a fixed date.
        now: the server's clock (``CurrentDateTime``), which stamps registrations; tests may
            swap in a fixed moment.
    """

    store: Store
    instance: str
    company: str
    max_page_size: int
    credentials: BasicCredentials
    metadata: str
    today: Callable[[], date] = date.today
    now: Callable[[], datetime] = lambda: datetime.now(UTC)

    def root(self, request: web.Request) -> str:
        """The OData service root on the host the client used."""
        return f"{request.url.origin()}/{self.instance}/ODataV4"


NAV_KEY = web.AppKey("navision", NavService)
