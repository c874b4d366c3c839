"""What every handler of the console reaches: the settings, the journal, the session cookies, and
the signed-in session of the request."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.console.session import Session, SessionCookies
from bus.settings import Settings

#: The session of the request being handled, as the access check found it; a context variable
#: rather than the request's storage, whose string keys aiohttp warns of.
_SESSION: ContextVar[Session | None] = ContextVar("bus_console_session", default=None)


@dataclass(frozen=True)
class ConsoleContext:
    """The console's share of the bus.

    Parameters:
        settings: the deployment's settings (clients, targets, notices).
        cookies: reads and writes session cookies.
        journal: the journal's engine of the running bus, for a request.
    """

    settings: Settings
    cookies: SessionCookies
    journal: Callable[[web.Request], AsyncEngine]


CONTEXT = web.AppKey("console", ConsoleContext)


def context(request: web.Request) -> ConsoleContext:
    """The console's context of ``request``."""
    return request.config_dict[CONTEXT]


def journal(request: web.Request) -> AsyncEngine:
    """The journal's engine."""
    return context(request).journal(request)


@contextmanager
def signed_in(session: Session) -> Iterator[None]:
    """Handle a request as ``session``'s (the access check wraps the handler in it)."""
    token = _SESSION.set(session)
    try:
        yield
    finally:
        _SESSION.reset(token)


def session_of(request: web.Request) -> Session:
    """The signed-in session of a request the access check let through."""
    session = _SESSION.get()
    if session is None:
        raise RuntimeError(f"{request.path} is served without a session")
    return session


def session_if_any() -> Session | None:
    """The session of the request being handled, if any (pages shown signed out too)."""
    return _SESSION.get()
