"""The secrets the journal keeps are encrypted at rest, and the keys rotate.

The credentials table holds Bitrix24's OAuth tokens only sealed under the first of the
``journal_encryption_keys``; every key of the list opens them; ``reencrypt`` seals every
credential (one still in clear too) and every sealed value in messages' results (the
set-password links) under the new first key, after which the old key can go.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr, ValidationError
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from bus.cli import app
from bus.db import create_engine, reading, writing
from bus.journal.accept import Accepted
from bus.journal.credentials import JournalSecrets, reencrypt
from bus.journal.ids import utcnow
from bus.journal.tables import credentials, messages
from bus.migrate import upgrade
from bus.sealing import Sealer, SealError
from bus.settings import Settings
from tests.journal.test_accept import accept, command

TOKENS = {"access_token": "access-4f1c9a7e", "refresh_token": "refresh-8b2d6c0f", "seed": "s"}
LINK = "https://b2b.example/auth/set-password?user=u-0003&token=0a1b2c3d4e5f"


def new_key() -> str:
    return Fernet.generate_key().decode()


async def stored(journal: AsyncEngine, name: str) -> Any:
    """The credentials row as the table holds it."""
    async with reading(journal) as conn:
        query = select(credentials.c.value).where(credentials.c.name == name)
        return (await conn.execute(query)).scalar_one()


async def result_of(journal: AsyncEngine, message_id: str) -> Any:
    async with reading(journal) as conn:
        query = select(messages.c.result).where(messages.c.id == message_id)
        return (await conn.execute(query)).scalar_one()


async def test_oauth_tokens_are_stored_encrypted_and_read_back(journal: AsyncEngine) -> None:
    key = new_key()
    secrets = JournalSecrets(journal, Sealer([key]))
    await secrets.put("bitrix24-oauth", TOKENS)
    row = await stored(journal, "bitrix24-oauth")
    assert set(row) == {"sealed"} and row["sealed"].startswith("fernet:")
    assert "access-4f1c9a7e" not in json.dumps(row) and "refresh-8b2d6c0f" not in json.dumps(row)
    assert await secrets.get("bitrix24-oauth") == TOKENS
    with pytest.raises(SealError):  # another deployment's key opens nothing
        await JournalSecrets(journal, Sealer([new_key()])).get("bitrix24-oauth")


async def test_a_new_key_first_reads_the_old_rows_and_reencrypt_retires_the_old_key(
    journal: AsyncEngine,
) -> None:
    old, new = new_key(), new_key()
    await JournalSecrets(journal, Sealer([old])).put("bitrix24-oauth", TOKENS)
    # A row written in clear before the journal encrypted anything, and a sealed link in the
    # results of the account's steps (the user step's, and copied into the next one's context).
    async with writing(journal) as conn:
        await conn.execute(
            insert(credentials).values(name="legacy", value=TOKENS, updated_at=utcnow())
        )
    [message] = await accept(journal, command("k-link"))
    assert isinstance(message, Accepted)
    sealed_link = Sealer([old]).seal(LINK)
    result = {"set_password_link": sealed_link, "context": {"set_password_link": sealed_link}}
    async with writing(journal) as conn:
        await conn.execute(
            update(messages).where(messages.c.id == message.message_id).values(result=result)
        )

    rotated = Sealer([new, old])
    assert await JournalSecrets(journal, rotated).get("bitrix24-oauth") == TOKENS
    assert await reencrypt(journal, rotated) == {"credentials": 2, "results": 1}

    only_new = Sealer([new])
    for name in ("bitrix24-oauth", "legacy"):
        assert await JournalSecrets(journal, only_new).get(name) == TOKENS
        assert "refresh-8b2d6c0f" not in json.dumps(await stored(journal, name))
        with pytest.raises(SealError):
            await JournalSecrets(journal, Sealer([old])).get(name)
    kept = await result_of(journal, message.message_id)
    assert only_new.open(kept["set_password_link"]) == LINK
    assert only_new.open(kept["context"]["set_password_link"]) == LINK
    with pytest.raises(SealError):
        Sealer([old]).open(kept["set_password_link"])


def test_the_embedded_default_has_a_development_key_and_a_bad_key_is_refused_naming_it() -> None:
    default = Sealer.from_settings(Settings())
    assert default.open(Sealer.development().seal("x")) == "x"
    keys = (SecretStr(new_key()), SecretStr("not-a-key"))
    with pytest.raises(ValidationError, match="journal_encryption_keys"):
        Settings(journal_encryption_keys=keys)


def test_bus_secrets_reencrypt_seals_the_journal_under_the_new_first_key(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}"
    upgrade(url)
    old, new = new_key(), new_key()

    async def put(keys: list[str]) -> None:
        engine = create_engine(url)
        try:
            await JournalSecrets(engine, Sealer(keys)).put("bitrix24-oauth", TOKENS)
        finally:
            await engine.dispose()

    async def get(keys: list[str]) -> dict[str, Any] | None:
        engine = create_engine(url)
        try:
            return await JournalSecrets(engine, Sealer(keys)).get("bitrix24-oauth")
        finally:
            await engine.dispose()

    asyncio.run(put([old]))
    env = {"BUS_DATABASE_URL": url, "BUS_JOURNAL_ENCRYPTION_KEYS": json.dumps([new, old])}
    done = CliRunner().invoke(app, ["secrets", "reencrypt"], env=env)
    assert done.exit_code == 0, done.output
    assert "re-encrypted 1 credentials" in done.output
    assert asyncio.run(get([new])) == TOKENS
    with pytest.raises(SealError):
        asyncio.run(get([old]))
