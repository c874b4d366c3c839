"""Retention: finished routes leave the journal for compressed archives, in small batches.

A route is a message the bus accepted (``parent_id`` empty) with every message journaled under
it: its later steps, the notices they raised, the orders of a split cart. A route is archived and
deleted as one, and only when every message of it is ``delivered``, ``skipped`` or ``cancelled``
and none has changed for the retention age: a step still waiting may need an earlier step's
result, so nothing of a route with a ``failed``, ``held``, ``blocked``, ``retry_wait``,
``accepted``, ``in_flight`` or ``unknown_outcome`` message is touched. Attempts and operator
actions go with their message; an ordering key goes when no message of it is left.

Each batch is one short transaction: its routes are read, written to the archive, then deleted
(the delete is fenced by status and age, so a route an operator replays meanwhile stays). The
archive is written before the commit: a failed commit leaves a route both in the journal and in
the archive, and a later run archives it again (readers take the last copy).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, exists, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bus.db import reading, writing
from bus.journal.ids import utcnow
from bus.journal.tables import RELEASING, attempts, messages, operator_actions, ordering_keys

#: Statuses a message of a prunable route may have.
_FINISHED = [status.value for status in RELEASING]


@dataclass
class PruneReport:
    """What one prune did (or, in a dry run, would do)."""

    routes: int = 0
    messages: int = 0
    attempts: int = 0
    actions: int = 0
    keys: int = 0
    batches: int = 0
    #: a route changed while its batch was pruned: that batch was rolled back, the run ended
    interrupted: bool = False
    archives: list[str] = field(default_factory=list)

    def describe(self, *, dry_run: bool) -> str:
        """One line for the operator."""
        verb = "would archive and delete" if dry_run else "archived and deleted"
        where = f" into {', '.join(self.archives)}" if self.archives else ""
        stopped = (
            "; stopped early: a route changed meanwhile, run again" if self.interrupted else ""
        )
        return (
            f"{verb} {self.routes} route(s): {self.messages} message(s), {self.attempts}"
            f" attempt(s), {self.actions} operator action(s), {self.keys} ordering key(s)"
            f" in {self.batches} batch(es){where}{stopped}"
        )


@dataclass(frozen=True)
class Retention:
    """A prune's parameters: finished routes unchanged for ``older_than`` go, ``batch_size``
    routes per transaction, archived under ``archive_dir`` (``None``: counted only)."""

    older_than: dt.timedelta
    batch_size: int
    archive_dir: Path | None

    async def prune(self, engine: AsyncEngine, *, now: dt.datetime | None = None) -> PruneReport:
        """Archive and delete every finished route older than the age; with no archive
        directory, count what would go (a dry run)."""
        cutoff = (now or utcnow()) - self.older_than
        report = PruneReport()
        cursor: tuple[dt.datetime, str] | None = None
        while True:
            if self.archive_dir is None:
                async with reading(engine) as conn:
                    cursor, done = await self._batch(conn, cutoff, cursor, report)
            else:
                try:
                    async with writing(engine) as conn:
                        cursor, done = await self._batch(conn, cutoff, cursor, report)
                except RetentionConflict:
                    report.interrupted = True
                    return report
            if done:
                return report

    async def _batch(
        self,
        conn: AsyncConnection,
        cutoff: dt.datetime,
        cursor: tuple[dt.datetime, str] | None,
        report: PruneReport,
    ) -> tuple[tuple[dt.datetime, str] | None, bool]:
        """One batch; returns the cursor after it and whether the scan has ended."""
        if self.archive_dir is not None and not await _prune_lock(conn):
            return cursor, True  # another process is pruning now
        roots = await _old_roots(conn, cutoff, cursor, self.batch_size)
        if not roots:
            return cursor, True
        report.batches += 1
        routes = await _routes(conn, [root_id for _, root_id in roots])
        ready = {
            root: rows
            for root, rows in routes.items()
            if all(row["status"] in _FINISHED and row["updated_at"] < cutoff for row in rows)
        }
        ids = [row["id"] for rows in ready.values() for row in rows]
        tries = await _rows_of(conn, attempts, ids, attempts.c.number)
        actions = await _rows_of(conn, operator_actions, ids, operator_actions.c.id)
        if self.archive_dir is not None and ready:
            path = write_archive(self.archive_dir, ready, tries, actions, utcnow())
            if str(path) not in report.archives:
                report.archives.append(str(path))
            report.keys += await _delete(conn, ready, ids, cutoff)
        report.routes += len(ready)
        report.messages += len(ids)
        report.attempts += sum(len(rows) for rows in tries.values())
        report.actions += sum(len(rows) for rows in actions.values())
        return roots[-1], len(roots) < self.batch_size


#: An arbitrary constant naming retention's PostgreSQL advisory lock.
_PRUNE_LOCK = 0x62757372  # "busr"


async def _prune_lock(conn: AsyncConnection) -> bool:
    """On PostgreSQL, whether this transaction may prune (one process at a time); SQLite's
    writing transaction already excludes every other writer."""
    if conn.dialect.name != "postgresql":
        return True
    return bool(await conn.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _PRUNE_LOCK}))


async def _old_roots(
    conn: AsyncConnection,
    cutoff: dt.datetime,
    cursor: tuple[dt.datetime, str] | None,
    limit: int,
) -> list[tuple[dt.datetime, str]]:
    """The next accepted messages (routes' first) finished before ``cutoff``, oldest change
    first (on ``ix_messages_updated_at``), after ``cursor``."""
    c = messages.c
    query = select(c.updated_at, c.id).where(
        c.updated_at < cutoff, c.status.in_(_FINISHED), c.parent_id.is_(None)
    )
    if cursor is not None:
        query = query.where(tuple_(c.updated_at, c.id) > tuple_(*cursor))
    rows = await conn.execute(query.order_by(c.updated_at, c.id).limit(limit))
    return [(row.updated_at, row.id) for row in rows]


#: The columns of a message an archive keeps (every one).
_COLUMNS = list(messages.c)


async def _routes(
    conn: AsyncConnection, root_ids: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """Every message of each route, its first message first, gathered a generation at a time."""
    rows = await conn.execute(select(*_COLUMNS).where(messages.c.id.in_(root_ids)))
    routes: dict[str, list[dict[str, Any]]] = {row["id"]: [dict(row)] for row in rows.mappings()}
    root_of = {root: root for root in routes}
    generation = list(routes)
    while generation:
        children = await conn.execute(
            select(*_COLUMNS).where(messages.c.parent_id.in_(generation)).order_by(messages.c.id)
        )
        generation = []
        for child in children.mappings():
            root = root_of[child["parent_id"]]
            root_of[child["id"]] = root
            routes[root].append(dict(child))
            generation.append(child["id"])
    return routes


async def _rows_of(
    conn: AsyncConnection, table: Any, ids: Sequence[str], order: Any
) -> dict[str, list[dict[str, Any]]]:
    """The rows of ``table`` (attempts, operator actions) of each message in ``ids``."""
    found: dict[str, list[dict[str, Any]]] = {}
    for chunk in _chunks(ids, 500):
        rows = await conn.execute(
            select(table).where(table.c.message_id.in_(chunk)).order_by(order)
        )
        for row in rows.mappings():
            found.setdefault(row["message_id"], []).append(dict(row))
    return found


async def _delete(
    conn: AsyncConnection,
    ready: dict[str, list[dict[str, Any]]],
    ids: Sequence[str],
    cutoff: dt.datetime,
) -> int:
    """Delete the routes' rows (fenced by status and age); returns the ordering keys deleted."""
    for chunk in _chunks(ids, 500):
        await conn.execute(delete(attempts).where(attempts.c.message_id.in_(chunk)))
        await conn.execute(delete(operator_actions).where(operator_actions.c.message_id.in_(chunk)))
    deleted = 0
    # Children before parents, so no statement leaves a dangling parent_id.
    for rows in ready.values():
        for row in reversed(rows):
            result = await conn.execute(
                delete(messages).where(
                    messages.c.id == row["id"],
                    messages.c.status.in_(_FINISHED),
                    messages.c.updated_at < cutoff,
                )
            )
            deleted += result.rowcount
    if deleted != len(ids):
        # A message changed meanwhile (an operator's replay): leave the whole batch for later.
        raise RetentionConflict(f"{len(ids) - deleted} message(s) changed while being pruned")
    keys = sorted({row["ordering_key"] for rows in ready.values() for row in rows} - {None})
    return await _drop_idle_keys(conn, keys)


async def _drop_idle_keys(conn: AsyncConnection, keys: Sequence[str]) -> int:
    """Delete the ordering keys that have no open message and no message left at all."""
    dropped = 0
    for chunk in _chunks(keys, 500):
        left = exists().where(messages.c.ordering_key == ordering_keys.c.key)
        result = await conn.execute(
            delete(ordering_keys).where(
                ordering_keys.c.key.in_(chunk), ordering_keys.c.open_count == 0, ~left
            )
        )
        dropped += result.rowcount
    return dropped


class RetentionConflict(RuntimeError):
    """A route changed while its batch was being pruned; the batch was rolled back."""


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def archive_path(archive_dir: Path, day: dt.date) -> Path:
    """The archive file of ``day`` (UTC): ``journal-YYYY-MM-DD.jsonl.gz``."""
    return archive_dir / f"journal-{day.isoformat()}.jsonl.gz"


def write_archive(
    archive_dir: Path,
    routes: dict[str, list[dict[str, Any]]],
    tries: dict[str, list[dict[str, Any]]],
    actions: dict[str, list[dict[str, Any]]],
    now: dt.datetime,
) -> Path:
    """Append one JSON line per message (with its ``attempts`` and ``actions``) to today's
    archive, as a gzip member of its own (``gzip`` reads the members as one stream); synced to
    disk before the rows are deleted."""
    archive_dir.mkdir(parents=True, exist_ok=True)
    path = archive_path(archive_dir, now.date())
    lines = [
        json.dumps(
            {
                "route": root,
                "message": row,
                "attempts": tries.get(row["id"], []),
                "actions": actions.get(row["id"], []),
                "archived_at": now,
            },
            default=_jsonable,
            ensure_ascii=False,
        )
        for root, rows in routes.items()
        for row in rows
    ]
    with path.open("ab") as raw:
        raw.write(gzip.compress(("\n".join(lines) + "\n").encode()))
        raw.flush()
        os.fsync(raw.fileno())
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def read_archive(path: Path, *, message_id: str | None = None) -> Iterator[dict[str, Any]]:
    """The archived messages of ``path`` (each with ``attempts`` and ``actions``), optionally
    only ``message_id``; times as ISO strings."""
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            entry: dict[str, Any] = json.loads(line)
            if message_id is None or entry["message"]["id"] == message_id:
                yield entry


def find_archived(archive_dir: Path, message_id: str) -> dict[str, Any] | None:
    """The last archived copy of ``message_id`` in any archive under ``archive_dir``."""
    found = None
    for path in sorted(archive_dir.glob("journal-*.jsonl.gz")):
        for entry in read_archive(path, message_id=message_id):
            found = entry
    return found


__all__ = [
    "PruneReport",
    "Retention",
    "RetentionConflict",
    "archive_path",
    "find_archived",
    "read_archive",
    "write_archive",
]
