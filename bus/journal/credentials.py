"""Credentials that systems rotate, kept in the journal so every worker process shares the newest.

Adapters see them through :class:`bus.adapters.base.SecretStore`; this is its journal-backed
implementation.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from bus.journal.keyed import KeyedDocuments
from bus.journal.tables import credentials


class JournalSecrets(KeyedDocuments):
    """A :class:`~bus.adapters.base.SecretStore` in the journal's ``credentials`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine, credentials, key="name", value="value")
