"""Text the journal can store: PostgreSQL's ``text`` and ``jsonb`` take every character but NUL
(U+0000) and the halves of a surrogate pair standing alone (U+D800 to U+DFFF, which no UTF-8
text holds; JSON can write them, ``\\ud800``, and Python reads them into a ``str``).

A string with one, or JSON with its escape, makes PostgreSQL refuse the whole statement. A
caller's params holding a NUL are refused at the edge, naming the field (:func:`nul_fields`, used
by :func:`bus.rpc.parse_params`; pydantic refuses a lone surrogate itself). What comes from a
target (a response body, an error, a receipt) is stored with each as U+FFFD, the replacement
character: its finish would otherwise be refused, and the message left in flight, attempted again
and refused again, for ever.
"""

from __future__ import annotations

import json
import re
from typing import Any

NUL = "\x00"
#: What a character the journal cannot store is stored as.
REPLACEMENT = "\ufffd"
#: In a ``str``: NUL, or a surrogate (Python's JSON reader joins a pair into one character, so
#: one left is alone).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
#: In JSON text as ``json.dumps`` writes it (ASCII, lower-case escapes): a NUL's escape, a high
#: surrogate's not followed by a low one's, a low one's not after a high one's; each after an
#: even number of backslashes (after an odd one, the last backslash is part of a ``\\\\`` and
#: the letters after it plain text).
_JSON_UNSTORABLE = re.compile(
    r"(?<!\\)((?:\\\\)*)"
    r"(\\u0000|\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f][0-9a-f]{2})"
    r"|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2})"
)


def text(value: str | None) -> str | None:
    """``value`` with every character the journal cannot store replaced."""
    return _UNSTORABLE.sub(REPLACEMENT, value) if value else value


def json_text(encoded: str) -> str:
    """JSON text (``json.dumps``'s) with every escape of a character the journal cannot store
    replaced by U+FFFD's, in keys and values."""
    if "\\u0000" not in encoded and "\\ud" not in encoded:
        return encoded
    return _JSON_UNSTORABLE.sub(r"\1\\ufffd", encoded)


def json_dumps(value: Any) -> str:
    """``value`` as JSON text the journal can store (:func:`json_text` of ``json.dumps``)."""
    return json_text(json.dumps(value))


def nul_fields(value: Any) -> list[str]:
    """The dotted paths (``lines.0.comment``) of the strings in a JSON value holding a NUL, a key
    holding one named by the path to its object."""
    # The common case found without building a path for every string.
    return _nul_paths(value, "") if _holds_nul(value) else []


def _nul_paths(value: Any, path: str) -> list[str]:
    if isinstance(value, str):
        return [path or "params"] if NUL in value else []
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            found += [path or "params"] if NUL in str(key) else _nul_paths(item, inner)
        return found
    if isinstance(value, list):
        return [
            field
            for number, item in enumerate(value)
            for field in _nul_paths(item, f"{path}.{number}" if path else str(number))
        ]
    return []


def _holds_nul(value: Any) -> bool:
    """Whether a NUL is anywhere in a JSON value, its keys included."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        for key, item in value.items():
            if NUL in str(key) or _holds_nul(item):
                return True
    elif isinstance(value, list):
        for item in value:
            if _holds_nul(item):
                return True
    return False
