"""Pages: Jinja2 templates rendered with the session, redacted, with headers that keep them
private (no cache, no scripts, no framing)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import jinja2
import markupsafe
from aiohttp import web

from bus import redaction
from bus.console.context import session_if_any

#: No script runs on a console page, nothing is framed, forms post only to the bus.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self';"
        " frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # Payloads and exchanges are no business of a shared cache or the browser's history.
    "Cache-Control": "no-store",
}


def _finalize(value: Any) -> Any:
    # Every text a template prints is redacted once more, whatever a page forgot to redact.
    # Markup is the templates' own (a macro's output), made of values finalized already.
    if isinstance(value, str) and not isinstance(value, markupsafe.Markup):
        return redaction.redact(value)
    return value


def _pretty(value: Any) -> str:
    """A JSON value as indented text."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str, sort_keys=False)


def _when(value: dt.datetime | None) -> str:
    """A time as operators read it: UTC, to the second."""
    if value is None:
        return "—"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _age(seconds: float) -> str:
    """A wait as operators read it: ``45 s``, ``12 min``, ``3 h 4 min``, ``2 d 3 h``."""
    whole = max(0, int(seconds))
    days, hours, minutes = whole // 86400, whole // 3600 % 24, whole // 60 % 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{whole} s"


_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("bus.console", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    finalize=_finalize,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENVIRONMENT.filters["pretty"] = _pretty
_ENVIRONMENT.filters["when"] = _when
_ENVIRONMENT.filters["age"] = _age


def shown(value: Any) -> Any:
    """What the journal holds as a page may show it: fields named as secrets hidden, sealed
    values and known secrets redacted (as the CLI prints it)."""
    return redaction.active().json(value)


def page(request: web.Request, template: str, *, status: int = 200, **values: Any) -> web.Response:
    """The page ``template`` rendered with ``values`` and the request's session."""
    body = _ENVIRONMENT.get_template(template).render(
        session=session_if_any(), path=request.path, **values
    )
    response = web.Response(text=body, status=status, content_type="text/html", charset="utf-8")
    response.headers.update(_HEADERS)
    return response


def problem(request: web.Request, status: int, title: str, detail: str) -> web.Response:
    """A page saying what went wrong and what to do."""
    return page(request, "problem.html", status=status, title=title, detail=detail)


def see_other(location: str) -> web.Response:
    """Answer a form with a redirect to the page that shows its outcome (a reload does not
    post it again)."""
    return web.Response(status=303, headers={"Location": location, **_HEADERS})
