"""Database engines for the journal: SQLite (embedded default) and PostgreSQL (production).

SQLite gets WAL, ``synchronous=NORMAL``, a busy timeout and ``BEGIN IMMEDIATE`` for writing
transactions: a deferred BEGIN upgrades its lock on first write without waiting on the busy
timeout, which loses most concurrent writers (see the stack notes). Read-only work opens a deferred
transaction through :func:`reading`, so readers never queue behind writers under WAL.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import Engine, event
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool, QueuePool
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from bus.journal import storable

_READ_ONLY = "bus_read_only"

#: Seconds to open one PostgreSQL connection. A server that takes longer is not there for us
#: (asyncpg's default is 60 s): failing sooner lets a caller hear "journal unavailable" within
#: its call budget instead of a bare timeout.
CONNECT_TIMEOUT = 5.0


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
        # server restart is invalidated on its first error anyway, with every pooled connection
        # older than it, so the pool reconnects by itself (tests/e2e/test_restarts.py). That call
        # fails unacknowledged (``journal_unreachable``: a retryable error for the caller), so
        # nothing accepted is lost; the caller retries with its idempotency key.
        options.update(pool_size=pool_size, max_overflow=pool_size)
    if url.startswith("postgresql"):
        options["connect_args"] = {"timeout": CONNECT_TIMEOUT}
        # jsonb takes no NUL: one in what a system sent (a profile, a receipt) is stored as
        # U+FFFD rather than failing the statement (bus.journal.storable)
        options["json_serializer"] = storable.json_dumps
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


@dataclass(frozen=True)
class DriverStatement:
    """A statement compiled once for asyncpg, run on the driver's own connection
    (:func:`driver_connection`): the SQL with ``$n`` placeholders and the names of its
    parameters in their order.

    For the worker's statements run once per attempt (the claim, the finish): SQLAlchemy's
    execution around each (its execution context, result processing, type processors) cost about
    as much CPU as asyncpg's own work. Values go as asyncpg takes them: aware datetimes, and JSON
    as text where the statement casts it (``CAST(:result AS jsonb)``); JSON comes back decoded
    (the engine's connections carry SQLAlchemy's JSON codecs).
    """

    sql: str
    names: tuple[str, ...]
    constants: Mapping[str, Any]

    @classmethod
    def of(cls, statement: ClauseElement) -> DriverStatement:
        """Compile ``statement`` for asyncpg; its literal values are kept as constants."""
        compiled = statement.compile(dialect=PGDialect_asyncpg())  # type: ignore[no-untyped-call]
        assert isinstance(compiled, SQLCompiler)  # a statement's compiler, which knows the order
        return cls(str(compiled), tuple(compiled.positiontup or ()), dict(compiled.params))

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        """The positional arguments for ``values`` by name (the constants where not given)."""
        return [values[name] if name in values else self.constants[name] for name in self.names]


@asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[Any]:
    """A PostgreSQL connection's ``asyncpg.Connection``, outside any transaction: each statement
    commits on its own. One of the engine's connections held for such statements
    (:class:`HeldConnections`), or one from its pool while they are all in use.

    A connection a statement failed on for any reason but the statement's own (an error the
    server reported for it) is invalidated, as SQLAlchemy does with its own statements: the
    journal cannot be reached on it, or it was closed under us (the server ended the session),
    or the driver's state is in doubt.
    """
    held = HeldConnections.of(engine)
    taken = held.take() or await held.open(engine)
    if taken is None:  # every held one is in use: one from the pool, for this statement
        async with engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            try:
                yield driver
            except Exception as error:
                if not _statements_own(error, driver):
                    await conn.invalidate(error)
                raise
        return
    conn, driver = taken
    try:
        yield driver
    except Exception as error:
        if _statements_own(error, driver):
            held.give_back(taken)
        else:
            await held.invalidate(conn, error, idle_too=driver.is_closed())
        raise
    except BaseException:  # cut in the middle of a statement: the pool resets it, as before
        await held.release(conn)
        raise
    held.give_back(taken)


def _statements_own(error: Exception, driver: Any) -> bool:
    """Whether ``error`` is the server's answer to the statement, on a connection still fine."""
    return (
        isinstance(error, asyncpg.PostgresError)
        and not journal_unreachable(error)
        and not driver.is_closed()
    )


_Held = tuple[AsyncConnection, Any]  # the connection, and its asyncpg.Connection


class HeldConnections:
    """PostgreSQL connections taken out of an engine's pool once and kept, for the statements a
    worker runs on the driver's connection (the claim, the finish: :class:`DriverStatement`).

    Checking a connection out of SQLAlchemy's pool and back in (its greenlet hand-offs, the
    pool's bookkeeping and reset) costs about three times the CPU of a one-row statement: each
    claim and finish paid it. A held connection goes from one statement to the next without
    it. At most the pool's size are held, so its overflow stays for transactions.

    A held connection the server closed is invalidated with every idle one (they went down with
    the server; SQLAlchemy's pool drops every connection older than one that failed so).
    Disposing of the engine invalidates every held one.
    """

    _of: weakref.WeakKeyDictionary[Engine, HeldConnections] = weakref.WeakKeyDictionary()

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._idle: list[_Held] = []
        self._held: set[AsyncConnection] = set()  # idle and in use
        self._opening = 0

    @classmethod
    def of(cls, engine: AsyncEngine) -> HeldConnections:
        """``engine``'s held connections (none yet on first use)."""
        held = cls._of.get(engine.sync_engine)
        if held is None:
            pool = engine.sync_engine.pool
            # (not the engine itself: it is the key of what refers to it only weakly)
            held = cls(pool.size() if isinstance(pool, QueuePool) else 0)
            cls._of[engine.sync_engine] = held
            event.listen(engine.sync_engine, "engine_disposed", held._on_disposed)
        return held

    def take(self) -> _Held | None:
        """An idle held connection, if any."""
        return self._idle.pop() if self._idle else None

    async def open(self, engine: AsyncEngine) -> _Held | None:
        """A connection newly taken out of ``engine``'s pool to be held; ``None`` if as many are
        held as may be."""
        if len(self._held) + self._opening >= self._limit:
            return None
        self._opening += 1  # counted while it connects: callers meanwhile hold no more
        try:
            conn = await engine.connect().start()
            driver = (await conn.get_raw_connection()).driver_connection
        finally:
            self._opening -= 1
        self._held.add(conn)
        return conn, driver

    def give_back(self, held: _Held) -> None:
        """``held`` is free for the next statement."""
        self._idle.append(held)

    async def release(self, conn: AsyncConnection) -> None:
        """Hold ``conn`` no more: back to the pool, which resets it."""
        self._held.discard(conn)
        await asyncio.shield(conn.close())

    async def invalidate(
        self, conn: AsyncConnection, error: BaseException, *, idle_too: bool
    ) -> None:
        """Hold ``conn`` no more and close it; with every idle one when ``idle_too`` (the server
        ended the sessions: they went with it)."""
        dropped = [conn]
        if idle_too:
            dropped += [other for other, _ in self._idle]
            self._idle = []
        for one in dropped:
            self._held.discard(one)
            await one.invalidate(error)
            await one.close()

    def _on_disposed(self, _engine: Engine) -> None:
        # In the engine's dispose (in SQLAlchemy's greenlet): the pool the held connections came
        # from is closed and replaced; close them too.
        for conn in self._held:
            conn.sync_connection.invalidate()  # type: ignore[union-attr]
        self._held.clear()
        self._idle.clear()


#: SQLSTATEs (or their class) of a server that cannot be reached now, not of a wrong statement:
#: 08 connection exception, 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now
#: (starting up, shutting down, in recovery), 53300 too many connections.
_UNREACHABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")

#: SQLite's "busy" (another process holds the lock past the busy timeout).
_SQLITE_BUSY = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED"})

#: Modules in which a plain ``OSError`` means that connecting to the journal failed.
_DRIVER_MODULES = ("asyncpg", "sqlalchemy", "aiosqlite")


def journal_unreachable(error: BaseException) -> bool:
    """True when ``error`` says the journal cannot be reached now (not that a statement is wrong):
    the server is down, starting, shutting down or restarting, the connection was cut, the pool
    had no connection to hand out in time, or SQLite stayed locked.

    Such a failure is everyone's: retrying the same work later may succeed. Anything else (a
    constraint, a value the database refuses, a bug, a misused connection) belongs to the
    statement that caused it.

    Connecting raises the driver's own errors, unwrapped (asyncpg's ``ConnectionRefusedError``),
    recognised by their SQLSTATE or as an ``OSError`` raised inside the driver, so that an
    ``OSError`` of other code is not taken for the journal's. Errors during a statement come
    wrapped, with SQLAlchemy's verdict on whether the connection is gone.
    """
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, PoolTimeout):
            return True
        sqlstate = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_UNREACHABLE_SQLSTATES):
            return True
        if getattr(current, "sqlite_errorname", None) in _SQLITE_BUSY:
            return True
        if isinstance(current, OSError) and _raised_in_driver(current):
            return True
        # What it wraps (SQLAlchemy's .orig) and what it was raised from; not __context__: an
        # error raised while another was handled is an error of its own.
        pending += [e for e in (getattr(current, "orig", None), current.__cause__) if e is not None]
    return False


def _raised_in_driver(error: BaseException) -> bool:
    traceback = error.__traceback__
    while traceback is not None:
        module = traceback.tb_frame.f_globals.get("__name__", "")
        if isinstance(module, str) and module.startswith(_DRIVER_MODULES):
            return True
        traceback = traceback.tb_next
    return False
