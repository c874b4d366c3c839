"""``B2BRequests``: a customer's requests, registered for NAV's users to decide on later.

A custom page of the wholesaler's extension (a delivery address, an employee's account). Its
``OnInsert`` takes a number from the ``REQ-`` series when ``No`` is blank and checks the request:
the customer must exist and not be blocked, as for a sales document; the kind must be one the
extension knows; ``Details`` must be JSON text. It then registers it: ``Status`` ``Registered``,
``Registered_At`` the server's clock. The page is insert-only: NAV's users decide in the client.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from simulators.navision.crud import insert_record, related
from simulators.navision.errors import dialog, field_validation
from simulators.navision.literals import format_datetime
from simulators.navision.payload import writable_values
from simulators.navision.schema import B2B_REQUESTS, CUSTOMER, REQUEST_KINDS
from simulators.navision.store import Record, Store

#: The status of a request nobody has decided on yet.
REGISTERED = "Registered"


def create_request(store: Store, body: dict[str, Any], now: datetime) -> Record:
    """Register the request a POST body describes, as the page's ``OnInsert`` does.

    Raises:
        NavError: 400 for invalid values, a missing or blocked customer, an unknown kind or
            ``Details`` that are not JSON; 409 when a given ``No`` is taken.
    """
    values = writable_values(B2B_REQUESTS, body)
    _check_customer(store, values.get("Customer_No", ""))
    _check_kind(values.get("Kind", ""))
    _check_details(values.get("Details", ""))
    values["Status"] = REGISTERED
    values["Registered_At"] = format_datetime(now)
    return insert_record(store, B2B_REQUESTS, values, now.date())


def _check_customer(store: Store, customer_no: str) -> None:
    _must_have_value("Customer_No", customer_no)
    blocked = related(store, CUSTOMER, (customer_no,)).values["Blocked"]
    # Any blocking counts: a request would open the account to more business, which even an
    # invoice-only block forbids.
    if blocked.strip():
        raise dialog(
            f"You cannot register a request when Customer {customer_no} "
            f"is blocked with type {blocked}"
        )


def _check_kind(kind: str) -> None:
    _must_have_value("Kind", kind)
    if kind not in REQUEST_KINDS:
        raise dialog(
            f"The kind '{kind}' is not a request kind. Valid kinds: {', '.join(REQUEST_KINDS)}."
        )


def _check_details(details: str) -> None:
    # Checked on insert: details nobody can read are refused while the sender can still fix
    # them, not discovered when a user opens the request.
    if not details:
        return
    try:
        json.loads(details)
    except ValueError:
        raise dialog("The Details of a request must be JSON text.") from None


def _must_have_value(name: str, value: str) -> None:
    """AL's ``TestField``: a blank value is refused before anything else is checked."""
    if not value:
        raise field_validation(
            f"{B2B_REQUESTS.by_name[name].label} must have a value in {B2B_REQUESTS.table}. "
            "It cannot be zero or empty."
        )
