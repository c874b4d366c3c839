"""The in-memory table under the NAV and 1C stores: rows by primary key with equality indexes.

Both simulators keep each entity set as rows in insertion order, reachable by primary key, with
per-field indexes so a ``Field eq value`` filter is answered without a scan. What differs is
supplied by the subclass: what a row is (NAV's versioned record, 1C's plain dict), how its key
is made, and the value an index keeps for a field (1C folds strings, as its collation ignores
case).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


class IndexedTable(Generic[K, R]):
    """Rows ``R`` by primary key ``K``, in insertion order, with equality indexes.

    Parameters:
        key_field: the property that alone makes the primary key, so :meth:`lookup` can answer
            for it from the rows themselves; ``None`` for a compound key.
        indexed: the properties with an equality index.
    """

    def __init__(self, key_field: str | None, indexed: Iterable[str]) -> None:
        self._key_field = key_field
        self._rows: dict[K, R] = {}
        # field -> value -> keys; dict-as-ordered-set keeps look-ups in insertion order.
        self._indexes: dict[str, dict[Any, dict[K, None]]] = {f: {} for f in indexed}

    def key_of(self, row: R) -> K:
        """The primary key of ``row``."""
        raise NotImplementedError

    def key_from(self, value: Any) -> K:
        """The primary key whose only field (``key_field``) has ``value``."""
        raise NotImplementedError

    def index_value(self, row: R, field: str) -> Any:
        """The value of ``field`` in ``row`` as the indexes (and :meth:`lookup`) compare it."""
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[R]:
        return iter(self._rows.values())

    def get(self, key: K) -> R | None:
        """The row with this primary key, if any."""
        return self._rows.get(key)

    def insert(self, row: R) -> None:
        """Add a row whose key is not taken yet."""
        key = self.key_of(row)
        self._rows[key] = row
        self._index(key, row)

    @contextmanager
    def changing(self, row: R) -> Iterator[None]:
        """Keep the indexes right while the ``with`` body changes ``row`` (never its key)."""
        key = self.key_of(row)
        self._unindex(key, row)
        try:
            yield
        finally:
            self._index(key, row)

    def delete(self, key: K) -> None:
        """Remove the row with this key, if present."""
        row = self._rows.pop(key, None)
        if row is not None:
            self._unindex(key, row)

    def indexes(self, field: str) -> bool:
        """Whether :meth:`lookup` can answer for ``field`` without a scan."""
        return field in self._indexes or field == self._key_field

    def lookup(self, field: str, value: Any) -> list[R]:
        """Rows whose ``field`` equals ``value`` (``field`` must satisfy :meth:`indexes`)."""
        if field in self._indexes:
            keys = self._indexes[field].get(value, {})
            return [self._rows[k] for k in keys]
        row = self._rows.get(self.key_from(value))
        return [] if row is None else [row]

    def _index(self, key: K, row: R) -> None:
        for field, index in self._indexes.items():
            index.setdefault(self.index_value(row, field), {})[key] = None

    def _unindex(self, key: K, row: R) -> None:
        for field, index in self._indexes.items():
            value = self.index_value(row, field)
            bucket = index.get(value)
            if bucket is not None:
                bucket.pop(key, None)
                if not bucket:
                    del index[value]


def candidates(rows: Iterable[R], equalities: Iterable[tuple[str, Any]]) -> Iterable[R]:
    """The rows a filter needs to test: an index's answer for one of its ``equalities``, if any.

    ``equalities`` are ``(field, value)`` pairs every row the filter keeps satisfies, with values
    as the table's indexes keep them; plain iterables (computed rows) are scanned whole.
    """
    if isinstance(rows, IndexedTable):
        indexed = next(((f, v) for f, v in equalities if rows.indexes(f)), None)
        if indexed is not None:
            found: list[R] = rows.lookup(*indexed)
            return found
    return rows
