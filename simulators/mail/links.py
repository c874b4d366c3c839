"""Find the links in a mail body, so a test can follow a set-password link."""

from __future__ import annotations

import re

_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
#: Characters that end a sentence or close a quote around a link rather than belong to it.
_TRAILING = ".,;:!?'\"]}>*"


def extract_links(text: str) -> list[str]:
    """The http(s) URLs in ``text``, in order of appearance, each once.

    Punctuation that follows a link in prose ("see https://x.example/a." or "(https://…)") is
    not part of it; a closing parenthesis stays when the URL itself opened one.
    """
    links: list[str] = []
    for match in _URL.finditer(text):
        url = _trim(match.group())
        if url not in links:
            links.append(url)
    return links


def _trim(url: str) -> str:
    while url:
        if url[-1] in _TRAILING:
            url = url[:-1]
        elif url[-1] == ")" and url.count(")") > url.count("("):
            url = url[:-1]
        else:
            break
    return url
