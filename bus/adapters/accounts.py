"""The bus's own words about a customer's storefront account, shared by the CRM adapters."""

from __future__ import annotations

from bus.adapters.base import Delivery


def provisioning_outcome(delivery: Delivery) -> str:
    """The outcome of a provisioning (``account.create``), as a manager reads it in the CRM.

    Follows the route's earlier steps: the storefront's user and the imported order history.
    """
    imported = delivery.fact("imported")
    return (
        f"Storefront account ready: user {delivery.fact('user_id')},"
        f" {imported if imported is not None else 'no'} past orders imported,"
        " set-password mail sent."
    )
