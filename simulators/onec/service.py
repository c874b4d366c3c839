"""The state of one simulated 1C publication, kept on its aiohttp app."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web

from simulators.onec.store import Store


@dataclass
class OneCService:
    """Configuration and data of one infobase published on the web server.

    Parameters:
        store: the infobase.
        publication: the publication name, first segment of every URL.
        username: the 1C user accepted by Basic auth.
        password: its password.
        metadata: the ``$metadata`` document.
        now: the server's clock (local time, no offset, as 1C keeps dates); tests may swap in
            a fixed moment.
    """

    store: Store
    publication: str
    username: str
    password: str
    metadata: str
    now: Callable[[], datetime] = datetime.now
    _authorization: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        self._authorization = f"Basic {token}"

    def authorized(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header carries this publication's credentials."""
        if header is None:
            return False
        if header == self._authorization:
            # The common case: no decoding.
            return True
        return _decode_basic(header) == (self.username, self.password)

    def base(self, request: web.Request) -> str:
        """The OData service root on the host the client used, with its trailing slash."""
        return f"{request.url.origin()}/{self.publication}/odata/standard.odata/"


def _decode_basic(header: str) -> tuple[str, str] | None:
    # A scheme is case-insensitive ("basic" is valid); 1C users often have Cyrillic names.
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


ONEC_KEY = web.AppKey("onec", OneCService)
