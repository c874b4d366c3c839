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

from sqlalchemy import bindparam, select, text, tuple_, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bus.errors import IdempotencyConflict
from bus.journal import storable
from bus.journal.ids import new_message_id, utcnow
from bus.journal.tables import Status, messages, ordering_keys
from bus.journal.wakes import Wake


@dataclass(frozen=True)
class Branch:
    """An independent chain of steps under a parent message: one order of a split cart.

    Parameters:
        name: names the branch in its steps' ordering and idempotency keys (the contract).
        steps: ``(target, operation)``, delivered one after the other.
    """

    name: str
    payload: dict[str, Any]
    steps: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Command:
    """A validated command to journal.

    Parameters:
        source: the authenticated caller.
        idempotency_key: the caller's key; ``None`` means every call is new.
        ordering_key: messages sharing it are delivered one at a time, in acceptance order.
        then: later steps as ``(target, operation)``: journaled with this message as their
            parent, in the same transaction, and delivered after it, in order.
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
    then: tuple[tuple[str, str], ...] = ()
    #: chains journaled as this message's children, each under its own ordering key
    #: (``{ordering_key}/{name}``), so they are delivered side by side, each in its own order.
    branches: tuple[Branch, ...] = ()
    #: the bus did this message's own work at accept (split a cart): it is journaled delivered,
    #: with this result.
    done: dict[str, Any] | None = None
    #: what the caller sent, when the bus adjusted it into ``payload`` (a moved delivery date):
    #: a repeated call is recognised by what was sent, whenever it is repeated.
    sent: dict[str, Any] | None = None
    #: the method of the answer this message waits for (a request's decision): recorded on its
    #: row until a message of that method is journaled as its child.
    awaits: str | None = None

    def canonical_payload(self) -> tuple[str, str]:
        """The payload as canonical JSON, and a digest of method and what the caller sent.

        The digest recognises a repeated call; the JSON is also what PostgreSQL stores, so the
        payload is serialized once.
        """
        payload_json = _canonical(self.payload)
        sent_json = payload_json if self.sent is None else _canonical(self.sent)
        return payload_json, _digest(self.method, sent_json)


def sent_digest(method: str, sent: dict[str, Any]) -> str:
    """The digest a message of ``method`` whose caller sent ``sent`` is recognised by."""
    return _digest(method, _canonical(sent))


def _canonical(value: dict[str, Any]) -> str:
    return _CANONICAL_JSON.encode(value)


#: Made once: ``json.dumps`` with options builds an encoder for every call.
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def _digest(method: str, sent_json: str) -> str:
    return hashlib.sha256(f"{method}\n{sent_json}".encode()).hexdigest()


@dataclass(frozen=True)
class Accepted:
    """The journal's answer to one command: its message, status and whether it is new."""

    message_id: str
    status: Status
    created: bool
    #: the messages this accept journaled that may run now (the message, or its branches' heads)
    runnable: tuple[Wake, ...] = ()
    #: the method and target of every message this accept journaled (the call's and its steps')
    journaled: tuple[tuple[str, str], ...] = ()


AcceptOutcome = Accepted | IdempotencyConflict


_PG_RESERVE = text(
    "INSERT INTO ordering_keys (key, last_seq, open_count)"
    " SELECT k, n, n FROM unnest(CAST(:keys AS varchar[]), CAST(:counts AS bigint[])) AS u(k, n)"
    " ON CONFLICT (key) DO UPDATE SET last_seq = ordering_keys.last_seq + excluded.last_seq,"
    " open_count = ordering_keys.open_count + excluded.open_count"
    " RETURNING key, last_seq, open_count"
)


class LostInsertRace(Exception):
    """A concurrent batch inserted one of our idempotency keys first; the batch is retried."""


async def accept_batch(
    conn: AsyncConnection, commands: Sequence[Command], *, check_existing: bool = True
) -> list[AcceptOutcome]:
    """Journal ``commands`` in the open transaction ``conn``; one outcome per command, in order.

    Parameters:
        check_existing: look up the idempotency keys first. Without it the batch is inserted
            optimistically, which saves a query when keys are new (the common case).

    Raises:
        LostInsertRace: a key was journaled already (by an earlier call, or a concurrent batch
            between our read and insert); roll back and call again with ``check_existing``.
    """
    now = utcnow()
    rows = [_new_row(command, now) for command in commands]
    keys = [(row["source"], row["idempotency_key"]) for row in rows]
    existing = await _existing_by_key(conn, keys) if check_existing else {}
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
    journaled = {
        index: [rows[index], *_step_rows(commands[index], rows[index])]
        for index in first_of_key.values()
    }
    fresh = [row for group in journaled.values() for row in group]
    await _record_answers(conn, [rows[index] for index in journaled])
    await _sequence_and_block(conn, fresh)
    try:
        await _insert(conn, fresh)
    except IntegrityError:
        if check_existing:
            raise
        # A repeated key whose first row the insert skipped, with later steps it did not: their
        # parent is missing. Answered from the journal on the retry (a repeat, or -32010).
        raise LostInsertRace() from None
    done = [(rows[i], commands[i].done) for i in journaled]
    await _record_done(conn, [(row, result) for row, result in done if result is not None])
    for index, group in journaled.items():
        runnable = tuple(
            Wake(row["id"], row["target"], row["operation"])
            for row in group
            if row["status"] == Status.ACCEPTED.value
        )
        outcomes[index] = Accepted(
            rows[index]["id"],
            Status(rows[index]["status"]),
            True,
            runnable,
            journaled=tuple((row["method"], row["target"]) for row in group),
        )
    for index in repeats_in_batch:
        first = rows[first_of_key[keys[index]]]
        outcomes[index] = _repeat_outcome(first, rows[index]["payload_hash"])
    return [outcomes[index] for index in range(len(rows))]


def _new_row(command: Command, now: dt.datetime) -> dict[str, Any]:
    message_id = new_message_id()
    payload_json, payload_hash = command.canonical_payload()
    return {
        "id": message_id,
        "method": command.method,
        "source": command.source,
        "target": command.target,
        "operation": command.operation,
        "payload": command.payload,
        "payload_hash": payload_hash,
        "payload_json": payload_json,
        "idempotency_key": command.idempotency_key or f"auto:{message_id}",
        "ordering_key": _ordering_key(command, message_id),
        "ordering_seq": None,
        "status": (Status.ACCEPTED if command.done is None else Status.DELIVERED).value,
        "attempts": 0,
        "attempts_total": 0,
        "parent_id": command.parent_id,
        "correlation_id": command.correlation_id,
        "awaiting": command.awaits,
        "accepted_at": now,
        "cycle_started_at": now,
        "updated_at": now,
        "queued_at": now,  # the wake-up follows the commit; see bus.queues.enqueue
    }


def _ordering_key(command: Command, message_id: str) -> str | None:
    if command.done is not None:
        return None  # finished at accept: it must not hold its key (its branches have their own)
    # A chain of steps needs a key of its own to keep its steps in order.
    return command.ordering_key or (f"message:{message_id}" if command.then else None)


def _step_rows(command: Command, first: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of a command's later steps and branches: children of ``first``, derived keys.

    A repeated call finds ``first`` by its idempotency key; the children were journaled with it.
    """
    steps = [
        _child(first, target, operation, f"#{number}")
        for number, (target, operation) in enumerate(command.then, start=2)
    ]
    for branch in command.branches:
        payload_json = _canonical(branch.payload)
        ordering_key = f"{command.ordering_key or 'message:' + first['id']}/{branch.name}"
        for number, (target, operation) in enumerate(branch.steps, start=1):
            row = _child(first, target, operation, f"#{branch.name}#{number}")
            row.update(
                payload=branch.payload,
                payload_json=payload_json,
                ordering_key=ordering_key,
                status=Status.ACCEPTED.value,
            )
            steps.append(row)
    return steps


def _child(first: dict[str, Any], target: str, operation: str, suffix: str) -> dict[str, Any]:
    row = dict(first, target=target, operation=operation, parent_id=first["id"], awaiting=None)
    row["id"] = new_message_id()
    row["idempotency_key"] = f"{first['idempotency_key']}{suffix}"
    return row


async def _record_answers(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """A message journaled under a parent that awaits its method answers the parent: the parent
    awaits nothing more, from this transaction on. The parents' rows are locked before any
    ordering key, as a finish locks its message and then its key, and in one order in every
    batch: an answer deadlocks neither with a finish nor with another batch."""
    answers = sorted(
        ({"parent": row["parent_id"], "answer": row["method"]} for row in rows if row["parent_id"]),
        key=lambda answer: (answer["parent"], answer["answer"]),
    )
    if answers:
        await conn.execute(_ANSWERED, answers)


_ANSWERED = (
    update(messages)
    .where(messages.c.id == bindparam("parent"), messages.c.awaiting == bindparam("answer"))
    .values(awaiting=None)
)


async def _record_done(
    conn: AsyncConnection, done: list[tuple[dict[str, Any], dict[str, Any]]]
) -> None:
    """Store the result of the messages whose work the bus did at accept."""
    for row, result in done:
        await conn.execute(
            update(messages)
            .where(messages.c.id == row["id"])
            .values(result=result, finished_at=row["accepted_at"])
        )


def _repeat_outcome(earlier: dict[str, Any], payload_hash: str) -> AcceptOutcome:
    """A repeated idempotency key: the same message again, or a conflict if the payload differs."""
    if earlier["payload_hash"] != payload_hash:
        return IdempotencyConflict({"message_id": earlier["id"]})
    return Accepted(earlier["id"], Status(earlier["status"]), False)


async def _existing_by_key(
    conn: AsyncConnection, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    # Every key, generated ones too: a caller may send a key that looks generated ("auto:…"),
    # and one left out here would lose the insert race on every retry.
    if not keys:
        return {}
    query = select(
        messages.c.source,
        messages.c.idempotency_key,
        messages.c.id,
        messages.c.status,
        messages.c.payload_hash,
    ).where(tuple_(messages.c.source, messages.c.idempotency_key).in_(keys))
    found = (await conn.execute(query)).mappings()
    return {(row["source"], row["idempotency_key"]): dict(row) for row in found}


async def _sequence_and_block(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    by_key: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["ordering_key"] is not None:
            by_key.setdefault(row["ordering_key"], []).append(row)
    if not by_key:
        return
    reserved = await _reserve_sequences(conn, {key: len(group) for key, group in by_key.items()})
    for key, group in by_key.items():
        last_seq, open_count = reserved[key]
        busy = open_count > len(group)  # unfinished messages before this batch's
        for offset, row in enumerate(group):
            row["ordering_seq"] = last_seq - len(group) + 1 + offset
            if offset > 0 or busy:
                row["status"] = Status.BLOCKED.value


async def _reserve_sequences(
    conn: AsyncConnection, counts: dict[str, int]
) -> dict[str, tuple[int, int]]:
    """Add each key's count to its ``last_seq`` and ``open_count``; return both, by key.

    The upsert row-locks every key, serializing this batch with other accepts and with finishes of
    the same keys until commit.
    """
    keys = sorted(counts)  # one lock order for every batch: concurrent batches cannot deadlock
    if conn.dialect.name == "postgresql":
        # One statement whatever the batch size: compiled and prepared once (a multi-row VALUES
        # is a new statement for every size, and an executemany upsert runs row by row).
        result = await conn.execute(
            _PG_RESERVE, {"keys": keys, "counts": [counts[k] for k in keys]}
        )
    else:
        statement = sqlite.insert(ordering_keys).values(
            [{"key": key, "last_seq": counts[key], "open_count": counts[key]} for key in keys]
        )
        key_row = ordering_keys.c
        result = await conn.execute(
            statement.on_conflict_do_update(
                index_elements=[key_row.key],
                set_={
                    "last_seq": key_row.last_seq + statement.excluded.last_seq,
                    "open_count": key_row.open_count + statement.excluded.open_count,
                },
            ).returning(key_row.key, key_row.last_seq, key_row.open_count)
        )
    return {row.key: (row.last_seq, row.open_count) for row in result}


async def _insert(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        inserted = (await conn.execute(_PG_INSERT, _as_arrays(rows))).scalars().all()
    else:
        statement = (
            sqlite.insert(messages)
            .on_conflict_do_nothing(index_elements=[messages.c.source, messages.c.idempotency_key])
            .returning(messages.c.id)
        )
        columns = [{k: v for k, v in row.items() if k != "payload_json"} for row in rows]
        inserted = (await conn.execute(statement, columns)).scalars().all()
    if len(inserted) != len(rows):
        raise LostInsertRace()


#: Columns that differ per row, with their PostgreSQL array types, for the unnest insert.
_PER_ROW = {
    "id": "varchar",
    "method": "varchar",
    "source": "varchar",
    "target": "varchar",
    "operation": "varchar",
    "payload": "jsonb",
    "payload_hash": "varchar",
    "idempotency_key": "varchar",
    "ordering_key": "varchar",
    "ordering_seq": "bigint",
    "status": "varchar",
    "parent_id": "varchar",
    "correlation_id": "varchar",
    "awaiting": "varchar",
}
#: One statement for any batch size: rows travel as one array per column, so SQLAlchemy neither
#: recompiles per size nor processes every row's binds (the accept path's largest CPU cost).
_PG_INSERT = text(
    f"INSERT INTO messages ({', '.join(_PER_ROW)}, attempts, attempts_total, accepted_at,"
    " cycle_started_at, updated_at, queued_at)"
    f" SELECT {', '.join(f'u.{c}' for c in _PER_ROW)}, 0, 0, :now, :now, :now, :now"
    " FROM unnest("
    + ", ".join(f"CAST(:{c} AS {t}[])" for c, t in _PER_ROW.items())
    + f") AS u({', '.join(_PER_ROW)})"
    " ON CONFLICT (source, idempotency_key) DO NOTHING RETURNING id"
)


def _as_arrays(rows: list[dict[str, Any]]) -> dict[str, Any]:
    arrays: dict[str, Any] = {column: [row[column] for row in rows] for column in _PER_ROW}
    arrays["payload"] = [storable.json_text(row["payload_json"]) for row in rows]
    arrays["now"] = rows[0]["accepted_at"]
    return arrays
