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

from pydantic import ValidationError

from bus.adapters.accounts import account_settings, erp_customer, no_manager
from bus.adapters.base import Delivery, DocumentStore, EntityState, Receipt
from bus.adapters.orders import invalid_fields
from bus.errors import PermanentError
from schemas.steps import CustomerFacts, CustomerProfile, Deactivation, Manager

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
            profile = customer_profile(account, erp_customer(delivery), account_settings(delivery))
        elif delivery.operation == "customer.deactivate":
            profile = await self._deactivated(account["erp_key"], delivery.message_id)
        else:
            raise PermanentError(f"{SYSTEM} has no operation {delivery.operation!r}")
        await self._store.put(account["erp_key"], profile.model_dump(mode="json"))
        return Receipt(account["erp_key"])

    async def _deactivated(self, erp_key: str, message_id: str) -> CustomerProfile:
        """The customer's profile, marked deactivated by ``message_id`` (a customer never
        provisioned gets a profile that says only that)."""
        kept = await self._store.get(erp_key)
        try:
            profile = CustomerProfile.model_validate(kept or {})
        except ValidationError as invalid:
            raise PermanentError(
                f"{SYSTEM}: the profile of customer {erp_key} is unreadable:"
                f" {invalid_fields(invalid)}"
            ) from None
        deactivated = Deactivation(message_id=message_id, at=dt.datetime.now(dt.UTC))
        return profile.model_copy(update={"deactivated": deactivated})

    async def lookup(self, delivery: Delivery) -> Receipt | None:
        """Keeping a profile again is harmless: nothing to look up."""
        return None

    async def aclose(self) -> None:
        """The store belongs to the worker: nothing to release."""


def customer_profile(
    account: dict[str, Any], customer: CustomerFacts | None, settings: dict[str, Any]
) -> CustomerProfile:
    """The facts of routing: the ERP's (licence, contracts) and the CRM's (segment, manager).

    Parameters:
        account: ``account.create``'s params.
        customer: the ERP's customer (``customer.read``), if the route read it.
        settings: the account's settings, the CRM's read included
            (:func:`bus.adapters.accounts.account_settings`).
    """
    why = no_manager(settings)
    erp = customer or CustomerFacts(erp_key=account["erp_key"])
    return CustomerProfile(
        name=erp.name or account.get("name"),
        segment=account.get("segment"),
        licence=erp.licence,
        contracts=erp.contracts,
        warehouse=erp.warehouse,
        manager=None if why is not None else Manager.model_validate(settings["manager"]),
        # Said by the order's mail step, which mails nobody.
        no_manager=why,
    )
