"""The bus's own customer directory as a step of a route.

``customer.remember`` follows the CRM's ``account.read`` and the ERP's ``customer.read`` in
provisioning: it keeps what order routing needs to know of the customer (licence, contracts by
product type, the personal manager, or why there is none), so an order is routed by segment
without asking the ERP or the CRM when it arrives. Every ``account.create`` (a manager re-saving
the account too) replaces the profile, so a manager changed or removed in the CRM is the one the
next orders see.

``customer.deactivate``, the first step of ``account.deactivate``, marks the profile deactivated
(which message, when): from then on the customer's orders and carts are refused at accept
(:mod:`bus.order_checks`), on every route, until an ``account.create`` provisions it again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from bus.adapters.accounts import account_settings, no_manager
from bus.adapters.base import Delivery, DocumentStore, EntityState, Receipt
from bus.errors import PermanentError

SYSTEM = "directory"


class DirectoryAdapter:
    """Keeps customer profiles in a :class:`DocumentStore` (the journal's ``customers`` table)."""

    #: See :class:`bus.adapters.base.Adapter`.
    operations: ClassVar[frozenset[str]] = frozenset({"customer.remember", "customer.deactivate"})

    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    def intended_state(self, delivery: Delivery) -> EntityState | None:
        """The directory sends no change events: there is no echo to recognise."""
        return None

    async def deliver(self, delivery: Delivery) -> Receipt:
        """Keep, or mark deactivated, the customer's profile (both writes are idempotent)."""
        account = delivery.payload
        if delivery.operation == "customer.remember":
            profile = customer_profile(
                account, delivery.fact("customer") or {}, account_settings(delivery)
            )
        elif delivery.operation == "customer.deactivate":
            profile = await self._deactivated(account["erp_key"], delivery.message_id)
        else:
            raise PermanentError(f"{SYSTEM} has no operation {delivery.operation!r}")
        await self._store.put(account["erp_key"], profile)
        return Receipt(account["erp_key"])

    async def _deactivated(self, erp_key: str, message_id: str) -> dict[str, Any]:
        """The customer's profile, marked deactivated by ``message_id`` (a customer never
        provisioned gets a profile that says only that)."""
        profile = dict(await self._store.get(erp_key) or {})
        profile["deactivated"] = {
            "message_id": message_id,
            "at": dt.datetime.now(dt.UTC).isoformat(),
        }
        return profile

    async def lookup(self, delivery: Delivery) -> Receipt | None:
        """Keeping a profile again is harmless: nothing to look up."""
        return None

    async def aclose(self) -> None:
        """The store belongs to the worker: nothing to release."""


def customer_profile(
    account: dict[str, Any], customer: dict[str, Any], settings: dict[str, Any]
) -> dict[str, Any]:
    """The facts of routing: the ERP's (licence, contracts) and the CRM's (segment, manager).

    Parameters:
        account: ``account.create``'s params.
        customer: the ERP's customer (``customer.read``).
        settings: the account's settings, the CRM's read included
            (:func:`bus.adapters.accounts.account_settings`).
    """
    profile = {
        "name": customer.get("name") or account.get("name"),
        "segment": account.get("segment"),
        "licence": customer.get("licence"),
        "contracts": customer.get("contracts") or [],
        "warehouse": customer.get("warehouse"),
    }
    why = no_manager(settings)
    if why is None:
        profile["manager"] = settings["manager"]
    else:
        profile["manager"] = None
        profile["no_manager"] = why  # said by the order's mail step, which mails nobody
    return profile
