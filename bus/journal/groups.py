"""Failure groups: the messages that wait for an operator, grouped by what went wrong.

A failure group is every ``failed`` message (and every ``unknown_outcome`` one with no attempt
left) of one target and method whose last errors read the same once the values that differ from
message to message are taken out (:func:`normalize`): ``navision answered 400: order A-17 …`` and
``… order A-18 …`` are one group. Each group has an id that stays the same across calls and
processes (a short digest of its target, method and normalized error), so an operator can list the
groups, read one, and replay or cancel that group by its id (:func:`group_members`).

Plain async functions over an open connection, returning typed data: the CLI
(``bus messages groups``) and the web console both read them.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bus.journal.queries import MessageFilter
from bus.journal.tables import Status, messages

#: What stands for a value taken out of an error: a number or an id, and a quoted value.
VALUE = "#"
QUOTED = "'…'"

#: One pass over the error, left to right; the first alternative that matches at a place wins:
#: an HTTP status stays (a 400 and a 503 are different failures), a quoted value goes whole,
#: and a word with a digit in it (a number, an order id, a date, a ULID or UUID) goes.
_PARTS = re.compile(
    r"(?P<status>\b(?:answered|HTTP|status)\s+\d{3}\b)"
    r"|(?P<quoted>(?<!\w)(?:'[^']*'|\"[^\"]*\"|«[^»]*»|`[^`]*`)(?!\w))"
    r"|(?P<word>\w(?:[\w\-./:+]*\w)?)",
)
_SPACES = re.compile(r"\s+")


def normalize(error: str | None) -> str:
    """``error`` with what differs between messages of one failure taken out: quoted values
    become ``'…'``, words with a digit in them (numbers, ids, dates) ``#``; HTTP statuses stay,
    runs of spaces become one."""

    def part(match: re.Match[str]) -> str:
        if match["status"]:
            return match["status"]
        if match["quoted"]:
            return QUOTED
        word = match["word"]
        return VALUE if any(ch.isdigit() for ch in word) else word

    return _SPACES.sub(" ", _PARTS.sub(part, error or "")).strip()


def group_id(target: str, method: str, normalized: str) -> str:
    """The id of the failure group of ``target``, ``method`` and a :func:`normalize` d error:
    10 hex digits of its SHA-256, the same in every process and on every call."""
    key = f"{target}\n{method}\n{normalized}".encode()
    return hashlib.sha256(key).hexdigest()[:10]


def waiting_for_operator() -> ColumnElement[bool]:
    """Messages nothing moves on but an operator: failed, or an unknown outcome with no attempt
    left (no next attempt time). Both are on ``ix_messages_status_due``."""
    return or_(
        messages.c.status == Status.FAILED.value,
        and_(
            messages.c.status == Status.UNKNOWN_OUTCOME.value,
            messages.c.next_attempt_at.is_(None),
        ),
    )


@dataclass(frozen=True)
class FailureGroup:
    """Messages of one target and method that wait for an operator with the same error."""

    #: stable across calls: :func:`group_id`
    id: str
    target: str
    method: str
    #: the error with its values taken out (:func:`normalize`)
    error: str
    count: int
    #: when the group's oldest and newest failure were journaled (the messages' ``updated_at``)
    first_seen: dt.datetime
    last_seen: dt.datetime
    #: the newest message of the group, and its error as it was
    example_id: str
    example_error: str


async def failure_groups(
    conn: AsyncConnection, where: MessageFilter | None = None
) -> list[FailureGroup]:
    """Every failure group (of the messages ``where`` also selects), most messages first.

    Reads the id, target, method, error and time of each message waiting for an operator (on
    ``ix_messages_status_due``), and groups them here: a regular expression reads the same on
    SQLite and PostgreSQL, and the rows read are only the failed ones.
    """
    members: dict[str, list[Any]] = defaultdict(list)
    errors: dict[str, str] = {}
    for row in await _waiting_rows(conn, where):
        gid, errors[gid] = _group_of(row.target, row.method, row.last_error)
        members[gid].append(row)
    groups = [_group(gid, errors[gid], rows) for gid, rows in members.items()]
    return sorted(groups, key=lambda g: (-g.count, -g.last_seen.timestamp(), g.id))


def _group(gid: str, error: str, rows: list[Any]) -> FailureGroup:
    newest = max(rows, key=lambda row: row.id)  # ULIDs: the newest message is the example
    seen = [row.updated_at for row in rows]
    return FailureGroup(
        id=gid,
        target=newest.target,
        method=newest.method,
        error=error,
        count=len(rows),
        first_seen=min(seen),
        last_seen=max(seen),
        example_id=newest.id,
        example_error=newest.last_error or "",
    )


async def group_members(
    conn: AsyncConnection, group: str, where: MessageFilter | None = None
) -> list[str]:
    """The ids of the messages of failure group ``group`` (that ``where`` also selects), newest
    first; empty when no message waiting for an operator is in that group now."""
    found = [
        row.id
        for row in await _waiting_rows(conn, where)
        if _group_of(row.target, row.method, row.last_error)[0] == group
    ]
    return sorted(found, reverse=True)


def _group_of(target: str, method: str, error: str | None) -> tuple[str, str]:
    normalized = _normalized(error or "")
    return group_id(target, method, normalized), normalized


@functools.lru_cache(maxsize=4096)
def _normalized(error: str) -> str:
    """:func:`normalize`, remembered: the messages of a group share few distinct errors."""
    return normalize(error)


async def _waiting_rows(conn: AsyncConnection, where: MessageFilter | None) -> Sequence[Any]:
    c = messages.c
    query = select(c.id, c.target, c.method, c.last_error, c.updated_at).where(
        waiting_for_operator()
    )
    if where is not None:
        query = where.apply(query)
    return (await conn.execute(query)).all()
