"""Text the journal can store: PostgreSQL's ``text`` and ``jsonb`` take every character but NUL.

A string with U+0000 in it, or JSON with ``\\u0000``, makes PostgreSQL refuse the whole statement.
A caller's params holding one are refused at the edge, naming the field (:func:`nul_fields`, used
by :func:`bus.rpc.parse_params`). What comes from a target (a response body, an error, a receipt)
is stored with each NUL as U+FFFD, the replacement character: its finish would otherwise be
refused, and the message left in flight, attempted again and refused again, for ever.
"""

from __future__ import annotations

import re
from typing import Any

NUL = "\x00"
#: What a NUL is stored as.
REPLACEMENT = "\ufffd"
#: A ``\\u0000`` escape in JSON text: after an even number of backslashes (an odd one makes the
#: last of them part of a ``\\\\``, and the ``u0000`` after it plain text).
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def text(value: str | None) -> str | None:
    """``value`` with every NUL replaced."""
    return value.replace(NUL, REPLACEMENT) if value and NUL in value else value


def json_text(encoded: str) -> str:
    """JSON text with every NUL of its strings replaced (keys too)."""
    return _JSON_NUL.sub(r"\1\\ufffd", encoded) if "\\u0000" in encoded else encoded


def nul_fields(value: Any, path: str = "") -> list[str]:
    """The dotted paths (``lines.0.comment``) of the strings in a JSON value holding a NUL, a key
    holding one named by the path to its object."""
    if isinstance(value, str):
        return [path or "params"] if NUL in value else []
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            found += [path or "params"] if NUL in str(key) else nul_fields(item, inner)
        return found
    if isinstance(value, list):
        return [
            field
            for number, item in enumerate(value)
            for field in nul_fields(item, f"{path}.{number}" if path else str(number))
        ]
    return []
