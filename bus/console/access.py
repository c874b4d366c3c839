"""Who may use the console: operators signed in with their client's key, forms with their
session's CSRF token.

Keys are the JSON-RPC edge's own (``clients`` in the settings), checked the edge's way
(:func:`bus.rpc.client_of`); only the clients in :data:`OPERATORS` may enter. A sign-in starts
a session (:mod:`bus.console.session`); every page but the sign-in form needs one, and every
other form posted must carry the session's CSRF token (the cookie being SameSite=Strict
already keeps other sites' forms out; the token keeps out anything that slips past that).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web

from bus.console.context import context, session_of, signed_in
from bus.console.render import page, problem, see_other
from bus.console.session import Session, fingerprint
from bus.rpc import client_of

#: The clients that may enter the console: the operators' client.
OPERATORS = frozenset({"ops"})
#: Paths of the console open to anyone: the sign-in form and the style sheet.
_OPEN = ("/console/login", "/console/static/")
#: Where a sign-in goes when it was not sent from elsewhere.
HOME = "/console/"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def require_operator(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Let a request through with a valid operator's session (and, for a form, its CSRF token);
    send a browser without one to the sign-in form."""
    if request.path.startswith(_OPEN):
        return await handler(request)
    session = _valid_session(request)
    if session is None:
        if request.method in ("GET", "HEAD"):
            return see_other(f"/console/login?next={quote(request.path_qs, safe='/')}")
        return problem(request, 403, "Signed out", "Sign in again, then send the form again.")
    if request.method == "POST":
        form = await request.post()
        token = form.get("csrf")
        if not isinstance(token, str) or not session.csrf_matches(token):
            return problem(
                request,
                403,
                "The form is stale",
                "The form did not carry this session's token: reload the page and send it again.",
            )
    with signed_in(session):
        return await handler(request)


def _valid_session(request: web.Request) -> Session | None:
    """The request's session while its client is still an operator with the key it signed in
    with (a replaced key or a client removed from the settings ends the session)."""
    settings = context(request).settings
    session = context(request).cookies.read(request)
    if session is None or session.client not in OPERATORS:
        return None
    client = settings.clients.get(session.client)
    if client is None or fingerprint(client.key) != session.key_fingerprint:
        return None
    return session


async def login_form(request: web.Request) -> web.StreamResponse:
    """The sign-in form."""
    return page(request, "login.html", next=_next(request.query.get("next")), error=None)


async def login(request: web.Request) -> web.StreamResponse:
    """Sign in with an operator's key: a session cookie and on to the page asked for."""
    form = await request.post()
    key, wanted = form.get("key"), _next(_text(form.get("next")))
    clients = context(request).settings.clients
    keys = {client.key.get_secret_value(): name for name, client in clients.items()}
    name = client_of(keys, key) if isinstance(key, str) and key else None
    if name is None:
        return _refused(request, 401, wanted, "That key is not known.")
    if name not in OPERATORS:
        return _refused(
            request, 403, wanted, "That key is not an operator's: the console is for operators."
        )
    response = see_other(wanted)
    context(request).cookies.write(request, response, Session.start(name, clients[name].key))
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    """End the session (a form with the session's CSRF token, checked on the way in)."""
    session_of(request)  # there is one: the access check let the form through
    response = see_other("/console/login")
    context(request).cookies.clear(response)
    return response


def _refused(request: web.Request, status: int, wanted: str, error: str) -> web.Response:
    # The key is never written back into the form.
    return page(request, "login.html", status=status, next=wanted, error=error)


def _next(wanted: str | None) -> str:
    """Where to go after signing in: a page of the console, never another site."""
    if wanted and wanted.startswith("/console/") and not wanted.startswith("/console//"):
        return wanted
    return HOME


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
