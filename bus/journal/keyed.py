"""Small keyed tables of the journal (credentials, entity states, the customer directory): one
upsert, and JSON documents by key shared by every process."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bus.db import autocommit, writing
from bus.journal.ids import utcnow


async def upsert(
    conn: AsyncConnection, table: Table, keys: dict[str, Any], values: dict[str, Any]
) -> None:
    """Insert the row ``keys`` + ``values``, or update ``values`` where ``keys`` exist; stamps
    ``updated_at``."""
    changed = {**values, "updated_at": utcnow()}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**keys, **changed)
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c[name] for name in keys], set_=changed
        )
    )


class KeyedDocuments:
    """JSON documents by key in one journal table, each read and written in its own transaction.

    Parameters:
        key: the table's key column; ``value``: its JSON column.
    """

    def __init__(self, engine: AsyncEngine, table: Table, key: str, value: str) -> None:
        self._engine = engine
        self._table = table
        self._key = key
        self._value = value
        # built once: an order's accept reads the customer directory (every order of a customer
        # the directory does not know), and building the query was a tenth of that read
        self._read = select(table.c[value]).where(table.c[key] == bindparam("name"))

    async def get(self, name: str) -> dict[str, Any] | None:
        """The document stored under ``name``, if any."""
        # One statement: no transaction around it (one round trip instead of three).
        async with autocommit(self._engine) as conn:
            value: dict[str, Any] | None = (await conn.execute(self._read, {"name": name})).scalar()
        return value

    async def put(self, name: str, value: dict[str, Any]) -> None:
        """Store ``value`` under ``name``, replacing what was there."""
        async with writing(self._engine) as conn:
            await upsert(conn, self._table, {self._key: name}, {self._value: value})
