"""Circuit breakers per target, the entity states that recognise the bus's own echoes, and the
credentials that systems rotate.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from bus.journal.tables import UtcDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "circuits",
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("cooldown", sa.Float(), nullable=False),
        sa.Column("opened_at", UtcDateTime(), nullable=True),
        sa.Column("probe_at", UtcDateTime(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("target"),
    )
    op.create_table(
        "entity_states",
        sa.Column("entity", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("entity"),
    )
    op.create_table(
        "credentials",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "value", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_index("ix_messages_target_status", "messages", ["target", "status"])


def downgrade() -> None:
    op.drop_table("credentials")
    op.drop_index("ix_messages_target_status", table_name="messages")
    op.drop_table("entity_states")
    op.drop_table("circuits")
