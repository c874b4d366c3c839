"""The state of one simulated 1C publication, kept on its aiohttp app."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from simulators.basic_auth import BasicCredentials
from simulators.onec.store import Store


@dataclass
class OneCService:
    """Configuration and data of one infobase published on the web server.

    Parameters:
        store: the infobase.
        publication: the publication name, first segment of every URL.
        credentials: the 1C user accepted by Basic auth and its password.
        metadata: the ``$metadata`` document.
        now: the server's clock (local time, no offset, as 1C keeps dates); tests may swap in
            a fixed moment.
        clock: monotonic seconds, for how long a document has been in preparation; kept apart
            from ``now`` so a test can fix the date and still let time pass (or fake both).
    """

    store: Store
    publication: str
    credentials: BasicCredentials
    metadata: str
    now: Callable[[], datetime] = datetime.now
    clock: Callable[[], float] = time.monotonic

    def base(self, request: web.Request) -> str:
        """The OData service root on the host the client used, with its trailing slash."""
        return f"{request.url.origin()}/{self.publication}/odata/standard.odata/"


ONEC_KEY = web.AppKey("onec", OneCService)
