"""Credentials that systems rotate, kept in the journal so every worker process shares the newest.

Adapters see them through :class:`bus.adapters.base.SecretStore`; this is its journal-backed
implementation. Each document is stored sealed (:mod:`bus.sealing`: ``{"sealed":
"fernet:…"}``), never in clear; a row written in clear before encryption came is still read, and
sealed at its next write or by :func:`reencrypt`.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Text, cast, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.db import writing
from bus.journal.keyed import KeyedDocuments
from bus.journal.tables import credentials, messages
from bus.sealing import PREFIX, Sealer, is_sealed

#: The field of a stored document that holds it sealed.
SEALED = "sealed"


class JournalSecrets(KeyedDocuments):
    """A :class:`~bus.adapters.base.SecretStore` in the journal's ``credentials`` table, every
    document encrypted at rest.

    Parameters:
        sealer: the deployment's journal encryption keys (the development key by default).
    """

    def __init__(self, engine: AsyncEngine, sealer: Sealer | None = None) -> None:
        super().__init__(engine, credentials, key="name", value="value")
        self._sealer = sealer or Sealer.development()

    async def get(self, name: str) -> dict[str, Any] | None:
        """The document stored under ``name``, opened; ``None`` if there is none."""
        stored = await super().get(name)
        return None if stored is None else open_document(self._sealer, stored)

    async def put(self, name: str, value: dict[str, Any]) -> None:
        """Store ``value`` under ``name``, sealed, replacing what was there."""
        await super().put(name, seal_document(self._sealer, value))


def seal_document(sealer: Sealer, value: dict[str, Any]) -> dict[str, Any]:
    """``value`` as the credentials table stores it."""
    return {SEALED: sealer.seal(json.dumps(value, separators=(",", ":")))}


def open_document(sealer: Sealer, stored: dict[str, Any]) -> dict[str, Any]:
    """The document of a stored row (one stored in clear, before encryption, as it is)."""
    if not is_sealed(stored.get(SEALED)):
        return stored
    opened: dict[str, Any] = json.loads(sealer.open(stored[SEALED]))
    return opened


async def reencrypt(engine: AsyncEngine, sealer: Sealer) -> dict[str, int]:
    """Seal every secret the journal keeps under ``sealer``'s first key, in one transaction.

    The credentials (those still in clear too) and the sealed values in messages' results (the
    set-password links). Run it after putting a new key first; then the old key can go.

    Returns:
        How many credentials and message results were sealed again.
    """
    async with writing(engine) as conn:
        rows = (await conn.execute(select(credentials.c.name, credentials.c.value))).all()
        for name, value in rows:
            document = seal_document(sealer, open_document(sealer, value))
            await conn.execute(
                update(credentials).where(credentials.c.name == name).values(value=document)
            )
        holding = select(messages.c.id, messages.c.result).where(
            cast(messages.c.result, Text).like(f"%{PREFIX}%")
        )
        results = (await conn.execute(holding)).all()
        for message_id, result in results:
            await conn.execute(
                update(messages)
                .where(messages.c.id == message_id)
                .values(result=sealer.reseal_json(result))
            )
    return {"credentials": len(rows), "results": len(results)}
