"""The aiohttp app of the Creatio simulator: routing, session auth, errors, faults, hooks."""

from __future__ import annotations

import json

from aiohttp import web
from aiohttp.typedefs import Handler

from simulators import faults
from simulators.creatio import auth, hooks
from simulators.creatio.batch import run_batch
from simulators.creatio.errors import CreatioError, auth_failed_response, error_body_for_status
from simulators.creatio.hooks import HOOKS_KEY, STORE_KEY, Hooks
from simulators.creatio.metadata import metadata_document
from simulators.creatio.multipart import MULTIPART, run_multipart_batch
from simulators.creatio.odata import Call, Reply, execute, json_content_type, wants_ieee754
from simulators.creatio.store import Store

_CONTROL = faults.CONTROL_PREFIX + "creatio/"
_ODATA_ROOTS = ("/0/odata", "/odata")


def create_app(
    *, username: str = "Supervisor", password: str = "Supervisor", session_ttl: float = 3600.0
) -> web.Application:
    """Build a simulated Creatio instance with seeded accounts, contacts and order statuses.

    Login at ``POST /ServiceModel/AuthService.svc/Login``; OData 4 at ``/0/odata/`` (.NET
    Framework builds) and ``/odata/`` (.NET Core), each with ``$metadata`` and ``$batch`` (JSON or
    multipart/mixed). A saved order starts the order-changed process (see :mod:`hooks`).
    Control routes: ``/_control/creatio/...`` (session expiry, outbound hook, the processes
    started by hand) plus the shared ones of :mod:`simulators.faults`.

    Parameters:
        username: the accepted user.
        password: its password.
        session_ttl: seconds a session lives after login.
    """
    store = Store()
    app = web.Application(middlewares=[session_auth])
    app[STORE_KEY] = store
    app[auth.SESSIONS_KEY] = auth.Sessions(username, password, session_ttl)
    app[HOOKS_KEY] = Hooks()
    app.cleanup_ctx.append(hooks.client_session)
    app.router.add_post(auth.LOGIN_PATH, auth.login)
    for root in _ODATA_ROOTS:
        app.router.add_route("*", root + "/{tail:.*}", odata)
    app.router.add_post(_CONTROL + "expire_sessions", auth.expire_sessions)
    app.router.add_post(_CONTROL + "hook", hooks.register)
    app.router.add_post(_CONTROL + "account_created", hooks.account_created)
    app.router.add_post(_CONTROL + "account_deactivated", hooks.account_deactivated)
    app.router.add_post(_CONTROL + "order_changed", hooks.order_changed)
    app.router.add_get(_CONTROL + "hook_calls", hooks.hook_calls)

    def reset() -> None:
        store.reset()
        app[HOOKS_KEY].reset()

    faults.install(app, reset=reset, default_error_body=error_body_for_status)
    return app


async def odata(request: web.Request) -> web.Response:
    """Run one OData request (or a ``$batch``), then start the processes its saves trigger."""
    try:
        return await _odata(request)
    finally:
        # The store has committed whatever the request changed, answered or not.
        hooks.fire_order_changes(request.app)


async def _odata(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    tail = request.match_info["tail"]
    root = _root(request)
    ieee754 = wants_ieee754(request.headers.get("Content-Type"), request.headers.get("Accept"))
    body = await request.read()
    if tail == "$metadata":
        if request.method != "GET":
            return _respond(
                Reply(405, CreatioError(405, "$metadata is read-only.").body()), ieee754
            )
        return web.Response(
            text=metadata_document(store.sets),
            content_type="application/xml",
            charset="utf-8",
            headers={"OData-Version": "4.0"},
        )
    if tail == "$batch":
        if request.method != "POST":
            return _respond(Reply(405, CreatioError(405, "$batch needs POST.").body()), ieee754)
        return _batch(request, store, body, root, ieee754)
    call = Call(request.method, tail, request.query, body, ieee754, root)
    return _respond(execute(store, call), ieee754)


def _batch(
    request: web.Request, store: Store, body: bytes, root: str, ieee754: bool
) -> web.Response:
    """A JSON or (by its Content-Type) multipart/mixed ``$batch``."""
    prefer = request.headers.get("Prefer", "")
    try:
        if request.content_type == MULTIPART:
            content_type = request.headers.get("Content-Type", "")
            answer = run_multipart_batch(store, body, content_type, root, prefer, ieee754)
            return web.Response(
                status=200,
                body=answer.body,
                headers={"Content-Type": answer.content_type, "OData-Version": "4.0"},
            )
        reply = run_batch(store, body, root, prefer, ieee754)
    except CreatioError as error:
        reply = Reply(error.status, error.body())
    return _respond(reply, ieee754)


def _root(request: web.Request) -> str:
    prefix = "/0/odata" if request.path.startswith("/0/odata") else "/odata"
    return f"{request.url.origin()}{prefix}"


def _respond(reply: Reply, ieee754: bool) -> web.Response:
    headers = {"OData-Version": "4.0", **reply.headers}
    if reply.body is None:
        return web.Response(status=reply.status, headers=headers)
    headers["Content-Type"] = json_content_type(ieee754)
    return web.Response(status=reply.status, text=json.dumps(reply.body), headers=headers)


@web.middleware
async def session_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every OData call needs a live session cookie and the matching ``BPMCSRF`` header."""
    if request.path.startswith(_ODATA_ROOTS) and not auth.authenticated(request):
        return auth_failed_response()
    return await handler(request)
