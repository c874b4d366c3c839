"""The in-memory infobase: catalogs and documents by Ref_Key, the price and stock registers,
number series.

Every write takes a new ``DataVersion`` from one counter, rendered like 1C's (base64 of eight
bytes, e.g. ``AAAAAgAAAAA=``), so a version changes on every modification and never comes back.
A reset reloads the seed: the same Ref_Keys, numbers and versions every time.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from typing import Any

from simulators.onec import seed
from simulators.onec.filters import fold
from simulators.onec.schema import (
    CONTRACTS,
    COUNTERPARTIES,
    ENTITY_SETS,
    GOODS,
    ITEMS,
    ORDER,
    ORDERS,
    PRICE,
    RECORD_SET,
    UNITS,
    EntityType,
)
from simulators.tables import IndexedTable

Values = dict[str, Any]

#: Prefix of the customer-order number series (the organisation's prefix in УТ).
ORDER_PREFIX = "УТ-"


def data_version(counter: int) -> str:
    """A ``DataVersion`` as 1C renders it: base64 of the counter and four zero bytes."""
    return base64.b64encode(struct.pack(">II", counter, 0)).decode()


def document_total(rows: list[Values]) -> float:
    """``СуммаДокумента``: the sum of the rows' ``Сумма``."""
    total = round(float(sum(float(row["Сумма"]) for row in rows)), 2)
    return int(total) if total.is_integer() else total


class Table(IndexedTable[str, Values]):
    """The objects of one catalog or document type by Ref_Key, with equality indexes.

    Parameters:
        entity: the entity type whose objects the table holds.
    """

    def __init__(self, entity: EntityType) -> None:
        super().__init__("Ref_Key", entity.indexed)
        self.entity = entity

    def key_of(self, row: Values) -> str:
        """The object's Ref_Key."""
        ref: str = row["Ref_Key"]
        return ref

    def key_from(self, value: Any) -> str:
        """A Ref_Key is the whole key."""
        ref: str = value
        return ref

    def index_value(self, row: Values, field: str) -> Any:
        """The value folded as 1C compares it (strings without case)."""
        return fold(self.entity.by_name[field].edm, row[field])

    def update(self, values: Values, changes: Values) -> None:
        """Apply ``changes`` (never ``Ref_Key``) to the stored object ``values``."""
        with self.changing(values):
            values.update(changes)


@dataclass
class Issued:
    """A document the HTTP service produced for one ``request_id``.

    Parameters:
        request: the request fields that identify a repetition (customer, amount…).
        response: the answer sent the first time, sent again for a repetition.
    """

    request: dict[str, Any]
    response: dict[str, Any]


@dataclass
class Pending:
    """A document the HTTP service is still preparing for one ``request_id``.

    Parameters:
        request: the request fields that identify a repetition, as for :class:`Issued`.
        since: the service's clock (monotonic seconds) when the request_id was first seen.
    """

    request: dict[str, Any]
    since: float


@dataclass
class CustomerRequest:
    """A customer's request registered for the ERP to decide on (a delivery address…).

    Parameters:
        number: the request's number, ``ЗП-000001``…
        request_id: the caller's key; a repetition gets the same request.
        customer: the counterparty's ``Code``.
        kind: what is asked for (``delivery_address``, ``employee``).
        details: what the customer filled in, kept as sent.
        registered_at: when it was registered, as 1C renders dates.
        status: the ERP's decision so far.
    """

    number: str
    request_id: str
    customer: str
    kind: str
    details: dict[str, Any]
    registered_at: str
    status: str = "registered"

    def fingerprint(self) -> dict[str, Any]:
        """The fields that tell a repetition from another request under the same key."""
        return {"customer": self.customer, "kind": self.kind, "details": self.details}

    def answer(self) -> dict[str, Any]:
        """The service's answer to the request and to each repetition."""
        return {"number": self.number, "status": self.status, "request_id": self.request_id}

    def to_json(self) -> dict[str, Any]:
        """The request as ``GET /_control/onec/requests`` lists it."""
        return {
            "number": self.number,
            "request_id": self.request_id,
            "customer": self.customer,
            "kind": self.kind,
            "details": self.details,
            "status": self.status,
            "registered_at": self.registered_at,
        }


class Store:
    """The infobase: objects, the price register, counters, HTTP-service documents and requests.

    ``preparing_for`` is how many seconds a new invoice or act takes to prepare (0: at once);
    ``pending`` holds the documents asked for meanwhile, by (route, request_id).
    """

    def __init__(self) -> None:
        self.tables: dict[str, Table] = {}
        self.prices: list[Values] = []
        #: The record sets of AccumulationRegister_ТоварыНаСкладах, one per recorder.
        self.stock: list[Values] = []
        self.invoices: dict[str, Issued] = {}
        self.acts: dict[str, Issued] = {}
        self.preparing_for = 0.0
        self.pending: dict[tuple[str, str], Pending] = {}
        self.requests: dict[str, CustomerRequest] = {}
        self._version = 0
        self._next_order = seed.NEXT_ORDER_NUMBER
        self.reset()

    def reset(self) -> None:
        """Drop every change and load the seed again (same refs, numbers and versions)."""
        self._version = 0
        self._next_order = seed.NEXT_ORDER_NUMBER
        self.invoices, self.acts = {}, {}
        self.preparing_for, self.pending, self.requests = 0.0, {}, {}
        self.tables = {
            e.name: Table(e) for e in ENTITY_SETS.values() if e.kind in ("catalog", "document")
        }
        for name, rows in (
            (COUNTERPARTIES, seed.COUNTERPARTY_ROWS),
            (ITEMS, seed.ITEM_ROWS),
            (UNITS, seed.UNIT_ROWS),
            (ORDERS, seed.ORDER_ROWS_SEED),
            (CONTRACTS, seed.CONTRACT_ROWS),
        ):
            table = self.tables[name]
            for row in rows:
                values = self.new_object(table.entity, row)
                if table.entity is ORDER:
                    values["СуммаДокумента"] = document_total(values[GOODS])
                table.insert(values)
        self.prices = [{**PRICE.defaults(), **row} for row in seed.PRICE_ROWS]
        self.stock = [
            {**record_set, RECORD_SET: [dict(row) for row in record_set[RECORD_SET]]}
            for record_set in seed.STOCK_MOVEMENTS
        ]

    def bump(self) -> str:
        """The next ``DataVersion``."""
        self._version += 1
        return data_version(self._version)

    def new_object(self, entity: EntityType, values: Values) -> Values:
        """An object of ``entity`` with blanks filled in and a fresh ``DataVersion``."""
        fresh = {**entity.defaults(), **values, "DataVersion": self.bump()}
        if entity.section is not None:
            fresh[entity.section.name] = [dict(row) for row in fresh[entity.section.name]]
        return fresh

    def new_ref(self, entity: EntityType) -> str:
        """A Ref_Key for a created object: deterministic, never handed out twice."""
        # The version counter only grows, so it tells apart every object ever created.
        return seed.ref_key(entity.name, f"#{self._version + 1}")

    def take_order_number(self) -> str:
        """The next customer-order number: ``УТ-000103``, ``УТ-000104``…"""
        number = self._next_order
        self._next_order += 1
        return f"{ORDER_PREFIX}{number:06d}"

    def find_counterparty(self, code: str) -> Values | None:
        """The counterparty (not a folder) with this code."""
        found = self.counterparties.lookup("Code", fold("Edm.String", code))
        return next((c for c in found if not c["IsFolder"]), None)

    def find_item(self, code: str) -> Values | None:
        """The item with this code."""
        found = self.items.lookup("Code", fold("Edm.String", code))
        return found[0] if found else None

    def find_unit(self, item_ref: str, code: str) -> Values | None:
        """The unit ``code`` (``BOX``) of the item with this Ref_Key, not marked for deletion."""
        found = self.units.lookup("Code", fold("Edm.String", code))
        return next(
            (u for u in found if u["Owner_Key"] == item_ref and not u["DeletionMark"]), None
        )

    def order_rows(self) -> list[Values]:
        """Every row of every order, as ``Document_ЗаказКлиента_Товары`` publishes them."""
        return [{"Ref_Key": o["Ref_Key"], **row} for o in self.orders for row in o[GOODS]]

    @property
    def counterparties(self) -> Table:
        """``Catalog_Контрагенты``."""
        return self.tables[COUNTERPARTIES]

    @property
    def items(self) -> Table:
        """``Catalog_Номенклатура``."""
        return self.tables[ITEMS]

    @property
    def units(self) -> Table:
        """``Catalog_ЕдиницыИзмерения``."""
        return self.tables[UNITS]

    @property
    def orders(self) -> Table:
        """``Document_ЗаказКлиента``."""
        return self.tables[ORDERS]
