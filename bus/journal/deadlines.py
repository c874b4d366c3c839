"""Deadlines of requests (DESIGN.md §3.6): one that is neither done nor failed past its deadline
is reported stuck.

A request is done when every message of it is delivered (the ERP's step, the document's delivery
to the storefront) and, for a request the ERP answers later (``Route.reply``), when the answer
has arrived: the request's row says which answer it still ``awaiting``, cleared when the answer is
journaled (:mod:`bus.journal.accept`). A failed or cancelled message settles it too: that is an
operator's business, not a silent wait.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    and_,
    exists,
    false,
    func,
    or_,
    select,
    union_all,
)

from bus.journal.tables import Status, messages
from bus.settings import Settings

#: Statuses in which a message waits for nothing more.
_FINISHED = (
    Status.DELIVERED.value,
    Status.SKIPPED.value,
    Status.FAILED.value,
    Status.CANCELLED.value,
    # replaced by an operator's edit, which waits in its place (and awaits its answer)
    Status.EDITED.value,
)
#: Statuses that settle a request without it being done.
_GIVEN_UP = (Status.FAILED.value, Status.CANCELLED.value)


@dataclass(frozen=True)
class Deadlines:
    """When each kind of request must be done.

    Parameters:
        seconds: method -> seconds after acceptance.
    """

    seconds: Mapping[str, float]

    @classmethod
    def of(cls, settings: Settings) -> Deadlines:
        """The deadlines of ``settings.deadlines``."""
        return cls(settings.deadlines)

    def view(self, message: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
        """``deadline`` (ISO time or ``None``) and ``stuck`` of a message read with its children."""
        seconds = self.seconds.get(message["method"])
        if seconds is None or message["parent_id"] is not None:
            return {"deadline": None, "stuck": False}
        due = message["accepted_at"] + dt.timedelta(seconds=seconds)
        return {"deadline": due.isoformat(), "stuck": now > due and self._waiting(message)}

    def _waiting(self, message: dict[str, Any]) -> bool:
        rows = [message, *message["children"]]
        if any(row["status"] in _GIVEN_UP for row in rows):
            return False
        unfinished = any(row["status"] not in _FINISHED for row in rows)
        return message["awaiting"] is not None or unfinished

    @staticmethod
    def _candidates() -> CompoundSelect[Any]:
        """Ids that may be stuck, each found on an index instead of by testing every request:
        an unfinished request or the parent of an unfinished message (one scan of the
        unfinished, on ``ix_messages_status_due``), a request still awaiting its answer (on
        ``ix_messages_awaiting``, which holds only those). A journal of millions of delivered
        requests holds few of them."""
        c = messages.c
        waiting = [status.value for status in Status if status.value not in _FINISHED]
        return union_all(
            select(func.coalesce(c.parent_id, c.id)).where(c.status.in_(waiting)),
            select(c.id).where(c.awaiting.is_not(None)),
        )

    def stuck(self, now: dt.datetime) -> ColumnElement[bool]:
        """The SQL condition of :meth:`view`'s ``stuck``, for listing stuck requests."""
        c = messages.c
        child = messages.alias("child")
        mine = child.c.parent_id == c.id
        past_due = [
            and_(c.method == method, c.accepted_at < now - dt.timedelta(seconds=seconds))
            for method, seconds in self.seconds.items()
        ]
        return and_(
            c.id.in_(self._candidates()),
            c.parent_id.is_(None),
            or_(false(), *past_due),
            c.status.notin_(_GIVEN_UP),
            ~exists().where(mine, child.c.status.in_(_GIVEN_UP)),
            or_(
                c.status.notin_(_FINISHED),
                exists().where(mine, child.c.status.notin_(_FINISHED)),
                c.awaiting.is_not(None),
            ),
        )
