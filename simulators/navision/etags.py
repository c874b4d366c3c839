"""NAV-style weak etags and the ``If-Match`` check NAV enforces on every write.

A NAV etag is ``W/"<base64>"`` where the base64 text decodes to ``'<n>;<key>;<row
version>;'``. Clients must treat it as opaque; the simulator only needs to tell its own stale
tokens (409) from foreign garbage (400).
"""

from __future__ import annotations

import base64
import binascii

from simulators.navision.errors import NavError
from simulators.navision.store import Key

_INVALID_TOKEN = (
    "Could not validate the client concurrency token required by the service. "
    "Please provide a valid token in the client request."
)


def make_etag(key: Key, version: int) -> str:
    """The etag of the record with ``key`` at row ``version``."""
    key_text = base64.b64encode(";".join(map(str, key)).encode()).decode()
    inner = f"'{len(key_text)};{key_text}1;{version};'"
    return f'W/"{base64.b64encode(inner.encode()).decode()}"'


def check_if_match(header: str | None, current: str) -> None:
    """Enforce NAV's optimistic concurrency on PATCH/PUT/MERGE/DELETE.

    Raises:
        NavError: 400 ``BadRequest_InvalidToken`` when ``If-Match`` is missing or is not a
            token this server issued; 409 ``Request_EntityChanged`` when it is stale.
    """
    if header is None or not header.strip():
        raise NavError(400, "BadRequest_InvalidToken", _INVALID_TOKEN)
    tokens = [t.strip() for t in header.split(",")]
    if "*" in tokens or any(_opaque(t) == _opaque(current) for t in tokens):
        return
    if not all(_is_ours(t) for t in tokens):
        raise NavError(400, "BadRequest_InvalidToken", _INVALID_TOKEN)
    raise NavError(409, "Request_EntityChanged", "Another user has already changed the record.")


def _opaque(token: str) -> str:
    # Clients differ on keeping the weak prefix; compare the quoted-string part only.
    return token.removeprefix("W/").strip('"')


def _is_ours(token: str) -> bool:
    try:
        inner = base64.b64decode(_opaque(token), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    return inner.startswith("'") and inner.endswith(";'")
