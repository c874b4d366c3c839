"""The in-memory NAV database: tables of versioned records, indexes and number series.

Every write takes a new row version from one counter (like SQL Server's ``timestamp``
column that NAV's etags are made from), so an etag changes on every modification.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from simulators.navision import seed
from simulators.navision.schema import (
    CONTAINED,
    CUSTOMER_LEDGER_ENTRIES,
    ENTITY_SETS,
    ITEM,
    ITEM_UNITS_OF_MEASURE,
    SALES_LINE,
    SALES_ORDER,
    SALES_PRICES,
    EntityType,
)
from simulators.tables import IndexedTable

Key = tuple[Any, ...]

_LAST_DIGITS = re.compile(r"(\d+)(?!.*\d)")


@dataclass(frozen=True, slots=True)
class IssuedDocument:
    """A document the ``B2BDocuments`` codeunit issued, kept under the caller's request id.

    Parameters:
        function: the codeunit function that issued it (``IssueInvoice``).
        arguments: the call's arguments other than the request id, to tell a repeat from a
            request id used again for something else.
        results: what the call answered, answered again to a repeat.
    """

    function: str
    arguments: dict[str, Any]
    results: dict[str, Any]


@dataclass(slots=True)
class Record:
    """One row: its property values and the version its etag is derived from."""

    values: dict[str, Any]
    version: int


class Table(IndexedTable[Key, Record]):
    """The records of one entity type, in insertion order, indexed by primary key.

    Parameters:
        entity: the entity type whose records the table holds.
    """

    def __init__(self, entity: EntityType) -> None:
        single_key = entity.key[0] if len(entity.key) == 1 else None
        super().__init__(single_key, entity.indexed)
        self.entity = entity

    def key_of(self, row: Record) -> Key:
        """The record's primary key."""
        return self.entity.key_of(row.values)

    def key_from(self, value: Any) -> Key:
        """The key of a one-field primary key."""
        return (value,)

    def index_value(self, row: Record, field: str) -> Any:
        """NAV compares values as stored (its filters are case-sensitive)."""
        return row.values[field]

    def update(self, record: Record, changes: dict[str, Any], version: int) -> None:
        """Apply ``changes`` (never key fields) to ``record`` and give it ``version``."""
        with self.changing(record):
            record.values.update(changes)
            record.version = version


class ItemUnits(Mapping[Key, float]):
    """``ItemUnitsOfMeasure`` read as (item no., unit code) -> base units per unit.

    A view of the published table, so pricing, orders and the page never disagree.
    """

    def __init__(self, table: Table) -> None:
        self._table = table

    def __getitem__(self, key: Key) -> float:
        record = self._table.get(key)
        if record is None:
            raise KeyError(key)
        return float(record.values["Qty_per_Unit_of_Measure"])

    def __iter__(self) -> Iterator[Key]:
        return (self._table.key_of(record) for record in self._table)

    def __len__(self) -> int:
        return len(self._table)


class Store:
    """All tables of one company, the row-version counter and the number series.

    Parameters:
        today: the date the seeded ledger entries are dated from (they are due, overdue or not
            yet due relative to it).
    """

    def __init__(self, today: Callable[[], date] = date.today) -> None:
        self._today = today
        self.tables: dict[str, Table] = {}
        #: entity-set name (or other series name) -> the last number its series gave out.
        self.last_numbers: dict[str, str] = {}
        #: request id -> the document ``B2BDocuments`` issued for it.
        self.documents: dict[str, IssuedDocument] = {}
        self._version = 0
        self.reset()

    def reset(self) -> None:
        """Drop every change and load the seed data again (same numbers, same etags)."""
        self._version = 0
        self.last_numbers = {}
        self.documents = {}
        self.tables = {e.name: Table(e) for e in (*ENTITY_SETS.values(), *CONTAINED.values())}
        for entity_name, rows in seed.TABLES.items():
            table = self.tables[entity_name]
            for row in rows:
                table.insert(self.new_record(table.entity, row))
        units = self.tables[ITEM_UNITS_OF_MEASURE.name]
        for (item_no, code), quantity in seed.ITEM_UNITS.items():
            row = {"Item_No": item_no, "Code": code, "Qty_per_Unit_of_Measure": quantity}
            units.insert(self.new_record(units.entity, row))
        ledger = self.tables[CUSTOMER_LEDGER_ENTRIES.name]
        for row in seed.ledger_entries(self._today()):
            ledger.insert(self.new_record(ledger.entity, row))

    def bump(self) -> int:
        """The next row version."""
        self._version += 1
        return self._version

    def new_record(self, entity: EntityType, values: dict[str, Any]) -> Record:
        """A record of ``entity`` with blanks filled in and a fresh version."""
        return Record({**entity.defaults(), **values}, self.bump())

    def take_no(self, entity: EntityType) -> str:
        """The next number of ``entity``'s series (``101001``, ``101002``, ... or ``REQ-0001``)."""
        return self.next_number(entity.name, entity.number_series)

    def next_number(self, series: str, first: str) -> str:
        """The next number of the series named ``series``, which starts at ``first``."""
        last = self.last_numbers.get(series)
        number = first if last is None else increment(last)
        self.last_numbers[series] = number
        return number

    @property
    def items(self) -> Table:
        """The ``Item`` table."""
        return self.tables[ITEM.name]

    @property
    def item_units(self) -> ItemUnits:
        """(item no., unit of measure code) -> quantity of base units per that unit."""
        return ItemUnits(self.tables[ITEM_UNITS_OF_MEASURE.name])

    @property
    def orders(self) -> Table:
        """The ``SalesOrder`` (Sales Header) table."""
        return self.tables[SALES_ORDER.name]

    @property
    def lines(self) -> Table:
        """The sales lines, reached through ``SalesOrderSalesLines``."""
        return self.tables[SALES_LINE.name]

    @property
    def prices(self) -> Table:
        """The ``SalesPrices`` table."""
        return self.tables[SALES_PRICES.name]

    def lines_of(self, order: Record) -> list[Record]:
        """The lines of a sales order, by line number."""
        values = order.values
        lines = self.lines.lookup("Document_No", values["No"])
        mine = (r for r in lines if r.values["Document_Type"] == values["Document_Type"])
        return sorted(mine, key=lambda r: int(r.values["Line_No"]))


def increment(number: str) -> str:
    """The number after ``number``, as NAV's ``INCSTR``: its last digits, same width.

    ``REQ-0009`` gives ``REQ-0010``; a full run of nines grows (``REQ-9999`` -> ``REQ-10000``).
    """
    match = _LAST_DIGITS.search(number)
    if match is None:
        raise ValueError(f"the number {number!r} has no digits to increment")
    digits = match.group(1)
    start, end = match.span(1)
    return number[:start] + str(int(digits) + 1).zfill(len(digits)) + number[end:]
