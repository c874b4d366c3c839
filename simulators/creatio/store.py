"""The in-memory rows of every entity set, with deterministic ids and the seed data.

The store also notes the orders saved since the app last asked (:meth:`Store.take_changed_orders`):
an ``Order`` PATCHed, or an ``OrderProduct`` of it added, changed or deleted. Those saves start
the order-changed business process (see :mod:`simulators.creatio.hooks`).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import Any

from simulators.creatio.entities import EMPTY_GUID, EntitySet, coerce, entity_sets, now_text
from simulators.creatio.errors import CreatioError, bad_request, not_found

Row = dict[str, Any]
#: Everything :meth:`Store.restore` needs to undo the changes made after a snapshot: the rows,
#: the id counter and the orders noted as changed.
Snapshot = tuple[dict[str, dict[str, Row]], int, dict[str, None]]
#: The namespace of every generated and seeded id, so runs are reproducible.
ID_NAMESPACE = uuid.UUID("5b1c4b3e-6f0e-4d7a-9c36-0c2e7f1a9d10")


def seed_id(name: str) -> str:
    """The fixed GUID of a seeded row (e.g. ``seed_id("OrderStatus:New")``)."""
    return str(uuid.uuid5(ID_NAMESPACE, f"seed:{name}"))


#: Order status ids the bus can rely on.
ORDER_STATUSES = {
    "New": seed_id("OrderStatus:New"),
    "InProgress": seed_id("OrderStatus:InProgress"),
    "Completed": seed_id("OrderStatus:Completed"),
    "Canceled": seed_id("OrderStatus:Canceled"),
}
#: The seeded units of measure by short name: the ERPs' codes for a box, a bottle, a piece.
SEED_UNITS = {
    "BOX": "Box",
    "BOTTLE": "Bottle",
    "PCS": "Piece",
    "шт": "Штука",
    "уп": "Упаковка",
}
#: The account managers (Creatio's employees are contacts; an account's ``Owner`` is one) and the
#: accounts they look after, by ``Account.Code``. Fabrikam (30000) has no manager yet.
SEED_OWNERS = {
    "Marina Sokolova": ("m.sokolova@wholesale.example", ("10000",)),
    "Pavel Orlov": ("p.orlov@wholesale.example", ("20000", "50000")),
}
#: The storefront settings a manager keeps on an account: its greeting
#: (``UsrStorefrontGreeting``) and its menu items (the ``UsrStorefrontMenuItem`` detail).
SEED_STOREFRONT = {"10000": ("Добрый день, Adatum!", ("catalog", "orders", "documents"))}
#: The seeded accounts by their ERP customer number (``Account.Code``).
SEED_ACCOUNTS = {
    "10000": "Adatum Corporation",
    "20000": "Trey Research",
    "30000": "Fabrikam",
    "50000": "Relecloud",
}


class Store:
    """Rows by entity set and id, in insertion order.

    Parameters:
        clock: the current time as Creatio writes it, for ``CreatedOn``/``ModifiedOn``.
    """

    def __init__(self, clock: Callable[[], str] = now_text) -> None:
        self.sets = entity_sets()
        self.clock = clock
        self.tables: dict[str, dict[str, Row]] = {}
        self._counter = 0
        # Order ids in the order they were saved (a dict as an ordered set).
        self._changed_orders: dict[str, None] = {}
        self.reset()

    def reset(self) -> None:
        """Forget every change and restore the seed data."""
        self.tables = {name: {} for name in self.sets}
        self._counter = 0
        self._changed_orders = {}
        _seed(self)

    def snapshot(self) -> Snapshot:
        """A copy of every row, the id counter and the changed orders (a change set's savepoint)."""
        return copy.deepcopy(self.tables), self._counter, dict(self._changed_orders)

    def restore(self, snapshot: Snapshot) -> None:
        """Roll back to a :meth:`snapshot` (the snapshot stays usable)."""
        tables, counter, changed_orders = snapshot
        self.tables = copy.deepcopy(tables)
        self._counter = counter
        # A rolled-back change set saved nothing: its orders must not start the process.
        self._changed_orders = dict(changed_orders)

    def take_changed_orders(self) -> list[Row]:
        """The orders saved since the last call, oldest change first, and forget them.

        Orders deleted meanwhile are left out: a process does not run for a deleted record.
        """
        changed = [self.tables["Order"].get(key) for key in self._changed_orders]
        self._changed_orders = {}
        return [order for order in changed if order is not None]

    def entity(self, name: str) -> EntitySet:
        """The entity set ``name``; an unknown set is a 401, as on a real Creatio."""
        entity = self.sets.get(name)
        if entity is None:
            raise CreatioError(401, f"Entity set '{name}' not found.")
        return entity

    def rows(self, name: str) -> list[Row]:
        """Every row of a set, oldest first."""
        return list(self.tables[name].values())

    def get(self, name: str, key: str) -> Row:
        """One row by id.

        Raises:
            CreatioError: 404 when no row has that id.
        """
        row = self.tables[name].get(key)
        if row is None:
            raise not_found(f"Entity of type '{name}' with Id '{key}' not found.")
        return row

    def create(self, name: str, body: dict[str, Any]) -> Row:
        """Insert a row from a request body; the id is generated unless the body has one."""
        entity = self.entity(name)
        values = {column: coerce(entity, column, value) for column, value in body.items()}
        row: Row = {column: entity.default(column) for column in entity.columns}
        row.update(values)
        if "Id" not in values or row["Id"] == EMPTY_GUID:
            row["Id"] = self.next_id(name)
        if row["Id"] in self.tables[name]:
            raise bad_request(f"An entity of type '{name}' with Id '{row['Id']}' already exists.")
        self._check_lookups(entity, row)
        if name == "Order" and not row["Number"]:
            # Creatio numbers orders itself (ORD-1, ORD-2, ...) when the client leaves it out.
            row["Number"] = f"ORD-{len(self.tables[name]) + 1}"
        stamp = self.clock()
        row["CreatedOn"] = row["CreatedOn"] or stamp
        row["ModifiedOn"] = stamp
        self.tables[name][row["Id"]] = row
        if name == "OrderProduct":
            self._order_changed(row["OrderId"])
        return row

    def update(self, name: str, key: str, body: dict[str, Any]) -> Row:
        """Change some columns of a row (the id cannot change)."""
        entity = self.entity(name)
        row = self.get(name, key)
        values = {column: coerce(entity, column, value) for column, value in body.items()}
        if values.get("Id", key) != key:
            raise bad_request("The key property 'Id' cannot be changed.")
        self._check_lookups(entity, {**row, **values})
        previous_order = row.get("OrderId")
        row.update(values)
        row["ModifiedOn"] = self.clock()
        if name == "Order":
            self._order_changed(key)
        elif name == "OrderProduct":
            # A row moved to another order changes both orders.
            self._order_changed(previous_order)
            self._order_changed(row["OrderId"])
        return row

    def delete(self, name: str, key: str) -> None:
        """Delete a row, refusing while another row's lookup points at it (an FK violation)."""
        self.get(name, key)
        for other, entity in self.sets.items():
            columns = [column for column, target in entity.lookups.items() if target == name]
            if any(row[c] == key for row in self.tables[other].values() for c in columns):
                raise CreatioError(
                    500,
                    f"The DELETE statement conflicted with the REFERENCE constraint on "
                    f"'{other}'. The record of '{name}' with Id '{key}' is still referenced.",
                    "System.Data.SqlClient.SqlException",
                )
        deleted = self.tables[name].pop(key)
        if name == "OrderProduct":
            self._order_changed(deleted["OrderId"])

    def next_id(self, name: str) -> str:
        """A fresh deterministic id."""
        self._counter += 1
        return str(uuid.uuid5(ID_NAMESPACE, f"{name}:{self._counter}"))

    def _order_changed(self, order_id: str | None) -> None:
        """Note a saved order; a product row change saves its order too (Creatio recalculates
        the order's totals), so the order's ``ModifiedOn`` moves with its rows."""
        order = self.tables["Order"].get(order_id or EMPTY_GUID)
        if order is None:
            return
        order["ModifiedOn"] = self.clock()
        self._changed_orders[order["Id"]] = None

    def _check_lookups(self, entity: EntitySet, row: Row) -> None:
        for column, target in entity.lookups.items():
            value = row[column]
            if value != EMPTY_GUID and value not in self.tables[target]:
                raise bad_request(
                    f"The INSERT/UPDATE statement conflicted with the FOREIGN KEY constraint "
                    f"'FK{entity.name}{column}': no '{target}' with Id '{value}'."
                )


def _seed(store: Store) -> None:
    for name, status_id in ORDER_STATUSES.items():
        store.create("OrderStatus", {"Id": status_id, "Name": name, "Code": name})
    store.create("Currency", {"Id": seed_id("Currency:EUR"), "Name": "Euro", "Code": "EUR"})
    for short_name, name in SEED_UNITS.items():
        unit = {"Id": seed_id(f"Unit:{short_name}"), "Name": name, "ShortName": short_name}
        store.create("Unit", unit)
    customer = seed_id("AccountType:Customer")
    store.create("AccountType", {"Id": customer, "Name": "Customer"})
    owners = _seed_owners(store)
    for code, name in SEED_ACCOUNTS.items():
        account_id = seed_id(f"Account:{code}")
        greeting, menu = SEED_STOREFRONT.get(code, ("", ()))
        store.create(
            "Account",
            {
                "Id": account_id,
                "Name": name,
                "Code": code,
                "TypeId": customer,
                "Phone": f"+49 30 {code}",
                "Web": f"https://{code}.example.com",
                "OwnerId": owners.get(code, EMPTY_GUID),
                "UsrStorefrontGreeting": greeting,
            },
        )
        for position, item in enumerate(menu, start=1):
            row = {"UsrName": item, "UsrPosition": position, "UsrAccountId": account_id}
            store.create("UsrStorefrontMenuItem", {"Id": seed_id(f"Menu:{code}:{item}"), **row})
        given, surname = f"Buyer{code[0]}", name.split()[0]
        contact = store.create(
            "Contact",
            {
                "Id": seed_id(f"Contact:{code}"),
                "Name": f"{given} {surname}",
                "GivenName": given,
                "Surname": surname,
                "Email": f"buyer@{code}.example.com",
                "JobTitle": "Buyer",
                "MobilePhone": f"+49 170 {code}",
                "AccountId": account_id,
            },
        )
        store.update("Account", account_id, {"PrimaryContactId": contact["Id"]})


def _seed_owners(store: Store) -> dict[str, str]:
    """The managers' contacts; the ``Id`` of each account's manager by ``Account.Code``."""
    owners = {}
    for name, (email, codes) in SEED_OWNERS.items():
        given, surname = name.split()
        contact = {"GivenName": given, "Surname": surname, "JobTitle": "Account manager"}
        owner_id = seed_id(f"Owner:{name}")
        store.create("Contact", {"Id": owner_id, "Name": name, "Email": email, **contact})
        owners.update(dict.fromkeys(codes, owner_id))
    return owners
