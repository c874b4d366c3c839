"""The bus's own customer directory as a step of a route.

``customer.remember`` follows the ERP's ``customer.read`` in provisioning: it keeps what order
routing needs to know of the customer (licence, contracts by product type, the personal manager),
so an order is routed by segment without asking the ERP or the CRM when it arrives.
"""

from __future__ import annotations

from typing import Any

from bus.adapters.base import Delivery, DocumentStore, EntityState, Receipt
from bus.errors import PermanentError

SYSTEM = "directory"


class DirectoryAdapter:
    """Keeps customer profiles in a :class:`DocumentStore` (the journal's ``customers`` table)."""

    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    def intended_state(self, delivery: Delivery) -> EntityState | None:
        """The directory sends no change events: there is no echo to recognise."""
        return None

    async def deliver(self, delivery: Delivery) -> Receipt:
        """Keep the profile of the customer being provisioned (the write is idempotent)."""
        if delivery.operation != "customer.remember":
            raise PermanentError(f"{SYSTEM} has no operation {delivery.operation!r}")
        account = delivery.payload
        profile = customer_profile(account, delivery.fact("customer") or {})
        await self._store.put(account["erp_key"], profile)
        return Receipt(account["erp_key"])

    async def lookup(self, delivery: Delivery) -> Receipt | None:
        """Keeping a profile again is harmless: nothing to look up."""
        return None

    async def aclose(self) -> None:
        """The store belongs to the worker: nothing to release."""


def customer_profile(account: dict[str, Any], customer: dict[str, Any]) -> dict[str, Any]:
    """The facts of routing: the ERP's (licence, contracts) and the CRM's (segment, manager)."""
    return {
        "name": customer.get("name") or account.get("name"),
        "segment": account.get("segment"),
        "licence": customer.get("licence"),
        "contracts": customer.get("contracts") or [],
        "warehouse": customer.get("warehouse"),
        "manager": (account.get("settings") or {}).get("manager"),
    }
