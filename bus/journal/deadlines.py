"""Deadlines of requests (DESIGN.md §3.6): one that is neither done nor failed past its deadline
is reported stuck.

A request is done when every message of it is delivered (the ERP's step, the document's delivery
to the storefront) and, for a request the ERP answers later (``Route.reply``), when the answer
has arrived. A failed or cancelled message settles it too: that is an operator's business, not a
silent wait.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    and_,
    exists,
    false,
    or_,
    select,
    union_all,
)

from bus.journal.tables import Status, messages
from bus.routing import ROUTES
from bus.settings import Settings

#: Statuses in which a message waits for nothing more.
_FINISHED = (Status.DELIVERED.value, Status.FAILED.value, Status.CANCELLED.value)
#: Statuses that settle a request without it being done.
_GIVEN_UP = (Status.FAILED.value, Status.CANCELLED.value)


@dataclass(frozen=True)
class Deadlines:
    """When each kind of request must be done, and which answer it waits for.

    Parameters:
        seconds: method -> seconds after acceptance.
        replies: method -> the method of the answer it waits for.
    """

    seconds: Mapping[str, float]
    replies: Mapping[str, str]

    @classmethod
    def of(cls, settings: Settings) -> Deadlines:
        """The deadlines of ``settings.deadlines`` and the replies of the routes."""
        replies = {method: route.reply for method, route in ROUTES.items() if route.reply}
        return cls(settings.deadlines, replies)

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
        reply = self.replies.get(message["method"])
        answered = reply is None or any(c["method"] == reply for c in message["children"])
        return not answered or any(row["status"] not in _FINISHED for row in rows)

    def _candidates(self) -> CompoundSelect[Any]:
        """Ids that may be stuck, each found on an index instead of by testing every request:
        an unfinished request, the parent of an unfinished message, a request without the
        answer it waits for. A journal of millions of delivered requests holds few of them."""
        c = messages.c
        child = messages.alias("child")
        reply = messages.alias("reply")
        waiting = [status.value for status in Status if status.value not in _FINISHED]
        found: list[Select[Any]] = [
            select(c.id).where(c.status.in_(waiting), c.parent_id.is_(None)),
            select(child.c.parent_id).where(
                child.c.status.in_(waiting), child.c.parent_id.is_not(None)
            ),
        ]
        for method, answer in self.replies.items():
            if method in self.seconds:
                answered = exists().where(reply.c.parent_id == c.id, reply.c.method == answer)
                found.append(
                    select(c.id).where(c.method == method, c.parent_id.is_(None), ~answered)
                )
        return union_all(*found)

    def stuck(self, now: dt.datetime) -> ColumnElement[bool]:
        """The SQL condition of :meth:`view`'s ``stuck``, for listing stuck requests."""
        c = messages.c
        child = messages.alias("child")
        mine = child.c.parent_id == c.id
        past_due = [
            and_(c.method == method, c.accepted_at < now - dt.timedelta(seconds=seconds))
            for method, seconds in self.seconds.items()
        ]
        unanswered = [
            and_(c.method == method, ~exists().where(mine, child.c.method == reply))
            for method, reply in self.replies.items()
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
                *unanswered,
            ),
        )
