"""HTTP Basic credentials as the NAV (NavUserPassword) and 1C web servers check them."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class BasicCredentials:
    """The one user a simulated server accepts.

    Parameters:
        username: the user name (1C users often have Cyrillic ones).
        password: its password (NAV also takes a web service access key here).
    """

    username: str
    password: str

    @cached_property
    def _header(self) -> str:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return f"Basic {token}"

    def accept(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header carries these credentials."""
        if header is None:
            return False
        if header == self._header:
            # Every request of a benchmark takes this path: no decoding.
            return True
        return _decode(header) == (self.username, self.password)


def _decode(header: str) -> tuple[str, str] | None:
    # aiohttp 3.14 deprecates BasicAuth, and a scheme is case-insensitive ("basic" is valid).
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None
