"""The states the bus wrote to an entity just before its last one.

``entity_states.earlier``: the entity's previous states (fingerprint and when they were
superseded), newest first, a few: an event read while the bus's next write is under way shows the
previous one, and is the bus's own echo too (bus.journal.entity_states).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    op.add_column("entity_states", sa.Column("earlier", json, nullable=True))


def downgrade() -> None:
    op.drop_column("entity_states", "earlier")
