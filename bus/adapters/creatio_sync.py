"""Creatio's side of keeping an order's ERP and CRM in step: an order follows the ERP's status.

``order.snapshot`` reads the bus's ``Order`` (its ``Status`` and ``OrderProduct`` rows, with each
row's unit's ``ShortName``), found by the journal (:class:`schemas.order_sync.OrderReferences`,
the step before), and hands it on as :class:`schemas.order_sync.CrmSnapshot`.

``order.status`` sets the order's ``StatusId`` to the ``OrderStatus`` whose ``Name`` the ERP's
status word maps to (``creatio.order_statuses``: ``shipped`` -> ``Completed`` by default; names
compared without Creatio's "3. " numbering, case and spaces). A word without a status, or an
order already in it, changes nothing. An ``OrderStatus`` Creatio does not have is refused for
good (an operator adds it to the lookup, or the mapping, and replays). The PATCH is a save,
which starts Creatio's order-changed process (``creatio.order_changed``); the state the order
will show (its rows as read, the new status) is the step's intended state, so that call is the
bus's own echo and not carried back. Setting a status twice is harmless; after a lost answer
``lookup`` reads the order and finds the status there.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
from pydantic import ValidationError

from bus.adapters.base import Delivery, EntityState, Receipt
from bus.adapters.http import json_object, malformed, odata_error, raise_for_status
from bus.adapters.orders import order_state
from bus.errors import PermanentError
from schemas.order_sync import CrmLine, CrmSnapshot, OrderReferences

SYSTEM = "creatio"
#: The operations of this module.
OPERATIONS = frozenset({"order.snapshot", "order.status"})
_NUMBERING = re.compile(r"^\s*\d+\.\s*")

#: ``request(method, path, **httpx kwargs)``: the adapter's request in its session.
Request = Callable[..., Awaitable[httpx.Response]]
#: A unit's ``ShortName`` by its ``Id`` (``None``: unknown).
UnitName = Callable[[str], Awaitable[str | None]]


def status_word(name: str | None) -> str:
    """An ``OrderStatus.Name`` as compared: without numbering, spaces, underscores and case."""
    return _NUMBERING.sub("", name or "").replace(" ", "").replace("_", "").lower()


class OrderSync:
    """The order operations of order sync, over the adapter's session.

    Parameters:
        statuses: the ERP's status word -> ``OrderStatus.Name``.
        status_of: an ``OrderStatus.Name`` -> the storefront's status (as ``order.read`` reads).
    """

    def __init__(
        self,
        request: Request,
        unit_name: UnitName,
        statuses: Mapping[str, str],
        status_of: Callable[[str | None], str],
    ) -> None:
        self._request = request
        self._unit_name = unit_name
        self._statuses = dict(statuses)
        self._status_of = status_of
        self._status_ids: dict[str, str] = {}

    def intended_state(self, delivery: Delivery) -> EntityState | None:
        """What the order shows after ``order.status``: the rows read, the new status."""
        if delivery.operation != "order.status":
            return None
        name = self._statuses.get(str(delivery.payload["status"]))
        snapshot = _snapshot(delivery)
        if name is None or status_word(snapshot.crm_status) == status_word(name):
            return None  # nothing is written
        lines = [line.model_dump() for line in snapshot.lines]
        return order_state(str(delivery.payload["order_id"]), self._status_of(name), lines)

    async def deliver(self, delivery: Delivery) -> Receipt:
        """Perform ``order.snapshot`` or ``order.status`` (see the module docstring)."""
        if delivery.operation == "order.snapshot":
            snapshot = await self._read(_order_key(delivery))
            return Receipt(snapshot.reference, details=snapshot.as_fact())
        snapshot = _snapshot(delivery)
        word = str(delivery.payload["status"])
        name = self._statuses.get(word)
        if name is None:
            note = f"the ERP's status {word!r} has no OrderStatus (creatio.order_statuses): left"
            return Receipt(snapshot.reference, details={"note": note})
        if status_word(snapshot.crm_status) == status_word(name):
            return Receipt(snapshot.reference, details={"crm_status": name, "note": "already"})
        status_id = await self._status_id(name)
        response = await self._request(
            "PATCH", f"/Order({snapshot.reference})", json={"StatusId": status_id}
        )
        raise_for_status(response, SYSTEM, odata_error)
        return Receipt(snapshot.reference, details={"crm_status": name})

    async def lookup(self, delivery: Delivery) -> Receipt | None:
        """After a lost answer of ``order.status``: the order already in the status, if it is."""
        if delivery.operation != "order.status":
            return None
        name = self._statuses.get(str(delivery.payload["status"]))
        if name is None:
            return None
        now = await self._order(_snapshot(delivery).reference)
        if status_word(_status_name(now)) != status_word(name):
            return None
        return Receipt(str(now.get("Id")), details={"crm_status": name})

    async def _order(self, key: str) -> dict[str, Any]:
        params = {"$select": "Id,StatusId", "$expand": "Status"}
        response = await self._request("GET", f"/Order({key})", params=params)
        if response.status_code == 404:
            raise PermanentError(f"{SYSTEM} has no order {key} (deleted?)", http_status=404)
        raise_for_status(response, SYSTEM, odata_error)
        return json_object(response, SYSTEM, idempotent=True)

    async def _read(self, key: str) -> CrmSnapshot:
        """The order's status and rows, as ``order.read`` reads them."""
        order = await self._order(key)
        params = {"$filter": f"OrderId eq {key}", "$select": "Name,Quantity,Price,UnitId"}
        listed = await self._request("GET", "/OrderProduct", params=params)
        raise_for_status(listed, SYSTEM, odata_error)
        rows = json_object(listed, SYSTEM, idempotent=True).get("value")
        try:
            lines = [
                CrmLine(
                    item=str(row["Name"]),
                    quantity=float(row["Quantity"]),
                    unit=await self._unit_name(str(row.get("UnitId") or "")),
                    price=float(row.get("Price") or 0),
                )
                for row in rows or []
            ]
            return CrmSnapshot(reference=key, crm_status=_status_name(order), lines=lines)
        except (AttributeError, KeyError, TypeError, ValueError, ValidationError):
            raise malformed(f"{SYSTEM} answered order {key} unreadably", idempotent=True) from None

    async def _status_id(self, name: str) -> str:
        """The ``Id`` of the ``OrderStatus`` called ``name`` (the lookup is read once)."""
        if not self._status_ids:
            response = await self._request("GET", "/OrderStatus", params={"$select": "Id,Name"})
            raise_for_status(response, SYSTEM, odata_error)
            for row in json_object(response, SYSTEM, idempotent=True).get("value") or []:
                self._status_ids[status_word(str(row.get("Name")))] = str(row.get("Id"))
        found = self._status_ids.get(status_word(name))
        if found is None:
            self._status_ids.clear()  # read again next time: an operator may add it
            raise PermanentError(f"{SYSTEM} has no OrderStatus {name!r} (creatio.order_statuses)")
        return found


def _status_name(order: dict[str, Any]) -> str | None:
    status = order.get("Status")
    name = status.get("Name") if isinstance(status, dict) else None
    return str(name) if name else None


def _order_key(delivery: Delivery) -> str:
    """The order's ``Id`` in Creatio, which the journal found (the step before)."""
    try:
        found = OrderReferences.from_fact(delivery.fact(OrderReferences.KEY))
    except ValidationError as invalid:
        raise PermanentError(f"the order's references are unreadable: {invalid}") from None
    if found is None or found.crm_reference is None:
        raise PermanentError(f"{SYSTEM}: no order of {delivery.payload.get('order_id')}")
    try:
        return str(uuid.UUID(found.crm_reference))  # it goes into the URL as a key
    except ValueError:
        raise PermanentError(f"{SYSTEM} order id {found.crm_reference!r} is not a GUID") from None


def _snapshot(delivery: Delivery) -> CrmSnapshot:
    """The order as read before (the step before)."""
    try:
        snapshot = CrmSnapshot.from_fact(delivery.fact(CrmSnapshot.KEY))
    except ValidationError as invalid:
        raise PermanentError(f"the order as read before is unreadable: {invalid}") from None
    if snapshot is None:
        raise PermanentError(f"{SYSTEM}: order.status without the order read before it")
    return snapshot
