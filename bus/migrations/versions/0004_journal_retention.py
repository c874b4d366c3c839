"""Listings that stay fast as the journal grows, and a scan for retention: indexes on messages by
method, by target, by last change and of messages with an error; autovacuum tuned for the
journal's hot tables (PostgreSQL).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: name -> columns of each new index of ``messages``.
INDEXES = {
    # `messages list --method X`, newest first: the first 50 ids of the method, or none at once
    "ix_messages_method_id": ["method", "id"],
    # `messages list --target X`, newest first
    "ix_messages_target_id": ["target", "id"],
    # retention's scan of finished routes, oldest change first
    "ix_messages_updated_at": ["updated_at"],
}

#: Per-table autovacuum on PostgreSQL: the default (20% of the table changed) lets a journal of
#: millions of rows carry hundreds of thousands of dead rows between vacuums; these tables churn
#: (every delivery updates its message several times, retention deletes in batches).
AUTOVACUUM = {
    "messages": {
        "autovacuum_vacuum_scale_factor": "0.02",
        "autovacuum_analyze_scale_factor": "0.01",
        "autovacuum_vacuum_cost_limit": "2000",
    },
    "attempts": {
        "autovacuum_vacuum_scale_factor": "0.05",
        "autovacuum_analyze_scale_factor": "0.02",
    },
    "ordering_keys": {
        "autovacuum_vacuum_scale_factor": "0.02",
        "autovacuum_analyze_scale_factor": "0.01",
    },
}


#: ``messages list --error TEXT``: only messages with an error (few: a delivery clears it) are
#: searched, newest first, instead of every message.
ERRORS_INDEX = "ix_messages_errors"
ERRORS_WHERE = sa.text("last_error IS NOT NULL")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        # Built without blocking writes: a live journal keeps accepting while they are made.
        with op.get_context().autocommit_block():
            for name, columns in INDEXES.items():
                op.create_index(
                    name, "messages", columns, postgresql_concurrently=True, if_not_exists=True
                )
            op.create_index(
                ERRORS_INDEX,
                "messages",
                ["id"],
                postgresql_where=ERRORS_WHERE,
                postgresql_concurrently=True,
                if_not_exists=True,
            )
        for table, options in AUTOVACUUM.items():
            settings = ", ".join(f"{key} = {value}" for key, value in options.items())
            op.execute(f"ALTER TABLE {table} SET ({settings})")
    else:
        for name, columns in INDEXES.items():
            op.create_index(name, "messages", columns)
        op.create_index(ERRORS_INDEX, "messages", ["id"], sqlite_where=ERRORS_WHERE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, options in AUTOVACUUM.items():
            op.execute(f"ALTER TABLE {table} RESET ({', '.join(options)})")
    for name in [*INDEXES, ERRORS_INDEX]:
        op.drop_index(name, table_name="messages")
