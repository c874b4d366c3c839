"""The console's pages about messages: one message with everything the journal knows of it, and
the search by business key."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bus.console.context import journal
from bus.console.lookups import SEARCH_LIMIT, BusinessKey, neighbours, search
from bus.console.render import page, problem, shown
from bus.db import reading
from bus.journal.queries import get_message
from bus.journal.tables import REPLAYABLE, Status

#: The longest business key searched for: longer text is no key.
_MAX_KEY = 200
#: What each action's notice says once done (the action's name comes back in the query).
DONE = {
    "replay": "Replayed.",
    "release": "Released.",
    "cancel": "Cancelled.",
}
#: Statuses a message may be cancelled in (delivered, cancelled and in-flight ones may not).
_CANCELLABLE = {s.value for s in Status} - {
    Status.DELIVERED.value,
    Status.CANCELLED.value,
    Status.IN_FLIGHT.value,
}


async def message(request: web.Request) -> web.StreamResponse:
    """A message: payload, result, every attempt with its exchange, operator actions, what
    blocks it, its steps, and its neighbours in its ordering key."""
    message_id = request.match_info["message_id"]
    async with reading(journal(request)) as conn:
        found = await get_message(conn, message_id)
        before, after = (
            await neighbours(conn, found["ordering_key"], found["ordering_seq"])
            if found
            else (None, None)
        )
    if found is None:
        return problem(
            request,
            404,
            "No such message",
            f"The journal holds no message {message_id} (an archived one is shown by"
            " `bus messages show`).",
        )
    status = found["status"]
    for attempt in found["attempts_log"]:
        attempt["exchanges"] = _exchanges(attempt.pop("request"), attempt.pop("response"))
    return page(
        request,
        "message.html",
        message=shown(found),
        before=before,
        after=after,
        done=DONE.get(request.query.get("done", "")),
        actions={
            "replay": status in {s.value for s in REPLAYABLE},
            "release": status == Status.HELD.value,
            "cancel": status in _CANCELLABLE,
        },
    )


def _exchanges(requests: Any, responses: Any) -> list[dict[str, Any]]:
    """An attempt's HTTP exchanges, each request with its response (``None``: unanswered) and
    whether the responses were kept at all (``retention.keep_exchange = "sent"`` keeps none of a
    delivered attempt's: its result holds what the system answered)."""
    sent = requests if isinstance(requests, list) else [requests] if requests else []
    answered = responses if isinstance(responses, list) else [responses]
    kept = responses is not None
    return [
        {"request": request, "response": answered[n] if n < len(answered) else None, "kept": kept}
        for n, request in enumerate(sent)
    ]


async def search_page(request: web.Request) -> web.StreamResponse:
    """Messages found by an order id, a customer code or an ERP number."""
    value = request.query.get("q", "").strip()
    try:
        kind = BusinessKey(request.query.get("kind", BusinessKey.ANY.value))
    except ValueError:
        return problem(request, 400, "Unknown kind", "Search by order, customer, erp or any.")
    if len(value) > _MAX_KEY:
        return problem(request, 400, "Too long", f"A key is at most {_MAX_KEY} characters.")
    found = []
    if value:
        async with reading(journal(request)) as conn:
            found = await search(conn, kind, value)
    return page(
        request,
        "search.html",
        query=value,
        kind=kind.value,
        kinds=[k.value for k in BusinessKey],
        found=shown(found),
        limit=SEARCH_LIMIT,
    )
