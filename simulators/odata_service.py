"""The HTTP edge the NAV and 1C OData services share: the error carrier and JSON answers.

What differs between them stays with each simulator: the error envelope (NAV's ``error`` with a
correlation id, 1C's ``odata.error`` with a Russian ``message.value``), the content type and
the version header (``OData-Version: 4.0`` vs ``DataServiceVersion: 3.0``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web


class ODataError(Exception):
    """A failure a service answers with its error envelope; subclassed once per simulator.

    Parameters:
        status: the HTTP status to answer with.
        code: the server's error code (NAV's ``Internal_RecordNotFound``, 1C's ``"9"``).
        message: the human text of the envelope.
        headers: extra response headers (``WWW-Authenticate`` for 401).
    """

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def json_response(
    payload: Mapping[str, Any],
    status: int,
    dialect: Mapping[str, str],
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """``payload`` as compact JSON with the ``dialect``'s headers, then the extra ``headers``.

    ``dialect`` carries the content type and version header of the service's OData version.
    Both servers write non-ASCII text as is (Cyrillic names, accented wine names), not as
    ``\\u`` escapes, and no blanks after separators.
    """
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return web.Response(body=body, status=status, headers={**dialect, **(headers or {})})
