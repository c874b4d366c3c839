"""The console's forms that act: replay, release or cancel a message, each with a reason, recorded
as done by ``console:<client>`` (:mod:`bus.operations`, as the CLI does)."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from bus import operations
from bus.console.context import context, journal, session_of
from bus.console.render import problem, see_other
from bus.journal import storable

#: The longest reason kept (a reason is a sentence or two, not a document).
MAX_REASON = 1000

_MESSAGE_ACTIONS: dict[str, operations.Action] = {
    "replay": operations.replay,
    "release": operations.release,
    "cancel": operations.cancel,
}


def actor(request: web.Request) -> str:
    """Who the journal records as having acted: the console and the signed-in client."""
    return f"console:{session_of(request).client}"


async def reason_of(request: web.Request) -> str | None:
    """The form's reason, stripped, as the journal can store it (:mod:`bus.journal.storable`:
    a NUL in it was a 500 on PostgreSQL); ``None`` when missing, blank or too long."""
    reason = (await request.post()).get("reason")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        return None
    return storable.text(reason.strip())


def no_reason(request: web.Request) -> web.Response:
    """The answer to a form without a reason."""
    return problem(
        request,
        400,
        "A reason is needed",
        f"Say why (1 to {MAX_REASON} characters): it is kept with every message acted on.",
    )


async def act_on_message(request: web.Request) -> web.StreamResponse:
    """Replay, release or cancel one message; back to its page, which shows the action."""
    message_id, name = request.match_info["message_id"], request.match_info["action"]
    action = _MESSAGE_ACTIONS.get(name)
    if action is None:
        return problem(request, 404, "No such action", "Replay, release or cancel.")
    reason = await reason_of(request)
    if reason is None:
        return no_reason(request)
    settings = context(request).settings
    [result] = await action(
        settings, journal(request), [message_id], actor=actor(request), reason=reason
    )
    if not result.ok:
        return problem(request, 409, f"Not done: {name}", result.error or "refused")
    return see_other(f"/console/messages/{quote(message_id, safe='')}?done={name}")
