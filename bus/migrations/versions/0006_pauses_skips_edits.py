"""Operators' pauses of targets, and edited messages.

``target_pauses``: one row per maintenance window an operator opened on a target (who, why, until
when, and who ended it and why); at most one is on per target (a partial unique index).
``messages.edited_from``: the message an operator edited into this one (``bus messages edit``),
with a partial index to find a message's edits. ``operator_actions.detail``: what an action did
beyond the status (an edit: the message it became and the payload's diff).

The ``skipped`` status needs nothing here: ``messages.status`` is a plain string column.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EDITS_INDEX = "ix_messages_edited_from"
EDITS_WHERE = sa.text("edited_from IS NOT NULL")
PAUSE_ON_INDEX = "uq_target_pauses_on"
PAUSE_ON_WHERE = sa.text("resumed_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "target_pauses",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paused_by", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resumed_by", sa.String(100), nullable=True),
        sa.Column("resume_reason", sa.Text(), nullable=True),
    )
    op.create_index(
        PAUSE_ON_INDEX,
        "target_pauses",
        ["target"],
        unique=True,
        postgresql_where=PAUSE_ON_WHERE,
        sqlite_where=PAUSE_ON_WHERE,
    )
    op.add_column("messages", sa.Column("edited_from", sa.String(26), nullable=True))
    json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    op.add_column("operator_actions", sa.Column("detail", json, nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        # Built without blocking writes: a live journal keeps accepting while it is made.
        with op.get_context().autocommit_block():
            op.create_index(
                EDITS_INDEX,
                "messages",
                ["edited_from"],
                postgresql_where=EDITS_WHERE,
                postgresql_concurrently=True,
                if_not_exists=True,
            )
    else:
        op.create_index(EDITS_INDEX, "messages", ["edited_from"], sqlite_where=EDITS_WHERE)


def downgrade() -> None:
    op.drop_index(EDITS_INDEX, table_name="messages")
    # SQLite drops a column in place since 3.35: no copy of the journal's largest table
    op.drop_column("messages", "edited_from")
    op.drop_column("operator_actions", "detail")
    op.drop_index(PAUSE_ON_INDEX, table_name="target_pauses")
    op.drop_table("target_pauses")
