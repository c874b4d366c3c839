"""Bitrix24's side of keeping an order's ERP and CRM in step: a deal follows the ERP's status.

``order.snapshot`` reads the order's deal (its ``STAGE_ID`` and product rows, in one ``batch``),
found by the journal (:class:`schemas.order_sync.OrderReferences`, the step before). It hands the
deal on as :class:`schemas.order_sync.CrmSnapshot`.

``order.status`` moves the deal to the stage the ERP's status word maps to (``bitrix24.stages``:
``shipped`` -> ``FINAL_INVOICE`` by default) with ``crm.deal.update``. A word without a stage, or a
deal already at it, changes nothing (no call, so no event). The update makes the portal post
``ONCRMDEALUPDATE``; the state the deal will show (its rows as read, the stage's storefront
status) is the step's intended state, so that event is the bus's own echo and not carried back.
Setting a stage twice is harmless; after a lost answer ``lookup`` reads the deal and finds the
stage there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import ValidationError

from bus.adapters.base import Delivery, EntityState, Receipt
from bus.adapters.http import malformed
from bus.adapters.orders import order_state
from bus.errors import PermanentError
from schemas.order_sync import CrmLine, CrmSnapshot, OrderReferences

SYSTEM = "bitrix24"
#: The operations of this module.
OPERATIONS = frozenset({"order.snapshot", "order.status"})

#: ``batch(commands, idempotent=…)``: the adapter's batch call; results by key.
Batch = Callable[..., Awaitable[dict[str, Any]]]
#: ``call(method, params)``: the adapter's REST call; its result.
Call = Callable[..., Awaitable[Any]]


class DealSync:
    """The deal operations of order sync, over the adapter's paced REST calls.

    Parameters:
        stages: the ERP's status word -> ``STAGE_ID``.
        stage_status: ``STAGE_ID`` -> the storefront's status (as ``deal.read`` reads a deal).
    """

    def __init__(
        self, call: Call, batch: Batch, stages: Mapping[str, str], stage_status: Mapping[str, str]
    ) -> None:
        self._call = call
        self._batch = batch
        self._stages = dict(stages)
        self._stage_status = dict(stage_status)

    def intended_state(self, delivery: Delivery) -> EntityState | None:
        """What the deal shows after ``order.status``: the rows read, the new stage's status."""
        if delivery.operation != "order.status":
            return None
        stage = self._stages.get(str(delivery.payload["status"]))
        snapshot = _snapshot(delivery)
        if stage is None or snapshot.crm_status == stage:
            return None  # nothing is written
        lines = [line.model_dump() for line in snapshot.lines]
        status = self._stage_status.get(stage, "in_progress")
        return order_state(str(delivery.payload["order_id"]), status, lines)

    async def deliver(self, delivery: Delivery) -> Receipt:
        """Perform ``order.snapshot`` or ``order.status`` (see the module docstring)."""
        if delivery.operation == "order.snapshot":
            snapshot = await self._read(_deal_id(delivery))
            return Receipt(snapshot.reference, details=snapshot.as_fact())
        snapshot = _snapshot(delivery)
        word = str(delivery.payload["status"])
        stage = self._stages.get(word)
        if stage is None:
            note = f"the ERP's status {word!r} has no deal stage (bitrix24.stages): left as it is"
            return Receipt(snapshot.reference, details={"note": note})
        if snapshot.crm_status == stage:
            return Receipt(snapshot.reference, details={"crm_stage": stage, "note": "already"})
        await self._call(
            "crm.deal.update", {"id": int(snapshot.reference), "fields": {"STAGE_ID": stage}}
        )
        return Receipt(snapshot.reference, details={"crm_stage": stage})

    async def lookup(self, delivery: Delivery) -> Receipt | None:
        """After a lost answer of ``order.status``: the deal already at the stage, if it is."""
        if delivery.operation != "order.status":
            return None
        stage = self._stages.get(str(delivery.payload["status"]))
        if stage is None:
            return None
        now = await self._read(int(_snapshot(delivery).reference))
        if now.crm_status != stage:
            return None
        return Receipt(now.reference, details={"crm_stage": stage})

    async def _read(self, deal_id: int) -> CrmSnapshot:
        """The deal's stage and rows, as ``deal.read`` reads them."""
        results = await self._batch(
            {
                "deal": f"crm.deal.get?id={deal_id}",
                "rows": f"crm.deal.productrows.get?id={deal_id}",
            },
            idempotent=True,
        )
        deal, rows = results["deal"], results["rows"] or []
        try:
            return CrmSnapshot(
                reference=str(deal_id),
                crm_status=str(deal.get("STAGE_ID") or "") or None,
                lines=[
                    CrmLine(
                        item=str(row["PRODUCT_NAME"]),
                        quantity=float(row["QUANTITY"]),
                        unit=row.get("MEASURE_NAME") or None,
                        price=float(row.get("PRICE") or 0),
                    )
                    for row in rows
                ],
            )
        except (AttributeError, KeyError, TypeError, ValueError, ValidationError):
            raise malformed(
                f"{SYSTEM} answered deal {deal_id} unreadably", idempotent=True
            ) from None


def _deal_id(delivery: Delivery) -> int:
    """The order's deal, which the journal found (the step before)."""
    try:
        found = OrderReferences.from_fact(delivery.fact(OrderReferences.KEY))
    except ValidationError as invalid:
        raise PermanentError(f"the order's references are unreadable: {invalid}") from None
    if found is None or found.crm_reference is None or not found.crm_reference.isdigit():
        raise PermanentError(f"{SYSTEM}: no deal of order {delivery.payload.get('order_id')}")
    return int(found.crm_reference)


def _snapshot(delivery: Delivery) -> CrmSnapshot:
    """The deal as read before (the step before)."""
    try:
        snapshot = CrmSnapshot.from_fact(delivery.fact(CrmSnapshot.KEY))
    except ValidationError as invalid:
        raise PermanentError(f"the deal as read before is unreadable: {invalid}") from None
    if snapshot is None or not snapshot.reference.isdigit():
        raise PermanentError(f"{SYSTEM}: order.status without the deal read before it")
    return snapshot
