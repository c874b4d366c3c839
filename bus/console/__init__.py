"""The operators' web console under ``/console``: server-rendered pages of the journal (overview,
failure groups, a message, search by business key) and forms that replay, release or cancel,
for the operators' client only.

It is a sub-application of ``bus serve``'s (:func:`install`), sharing its journal; its pages are
Jinja2 templates shipped in the package, with no script. See :mod:`bus.console.access` for who
may enter and :mod:`bus.console.session` for the session.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bus import redaction
from bus.console import access, actions, groups, overview, pages
from bus.console.context import CONTEXT, ConsoleContext
from bus.console.render import see_other
from bus.console.session import SessionCookies
from bus.settings import Settings

#: The style sheet, read once: the only file the console serves besides its pages.
_STYLE = resources.files("bus.console").joinpath("static/console.css").read_bytes()


def install(
    app: web.Application, settings: Settings, journal: Callable[[web.Request], AsyncEngine]
) -> None:
    """Serve the console on ``app`` under ``/console``; ``journal`` gives a request's engine."""
    redaction.configure(settings)  # pages show nothing the deployment's secrets are in
    console = web.Application(middlewares=[access.require_operator])
    console[CONTEXT] = ConsoleContext(
        settings, SessionCookies(settings.journal_encryption_keys), journal
    )
    console.router.add_get("/login", access.login_form)
    console.router.add_post("/login", access.login)
    console.router.add_post("/logout", access.logout)
    console.router.add_get("/static/console.css", _style)
    console.router.add_get("/", overview.overview_page)
    console.router.add_get("/messages", overview.listing)
    console.router.add_get("/groups", groups.groups_page)
    console.router.add_get("/groups/{group}", groups.group_page)
    console.router.add_post("/groups/{group}/{action}", groups.act_on_group)
    console.router.add_get("/messages/{message_id}", pages.message)
    console.router.add_post("/messages/{message_id}/{action}", actions.act_on_message)
    console.router.add_get("/search", pages.search_page)
    app.router.add_get("/console", _to_home)
    app.add_subapp("/console", console)


async def _to_home(request: web.Request) -> web.StreamResponse:
    return see_other(access.HOME)


async def _style(request: web.Request) -> web.StreamResponse:
    return web.Response(
        body=_STYLE,
        content_type="text/css",
        headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
