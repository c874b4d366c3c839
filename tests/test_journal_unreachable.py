"""Which database errors say "the journal cannot be reached" (retry the call), and which do not.

Callers get ``-32030 Journal unavailable`` only for the first kind; a wrong statement or a bug stays
an internal error. Restarts and stops of a real server are in ``tests/e2e/test_restarts.py``.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bus.db import create_engine, journal_unreachable, reading
from bus.sandbox import free_port


async def _error_of(url: str, statement: str = "SELECT 1") -> Exception:
    engine = create_engine(url)
    try:
        async with reading(engine) as conn:
            await conn.execute(text(statement))
    except Exception as exc:
        return exc
    finally:
        await engine.dispose()
    raise AssertionError(f"{statement!r} on {url} did not fail")


async def test_a_refused_connection_is_unreachable() -> None:
    nobody = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/postgres"
    assert journal_unreachable(await _error_of(nobody))


@pytest.mark.postgres
async def test_a_wrong_statement_is_not(postgres_url: str) -> None:
    assert not journal_unreachable(await _error_of(postgres_url, "SELECT * FROM no_such_table"))


def test_an_os_error_of_other_code_is_not() -> None:
    try:
        raise ConnectionRefusedError(111, "refused by something that is not the journal")
    except ConnectionRefusedError as exc:
        assert not journal_unreachable(exc)
