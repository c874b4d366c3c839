"""A :class:`bus.adapters.base.DocumentStore` in memory, for tests of what keeps documents (the
customer directory, rotating credentials) without a journal."""

from __future__ import annotations

from typing import Any


class MemoryDocuments:
    """JSON documents by name, in :attr:`kept`."""

    def __init__(self) -> None:
        self.kept: dict[str, dict[str, Any]] = {}

    async def get(self, name: str) -> dict[str, Any] | None:
        """The document ``name``, if kept."""
        return self.kept.get(name)

    async def put(self, name: str, value: dict[str, Any]) -> None:
        """Keep ``value`` as ``name``."""
        self.kept[name] = value
