"""The console's failure groups (:func:`bus.operations.groups`): messages waiting for an operator,
grouped by target, method and error; a group's messages; replay or cancel of a whole group.

A group's form carries the count the operator saw: if the group has grown or shrunk since, the
action is refused and the page shown again with the new count, so nobody replays two thousand
messages having seen twelve.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from aiohttp import web

from bus import operations
from bus.console.actions import actor, no_reason, reason_of
from bus.console.context import context, journal
from bus.console.render import page, problem, see_other, shown
from bus.journal.queries import MessageFilter

#: A group's id (:func:`bus.journal.groups.group_id`).
_GROUP_ID = re.compile(r"^[0-9a-f]{10}$")
#: The messages of a group a page lists at most.
_LISTED = 100

_GROUP_ACTIONS: dict[str, operations.Action] = {
    "replay": operations.replay,
    "cancel": operations.cancel,
}
#: What the notice says after a group action, by action.
_DONE = {"replay": "Replayed", "cancel": "Cancelled"}


async def groups_page(request: web.Request) -> web.StreamResponse:
    """Every failure group, most messages first, each with its replay and cancel form."""
    found = await operations.groups(journal(request))
    return page(
        request,
        "groups.html",
        groups=[shown(vars(group)) for group in found],
        done=_notice(request),
    )


async def group_page(request: web.Request) -> web.StreamResponse:
    """The newest messages of one failure group."""
    group = request.match_info["group"]
    if not _GROUP_ID.match(group):
        return problem(request, 404, "No such group", "A group's id is 10 hex digits.")
    ids = await operations.select_ids(journal(request), None, group=group)
    shown_ids = tuple(ids[:_LISTED])
    found = (
        await operations.find(journal(request), MessageFilter(ids=shown_ids), _LISTED)
        if shown_ids
        else []
    )
    return page(
        request, "group.html", group=group, total=len(ids), found=shown(found), limit=_LISTED
    )


async def act_on_group(request: web.Request) -> web.StreamResponse:
    """Replay or cancel every message of a group, as many as the operator saw."""
    group, name = request.match_info["group"], request.match_info["action"]
    action = _GROUP_ACTIONS.get(name)
    if action is None or not _GROUP_ID.match(group):
        return problem(request, 404, "No such action", "A group is replayed or cancelled.")
    reason = await reason_of(request)
    if reason is None:
        return no_reason(request)
    seen = (await request.post()).get("count")
    ids = await operations.select_ids(journal(request), None, group=group)
    if not ids:
        return problem(request, 409, "The group is empty", "No message of it waits any more.")
    if not isinstance(seen, str) or seen != str(len(ids)):
        return problem(
            request,
            409,
            "The group has changed",
            f"It holds {len(ids)} message(s) now, not the {seen!s:.10} shown: look at it again,"
            " then act.",
        )
    settings = context(request).settings
    results = await action(settings, journal(request), ids, actor=actor(request), reason=reason)
    done = sum(1 for result in results if result.ok)
    query = urlencode({"done": name, "ok": done, "refused": len(results) - done})
    return see_other(f"/console/groups?{query}")


def _notice(request: web.Request) -> str | None:
    """What the last group action did, from the numbers its redirect carries."""
    name, ok, refused = (request.query.get(k, "") for k in ("done", "ok", "refused"))
    if name not in _DONE or not ok.isdigit() or not refused.isdigit():
        return None
    notice = f"{_DONE[name]} {int(ok)} message(s)."
    return notice + (f" {int(refused)} refused (their status changed)." if int(refused) else "")
