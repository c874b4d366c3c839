"""The console's overview: the bus at a glance (:func:`bus.operations.status`, as ``bus status``
reads it), and the listing a count of it links to."""

from __future__ import annotations

from aiohttp import web

from bus import operations
from bus.console.context import context, journal
from bus.console.render import page, problem, shown
from bus.journal.queries import MessageFilter
from bus.journal.tables import Status

#: Messages a listing shows at most, newest first.
LIST_LIMIT = 100
#: The longest target name a listing filters by.
_MAX_NAME = 64


async def overview_page(request: web.Request) -> web.StreamResponse:
    """Counts per target and status, the oldest waiting message per status, breakers, paused
    targets, throughput over the last minutes, and the Redis queues' depth."""
    found = await operations.status(context(request).settings, journal(request))
    busiest = max((max(m.delivered, m.failed) for m in found.throughput), default=0)
    return page(
        request,
        "overview.html",
        overview=found,
        breakers=[shown(vars(b)) for b in found.breakers],
        busiest=max(busiest, 1),
    )


async def listing(request: web.Request) -> web.StreamResponse:
    """The newest messages of a target in a status (what a count of the overview links to)."""
    target = request.query.get("target") or None
    status = request.query.get("status") or None
    if status is not None and status not in {s.value for s in Status}:
        return problem(request, 400, "Unknown status", f"Statuses: {', '.join(Status)}.")
    if target is not None and len(target) > _MAX_NAME:
        return problem(request, 400, "Unknown target", "No target has so long a name.")
    where = MessageFilter(statuses=(status,) if status else (), target=target)
    found = await operations.find(journal(request), where, LIST_LIMIT)
    total = await operations.count(journal(request), where)
    return page(
        request,
        "listing.html",
        target=target,
        wanted_status=status,
        found=shown(found),
        total=total,
        limit=LIST_LIMIT,
    )
