"""Stuck requests found without testing every request: ``messages.awaiting`` records the answer a
request still waits for (its route's reply), cleared when the answer is journaled; a partial index
holds the requests that still wait.

Existing requests are backfilled: a request of a route with a reply that has no child of that
reply's method awaits it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The routes with a reply as of this revision (bus.routing): request method -> answer's method.
#: A revision records them rather than importing the routes, which later change.
REPLIES = {"address.request": "request.decided", "employee.request": "request.decided"}

INDEX = "ix_messages_awaiting"
WHERE = sa.text("awaiting IS NOT NULL")

_BACKFILL = sa.text(
    "UPDATE messages SET awaiting = :answer"
    " WHERE method = :method AND parent_id IS NULL AND NOT EXISTS"
    " (SELECT 1 FROM messages AS answer"
    "  WHERE answer.parent_id = messages.id AND answer.method = :answer)"
)


def upgrade() -> None:
    op.add_column("messages", sa.Column("awaiting", sa.String(64), nullable=True))
    for method, answer in REPLIES.items():
        op.execute(_BACKFILL.bindparams(method=method, answer=answer))
    if op.get_bind().dialect.name == "postgresql":
        # Built without blocking writes: a live journal keeps accepting while it is made.
        with op.get_context().autocommit_block():
            op.create_index(
                INDEX,
                "messages",
                ["id"],
                postgresql_where=WHERE,
                postgresql_concurrently=True,
                if_not_exists=True,
            )
    else:
        op.create_index(INDEX, "messages", ["id"], sqlite_where=WHERE)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="messages")
    op.drop_column("messages", "awaiting")  # SQLite drops a column in place since 3.35
