"""The bus's own words about a customer's storefront account, shared by the provisioning adapters.

``account.create`` is an upsert: the CRM sends it when a manager saves the account, the first
time and every time after. Its route reads what the CRM keeps on the account (``account.read``:
the manager and the storefront settings), the ERP's customer, creates the storefront user or
updates the one there is, imports the order history, mails a set-password link to a user that has
none yet and reports to the CRM. ``account.deactivate`` disables the user (a customer without one
has nothing to deactivate) and reports to the CRM too.

The steps hand each other facts (see :meth:`bus.adapters.base.Delivery.fact`): the CRM's read
under :data:`CRM_SETTINGS`, the storefront's verdict on the user under :data:`USER_OUTCOME`.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from bus.adapters.base import Delivery
from bus.adapters.orders import invalid_fields
from bus.errors import PermanentError
from schemas.steps import CustomerFacts

#: The fact ``account.read`` produces: the settings the CRM keeps on the account (``manager``,
#: ``greeting``, ``menu``, ``crm_id``; ``no_manager`` says why there is no manager).
CRM_SETTINGS = "crm_settings"
#: The fact the storefront's user step produces: what became of the customer's user.
USER_OUTCOME = "user_outcome"
CREATED = "created"
REACTIVATED = "reactivated"
UPDATED = "updated"
DEACTIVATED = "deactivated"
NOTHING_TO_DEACTIVATE = "nothing_to_deactivate"


def account_settings(delivery: Delivery) -> dict[str, Any]:
    """The account's settings: what the call carried, completed by what the CRM's read found.

    The call's values win: the CRM said them in this very call. The read fills what the call
    left out, which is how Creatio's business process, sending no manager, greeting or menu,
    still provisions them. A step of a message journaled before the read existed sees the call's
    settings alone.
    """
    read = delivery.fact(CRM_SETTINGS) or {}
    sent = delivery.payload.get("settings") or {}
    merged = {key: value for key, value in read.items() if value is not None}
    merged.update({key: value for key, value in sent.items() if value is not None})
    if merged.get("manager"):
        merged.pop("no_manager", None)  # the call named one
    return merged


def erp_customer(delivery: Delivery) -> CustomerFacts | None:
    """The ERP's customer, which the route's ``customer.read`` handed on; ``None`` for a
    message whose route read none.

    Raises:
        PermanentError: what the step before gave is not a customer, each wrong field named
            (repeating this step cannot help).
    """
    try:
        return CustomerFacts.from_fact(delivery.fact(CustomerFacts.KEY))
    except ValidationError as invalid:
        raise PermanentError(
            f"the ERP's customer is unreadable: {invalid_fields(invalid)}"
        ) from None


def no_manager(settings: dict[str, Any]) -> str | None:
    """Why the account has no manager to mail (``settings``: :func:`account_settings`), or
    ``None`` when it has one."""
    manager = settings.get("manager")
    if manager and manager.get("email"):
        return None
    return str(settings.get("no_manager") or "the CRM named none")


def account_outcome(delivery: Delivery) -> str:
    """What became of the customer's storefront account, as a manager reads it in the CRM.

    ``account.report`` follows ``account.create`` (the user created, re-activated or updated)
    or ``account.deactivate`` (the user disabled, or there was none); the facts of the route's
    earlier steps tell which.
    """
    outcome = delivery.fact(USER_OUTCOME) or CREATED  # a message journaled before the upsert
    erp_key = delivery.payload["erp_key"]
    user = delivery.fact("user_id")
    if outcome == NOTHING_TO_DEACTIVATE:
        return f"Nothing to deactivate: customer {erp_key} has no storefront user."
    if outcome == DEACTIVATED:
        return f"Storefront account deactivated: user {user} can no longer sign in."
    imported = delivery.fact("imported")
    history = f"{imported if imported is not None else 'no'} past orders imported"
    if outcome == UPDATED:
        changed = delivery.fact("updated")
        what = ", ".join(changed) if isinstance(changed, list) and changed else "nothing"
        text = (
            f"Storefront account updated: user {user} (changed: {what}), {history};"
            " the user keeps its password, so no set-password mail."
        )
    else:
        again = " (re-activated)" if outcome == REACTIVATED else ""
        text = f"Storefront account ready{again}: user {user}, {history}, set-password mail sent."
    return f"{text} {_manager_text(account_settings(delivery))}"


def _manager_text(settings: dict[str, Any]) -> str:
    why = no_manager(settings)
    if why is None:
        return f"Manager: {settings['manager'].get('name')} <{settings['manager']['email']}>."
    return f"No manager ({why}): new orders mail nobody until one is set."
