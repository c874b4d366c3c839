"""The journal's tables: messages, their delivery attempts, ordering keys, operator actions and
the targets' breakers and pauses."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB


class Status(StrEnum):
    """Where a message is in its lifecycle (DESIGN.md §4)."""

    #: journaled and waiting for a worker
    ACCEPTED = "accepted"
    #: claimed by a worker, under a lease
    IN_FLIGHT = "in_flight"
    #: the target confirmed the effect
    DELIVERED = "delivered"
    #: a transient failure; the next attempt is scheduled at ``next_attempt_at``
    RETRY_WAIT = "retry_wait"
    #: a permanent error, or retries exhausted; needs an operator
    FAILED = "failed"
    #: sent but unanswered; the next attempt checks the target before repeating the effect
    UNKNOWN_OUTCOME = "unknown_outcome"
    #: waiting for the target's breaker or maintenance window; no attempt is burned
    HELD = "held"
    #: an earlier message with the same ordering key has not finished yet
    BLOCKED = "blocked"
    #: withdrawn by an operator
    CANCELLED = "cancelled"
    #: done without an effect: the step before it was cancelled or found nothing to hand on (an
    #: echo, a deal the bus did not make), or its target had nothing to do (a mail to nobody);
    #: its result says why (``skipped``)
    SKIPPED = "skipped"
    #: replaced by an operator's edit (``bus messages edit``): the message ``edited_from`` it took
    #: its place in its ordering key; replay or cancel that one, never this one again
    EDITED = "edited"


#: What moves each non-terminal status forward, within a bounded time and without luck
#: (DESIGN.md §4). ``failed`` and an exhausted ``unknown_outcome`` wait for an operator; every
#: other line is enforced by the code named, and checked by ``tests/journal/test_owners.py``.
OWNERS: dict[Status, str] = {
    Status.ACCEPTED: "its wake-up on the queue; the sweeper re-enqueues it when the wake-up was"
    " never sent or was lost (queued_at older than queue.requeue_after)",
    Status.IN_FLIGHT: "its worker's finish; when the worker dies, its lease expires and the"
    " sweeper re-enqueues it (the next claim is fenced by attempts_total)",
    Status.RETRY_WAIT: "its delayed wake-up at next_attempt_at; the sweeper re-enqueues it once due"
    " when that wake-up is lost",
    Status.UNKNOWN_OUTCOME: "with attempts left, like retry_wait (the next attempt looks the effect"
    " up first); exhausted (no next_attempt_at), an operator: replay or cancel",
    Status.HELD: "its breaker: the probe's success releases every held message in the closing"
    " transaction; the sweeper wakes one held message per open breaker whose probe is due and"
    " releases held messages whose breaker is closed and whose target is not paused; its"
    " target's pause: the operator's resume releases the target's held messages in the resuming"
    " transaction, and once the pause's --until passes the sweeper ends it and releases them;"
    " an operator may release it",
    Status.BLOCKED: "the finish of the message before it, which promotes it in the same"
    " transaction; the sweeper promotes the oldest blocked message of a key that has no head",
    Status.FAILED: "an operator: replay (a fresh budget) or cancel (releases the key)",
}

#: Statuses that release the ordering key: the next message of the key may run. They are the
#: terminal ones: nothing moves a message on from them but an operator's replay.
RELEASING = (Status.DELIVERED, Status.SKIPPED, Status.CANCELLED, Status.EDITED)
#: Statuses a worker may claim (when due).
CLAIMABLE = (Status.ACCEPTED, Status.RETRY_WAIT, Status.UNKNOWN_OUTCOME)
#: Statuses an operator may replay.
REPLAYABLE = (Status.FAILED, Status.UNKNOWN_OUTCOME, Status.RETRY_WAIT, Status.CANCELLED)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        result: dt.datetime = value
        return result.replace(tzinfo=dt.UTC) if result.tzinfo is None else result


Json = JSON().with_variant(JSONB(), "postgresql")

metadata = MetaData()

messages = Table(
    "messages",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("method", String(64), nullable=False),
    Column("source", String(64), nullable=False),
    Column("target", String(64), nullable=False),
    Column("operation", String(64), nullable=False),
    Column("payload", Json, nullable=False),
    Column("payload_hash", String(64), nullable=False),
    Column("idempotency_key", String(200), nullable=False),
    Column("ordering_key", String(200)),
    Column("ordering_seq", BigInteger),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("attempts_total", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime),
    Column("lease_until", UtcDateTime),
    Column("queued_at", UtcDateTime),
    Column("last_error", Text),
    Column("result", Json),
    Column("parent_id", String(26), ForeignKey("messages.id")),
    Column("correlation_id", String(64)),
    Column("accepted_at", UtcDateTime, nullable=False),
    Column("cycle_started_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    # The method of the answer a request waits for (its route's reply: ``request.decided``),
    # until that answer is journaled as its child, which clears it in the same transaction;
    # ``NULL`` for every other message. Stuck requests are found on it (revision 0005).
    Column("awaiting", String(64)),
    # The message an operator edited into this one (``bus messages edit``): the original is
    # cancelled and this one took its place in its ordering key (revision 0006). No foreign key:
    # retention may archive the original's route while this one still runs.
    Column("edited_from", String(26)),
    UniqueConstraint("source", "idempotency_key", name="uq_messages_idempotency"),
    Index("ix_messages_status_due", "status", "next_attempt_at"),
    Index("ix_messages_ordering", "ordering_key", "ordering_seq"),
    Index("ix_messages_accepted_at", "accepted_at"),
    Index("ix_messages_parent", "parent_id"),
    Index("ix_messages_target_status", "target", "status"),
    # listings and retention (revision 0004)
    Index("ix_messages_method_id", "method", "id"),
    Index("ix_messages_target_id", "target", "id"),
    Index("ix_messages_updated_at", "updated_at"),
    Index(
        "ix_messages_errors",
        "id",
        postgresql_where=text("last_error IS NOT NULL"),
        sqlite_where=text("last_error IS NOT NULL"),
    ),
    # the edits of a message, found from the original (revision 0006): few
    Index(
        "ix_messages_edited_from",
        "edited_from",
        postgresql_where=text("edited_from IS NOT NULL"),
        sqlite_where=text("edited_from IS NOT NULL"),
    ),
    # requests still waiting for their answer (revision 0005): few, whatever the journal's size
    Index(
        "ix_messages_awaiting",
        "id",
        postgresql_where=text("awaiting IS NOT NULL"),
        sqlite_where=text("awaiting IS NOT NULL"),
    ),
)

attempts = Table(
    "attempts",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("message_id", String(26), ForeignKey("messages.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("http_status", Integer),
    Column("error", Text),
    Column("request", Json),
    Column("response", Json),
    Index("ix_attempts_message", "message_id", "number"),
)

ordering_keys = Table(
    "ordering_keys",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
    # Messages of the key not yet delivered or cancelled; kept under this row's lock, so an
    # accept knows from its own upsert whether the new message is the head of its key.
    Column("open_count", BigInteger, nullable=False),
)

operator_actions = Table(
    "operator_actions",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("message_id", String(26), ForeignKey("messages.id"), nullable=False),
    Column("action", String(20), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("reason", Text, nullable=False),
    Column("from_status", String(20), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    # What the action did beyond the status (an edit: the message it became and the payload's
    # diff, redacted), revision 0006.
    Column("detail", Json),
    Index("ix_operator_actions_message", "message_id"),
)

circuits = Table(
    "circuits",
    metadata,
    Column("target", String(64), primary_key=True),
    # closed: deliver; open: hold messages until probe_at, then let one through as a probe.
    Column("state", String(10), nullable=False),
    Column("failures", Integer, nullable=False),
    Column("cooldown", Float, nullable=False),
    Column("opened_at", UtcDateTime),
    Column("probe_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
)

target_pauses = Table(
    "target_pauses",
    metadata,
    # An operator's maintenance window of a target (``bus targets pause``): while it is on, a
    # claimed message of the target is held without an attempt and nothing is sent. One row per
    # window, kept after it ends (who paused and resumed it, and why); at most one is on per
    # target. Distinct from the breaker (``circuits``): a resume never closes a breaker, and a
    # breaker closing never ends a pause (revision 0006).
    Column(
        "id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("target", String(64), nullable=False),
    Column("paused_at", UtcDateTime, nullable=False),
    Column("paused_by", String(100), nullable=False),
    Column("reason", Text, nullable=False),
    # the window's announced end: the sweeper ends the pause once it passes; NULL: until resumed
    Column("until", UtcDateTime),
    Column("resumed_at", UtcDateTime),
    Column("resumed_by", String(100)),
    Column("resume_reason", Text),
    Index(
        "uq_target_pauses_on",
        "target",
        unique=True,
        postgresql_where=text("resumed_at IS NULL"),
        sqlite_where=text("resumed_at IS NULL"),
    ),
)

entity_states = Table(
    "entity_states",
    metadata,
    # What the bus last wrote to, or forwarded from, a system about one entity ("order:1007"):
    # an event showing the same state is the bus's own echo.
    Column("entity", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    # The states it showed just before, [fingerprint, superseded at] newest first: an event read
    # while the bus's next write is under way shows one of them, and is its echo too.
    Column("earlier", Json),
    Column("updated_at", UtcDateTime, nullable=False),
)

customers = Table(
    "customers",
    metadata,
    # The bus's customer directory: what provisioning learned of each customer (licence,
    # contracts, manager), read when an order is routed by segment.
    Column("erp_key", String(20), primary_key=True),
    Column("profile", Json, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

credentials = Table(
    "credentials",
    metadata,
    # Secrets a system hands out and rotates (Bitrix24's OAuth tokens): every worker process
    # must use the newest, and a restart must not fall back to a used one.
    Column("name", String(100), primary_key=True),
    Column("value", Json, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
