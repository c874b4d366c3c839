"""Forms authentication: ``AuthService.svc/Login``, session cookies and the ``BPMCSRF`` check."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

#: The cookie that carries the session.
SESSION_COOKIE = ".ASPXAUTH"
CSRF_COOKIE = "BPMCSRF"
LOGIN_PATH = "/ServiceModel/AuthService.svc/Login"


@dataclass
class Session:
    """One logged-in session: its CSRF token and when it expires (monotonic seconds)."""

    csrf: str
    expires_at: float


@dataclass
class Sessions:
    """The credentials Creatio accepts and its live sessions.

    Parameters:
        username: the accepted user.
        password: its password.
        ttl: seconds a session lives.
        clock: monotonic seconds; tests may swap it.
    """

    username: str
    password: str
    ttl: float
    clock: Callable[[], float] = time.monotonic
    _live: dict[str, Session] = field(default_factory=dict)

    def login(self, username: str, password: str) -> tuple[str, Session] | None:
        """A new session token and session, or ``None`` for wrong credentials."""
        if (username, password) != (self.username, self.password):
            return None
        token = secrets.token_hex(32)
        session = Session(secrets.token_urlsafe(16), self.clock() + self.ttl)
        self._live[token] = session
        return token, session

    def valid(self, token: str | None, csrf: str | None) -> bool:
        """Whether ``token`` names a live session whose CSRF token is ``csrf``."""
        session = self._live.get(token or "")
        if session is None or self.clock() >= session.expires_at:
            return False
        return csrf is not None and secrets.compare_digest(csrf, session.csrf)

    def expire_all(self) -> int:
        """End every session now; returns how many there were."""
        count = len(self._live)
        self._live.clear()
        return count


SESSIONS_KEY = web.AppKey("creatio_sessions", Sessions)


def _failure(message: str) -> dict[str, Any]:
    return {
        "Code": 1,
        "Message": message,
        "Exception": {
            "HelpLink": None,
            "InnerException": None,
            "Message": message,
            "StackTrace": None,
            "Type": "Terrasoft.Common.InvalidObjectStateException",
        },
        "PasswordChangeUrl": None,
        "RedirectUrl": None,
    }


async def login(request: web.Request) -> web.Response:
    """``POST AuthService.svc/Login``: always 200; ``Code`` 0 with cookies, or 1 without."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return web.json_response(_failure("Invalid request body."))
    user, password = body.get("UserName"), body.get("UserPassword")
    sessions = request.app[SESSIONS_KEY]
    created = sessions.login(str(user), str(password))
    if created is None:
        return web.json_response(_failure("Invalid username or password specified."))
    token, session = created
    response = web.json_response(
        {
            "Code": 0,
            "Message": "",
            "Exception": None,
            "PasswordChangeUrl": None,
            "RedirectUrl": None,
        }
    )
    response.set_cookie(SESSION_COOKIE, token, path="/", httponly=True)
    response.set_cookie(CSRF_COOKIE, session.csrf, path="/")
    response.set_cookie("BPMLOADER", secrets.token_hex(12), path="/", httponly=True)
    response.set_cookie("UserName", str(user), path="/")
    response.set_cookie("BPMSESSIONID", secrets.token_hex(12), path="/", httponly=True)
    return response


def authenticated(request: web.Request) -> bool:
    """Whether the request carries a live session cookie and the matching ``BPMCSRF`` header."""
    sessions = request.app[SESSIONS_KEY]
    return sessions.valid(request.cookies.get(SESSION_COOKIE), request.headers.get("BPMCSRF"))


async def expire_sessions(request: web.Request) -> web.Response:
    """``POST /_control/creatio/expire_sessions``: every session ends now."""
    return web.json_response({"expired": request.app[SESSIONS_KEY].expire_all()})
