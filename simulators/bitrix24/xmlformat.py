"""The ``.xml`` response format: the JSON body as nested elements under ``<response>``.

A map's keys become element names, as in the docs' ``<response><result><result><get_user>…``
example. Values are written as PHP prints them: ``true`` as ``1``, ``false`` and ``null`` as an
empty element. List items, and keys that are not XML names, become ``<item>`` elements
(**unverified** against a real portal: the docs show no list).
"""

from __future__ import annotations

import re
from typing import Any
from xml.sax.saxutils import escape

CONTENT_TYPE = "text/xml"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def to_xml(body: dict[str, Any]) -> str:
    """The whole XML document of a response body (success or error)."""
    return f'<?xml version="1.0" encoding="utf-8"?><response>{_content(body)}</response>'


def _content(value: Any) -> str:
    if isinstance(value, dict):
        return "".join(_element(str(key), item) for key, item in value.items())
    if isinstance(value, list):
        return "".join(_element("item", item) for item in value)
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    return escape(str(value))


def _element(name: str, value: Any) -> str:
    tag = name if _NAME.fullmatch(name) and not name.lower().startswith("xml") else "item"
    return f"<{tag}>{_content(value)}</{tag}>"
