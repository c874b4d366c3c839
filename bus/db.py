"""Database engines for the journal: SQLite (embedded default) and PostgreSQL (production).

SQLite gets WAL, ``synchronous=NORMAL``, a busy timeout and ``BEGIN IMMEDIATE`` for writing
transactions: a deferred BEGIN upgrades its lock on first write without waiting on the busy
timeout, which loses most concurrent writers (see the stack notes). Read-only work opens a deferred
transaction through :func:`reading`, so readers never queue behind writers under WAL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

_READ_ONLY = "bus_read_only"


def create_engine(url: str, *, pool_size: int = 10, null_pool: bool = False) -> AsyncEngine:
    """Build an async engine for ``url``, tuned for the journal.

    Parameters:
        url: a ``sqlite+aiosqlite://`` or ``postgresql+asyncpg://`` URL.
        pool_size: connections kept open (PostgreSQL).
        null_pool: open a connection per use; for short-lived loops such as a CLI command.
    """
    options: dict[str, Any] = {}
    if null_pool:
        options["poolclass"] = NullPool
    elif url.startswith("postgresql"):
        # No pre-ping: it costs a round trip per transaction, and a connection broken by a
        # server restart is invalidated on its first error anyway (that call fails unacknowledged,
        # so nothing accepted is lost; the caller retries with its idempotency key).
        options.update(pool_size=pool_size, max_overflow=pool_size)
    if url.startswith("sqlite"):
        options["connect_args"] = {"timeout": 30}
    engine = create_async_engine(url, **options)
    if url.startswith("sqlite"):
        _tune_sqlite(engine)
    return engine


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so our BEGIN is the one that runs.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "busy_timeout=30000",
            "foreign_keys=ON",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return  # each statement is its own transaction; nobody would commit a BEGIN
        conn.exec_driver_sql("BEGIN" if options.get(_READ_ONLY, False) else "BEGIN IMMEDIATE")


@asynccontextmanager
async def writing(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A writing transaction: committed on success, rolled back on error."""
    async with engine.begin() as conn:
        yield conn


@asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A read-only transaction (deferred on SQLite, so it does not block writers)."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(**{_READ_ONLY: True})
        async with conn.begin():
            yield conn


@asynccontextmanager
async def autocommit(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection whose every statement commits on its own: for single atomic statements,
    one round trip instead of three (BEGIN, statement, COMMIT)."""
    async with engine.connect() as conn:
        yield await conn.execution_options(isolation_level="AUTOCOMMIT")


#: What a journal that is down, starting or restarting raises: no connection, or one it dropped.
_UNREACHABLE = (OSError, TimeoutError, ConnectionError)


def journal_unreachable(error: BaseException) -> bool:
    """True when ``error`` says the journal cannot be reached now (not that a statement is wrong).

    Such a failure is everyone's: retrying the same work later may succeed. Anything else (a
    constraint, a value the database refuses, a bug) belongs to the statement that caused it.
    """
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or isinstance(error, OperationalError | InterfaceError)
    return isinstance(error, _UNREACHABLE)
