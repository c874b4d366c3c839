"""Accepting commands into the journal: one transaction per batch of calls.

Per batch: resolve idempotency keys already journaled, take the next gap-free sequence numbers of
every ordering key (the upsert row-locks the key, which serializes concurrent accepts of one key on
PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serializes everything), mark every message that is not the
head of its key ``blocked``, and insert. The caller commits once for the whole batch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bus.errors import IdempotencyConflict
from bus.journal.ids import new_message_id, utcnow
from bus.journal.tables import RELEASING, Status, messages, ordering_keys


@dataclass(frozen=True)
class Command:
    """A validated command to journal.

    Parameters:
        source: the authenticated caller.
        idempotency_key: the caller's key; ``None`` means every call is new.
        ordering_key: messages sharing it are delivered one at a time, in acceptance order.
    """

    method: str
    source: str
    target: str
    operation: str
    payload: dict[str, Any]
    idempotency_key: str | None = None
    ordering_key: str | None = None
    parent_id: str | None = None
    correlation_id: str | None = None

    def payload_hash(self) -> str:
        """A stable digest of method, target and payload, to recognise a repeated call."""
        canonical = json.dumps([self.method, self.payload], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Accepted:
    """The journal's answer to one command: its message, status and whether it is new."""

    message_id: str
    status: Status
    created: bool


AcceptOutcome = Accepted | IdempotencyConflict


class LostInsertRace(Exception):
    """A concurrent batch inserted one of our idempotency keys first; the batch is retried."""


async def accept_batch(conn: AsyncConnection, commands: Sequence[Command]) -> list[AcceptOutcome]:
    """Journal ``commands`` in the open transaction ``conn``; one outcome per command, in order.

    Raises:
        LostInsertRace: another transaction won an idempotency key between our read and insert;
            roll back and call again (the key will then be found).
    """
    now = utcnow()
    rows = [_new_row(command, now) for command in commands]
    keys = [(row["source"], row["idempotency_key"]) for row in rows]
    existing = await _existing_by_key(conn, keys)
    outcomes: dict[int, AcceptOutcome] = {}
    first_of_key: dict[tuple[str, str], int] = {}
    repeats_in_batch: list[int] = []
    for index, key in enumerate(keys):
        if key in existing:
            outcomes[index] = _repeat_outcome(existing[key], rows[index]["payload_hash"])
        elif key in first_of_key:
            repeats_in_batch.append(index)
        else:
            first_of_key[key] = index
    fresh = [rows[index] for index in first_of_key.values()]
    await _sequence_and_block(conn, fresh)
    await _insert(conn, fresh)
    for index in first_of_key.values():
        outcomes[index] = Accepted(rows[index]["id"], Status(rows[index]["status"]), True)
    for index in repeats_in_batch:
        first = rows[first_of_key[keys[index]]]
        outcomes[index] = _repeat_outcome(first, rows[index]["payload_hash"])
    return [outcomes[index] for index in range(len(rows))]


def _new_row(command: Command, now: dt.datetime) -> dict[str, Any]:
    message_id = new_message_id()
    return {
        "id": message_id,
        "method": command.method,
        "source": command.source,
        "target": command.target,
        "operation": command.operation,
        "payload": command.payload,
        "payload_hash": command.payload_hash(),
        "idempotency_key": command.idempotency_key or f"auto:{message_id}",
        "ordering_key": command.ordering_key,
        "ordering_seq": None,
        "status": Status.ACCEPTED.value,
        "attempts": 0,
        "attempts_total": 0,
        "parent_id": command.parent_id,
        "correlation_id": command.correlation_id,
        "accepted_at": now,
        "cycle_started_at": now,
        "updated_at": now,
        "queued_at": now,  # the wake-up follows the commit; see bus.queues.enqueue
    }


def _repeat_outcome(earlier: dict[str, Any], payload_hash: str) -> AcceptOutcome:
    """A repeated idempotency key: the same message again, or a conflict if the payload differs."""
    if earlier["payload_hash"] != payload_hash:
        return IdempotencyConflict({"message_id": earlier["id"]})
    return Accepted(earlier["id"], Status(earlier["status"]), False)


async def _existing_by_key(
    conn: AsyncConnection, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    explicit = [key for key in keys if not key[1].startswith("auto:")]
    if not explicit:
        return {}
    query = select(
        messages.c.source,
        messages.c.idempotency_key,
        messages.c.id,
        messages.c.status,
        messages.c.payload_hash,
    ).where(tuple_(messages.c.source, messages.c.idempotency_key).in_(explicit))
    found = (await conn.execute(query)).mappings()
    return {(row["source"], row["idempotency_key"]): dict(row) for row in found}


async def _sequence_and_block(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    by_key: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["ordering_key"] is not None:
            by_key.setdefault(row["ordering_key"], []).append(row)
    if not by_key:
        return
    last_seqs = await _reserve_sequences(conn, {key: len(group) for key, group in by_key.items()})
    busy_keys = await _keys_with_unfinished(conn, list(by_key))
    for key, group in by_key.items():
        first = last_seqs[key] - len(group) + 1
        for offset, row in enumerate(group):
            row["ordering_seq"] = first + offset
            if offset > 0 or key in busy_keys:
                row["status"] = Status.BLOCKED.value


async def _reserve_sequences(conn: AsyncConnection, counts: dict[str, int]) -> dict[str, int]:
    """Advance each key's ``last_seq`` by its count; return the new values. Locks the key rows."""
    values = [
        {"key": key, "last_seq": counts[key]} for key in sorted(counts)
    ]  # sorted: no deadlock
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(ordering_keys).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=[ordering_keys.c.key],
        set_={"last_seq": ordering_keys.c.last_seq + statement.excluded.last_seq},
    ).returning(ordering_keys.c.key, ordering_keys.c.last_seq)
    result = await conn.execute(statement)
    return {row.key: row.last_seq for row in result}


async def _keys_with_unfinished(conn: AsyncConnection, keys: list[str]) -> set[str]:
    query = (
        select(messages.c.ordering_key)
        .where(messages.c.ordering_key.in_(keys))
        .where(messages.c.status.not_in([status.value for status in RELEASING]))
        .group_by(messages.c.ordering_key)
        .having(func.count() > 0)
    )
    return set((await conn.execute(query)).scalars())


async def _insert(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(messages)
        .on_conflict_do_nothing(index_elements=[messages.c.source, messages.c.idempotency_key])
        .returning(messages.c.id)
    )
    inserted = (await conn.execute(statement, rows)).scalars().all()
    if len(inserted) != len(rows):
        raise LostInsertRace()
