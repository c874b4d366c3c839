"""The storefront (the B2B site) over its JSON-RPC 2.0 endpoint.

Each operation is the storefront method of the same name (``order.update``, ``user.create``, …),
called with the message's payload and its ``message_id``. The storefront keeps the result of every
``message_id`` it has served and answers a repeat with it, without a second effect: a call whose
answer was lost is simply made again, so ``lookup`` has nothing to find.

A step that follows another sends what that step produced: an order update after a CRM deal
was read sends ``previous["order"]``; ``user.create`` after the ERP's ``customer.read`` merges
the ERP's customer data into the CRM's ``account.create`` payload.
"""

from __future__ import annotations

from typing import Any

import httpx

from bus.adapters.base import Delivery, EntityState, Receipt
from bus.adapters.http import json_object, raise_for_status, upstream_errors
from bus.errors import PermanentError, TransientError
from bus.settings import StorefrontSettings

SYSTEM = "storefront"
#: The storefront methods the bus calls.
OPERATIONS = frozenset(
    {
        "user.create",
        "user.deactivate",
        "order.update",
        "order.history.import",
        "document.deliver",
        "order.merge",
        "request.update",
        # a message of the storefront's waits for an operator (bus.journal.notices)
        "message.status",
    }
)
#: JSON-RPC error codes that a later call may not get: the storefront's own trouble.
_TRANSIENT_CODES = frozenset({-32603, -32000, -32029})


class StorefrontAdapter:
    """Delivers the bus's storefront operations.

    Parameters:
        settings: the endpoint and the bearer token the storefront expects from the bus.
        client: the process's shared HTTP client.
    """

    def __init__(self, settings: StorefrontSettings, client: httpx.AsyncClient) -> None:
        self._client = client
        self._url = settings.url
        self._headers = {"Authorization": f"Bearer {settings.token.get_secret_value()}"}
        self._timeout = settings.retry.attempt_timeout

    def intended_state(self, delivery: Delivery) -> EntityState | None:
        """The storefront sends no change events: there is no echo to recognise."""
        return None

    async def deliver(self, delivery: Delivery) -> Receipt:
        """Call the storefront method ``delivery.operation`` (see the module docstring)."""
        if delivery.operation not in OPERATIONS:
            raise PermanentError(f"{SYSTEM} has no operation {delivery.operation!r}")
        params = {**_params(delivery), "message_id": delivery.message_id}
        call = {"jsonrpc": "2.0", "id": 1, "method": delivery.operation, "params": params}
        # Repeating a call is harmless (the storefront deduplicates by message_id), so a lost
        # answer is an ordinary transient failure, not an unknown outcome.
        with upstream_errors(SYSTEM, idempotent=True):
            response = await self._client.post(
                self._url, json=call, headers=self._headers, timeout=self._timeout
            )
        raise_for_status(response, SYSTEM, _error_text)
        answer = json_object(response, SYSTEM, idempotent=True)
        if "error" in answer:
            raise _classify(answer["error"])
        result = answer.get("result")
        if not isinstance(result, dict):
            raise TransientError(f"{SYSTEM} answered without a result object")
        reference = next((str(v) for k, v in result.items() if k.endswith("_id")), "")
        return Receipt(reference, details=result)

    async def lookup(self, delivery: Delivery) -> Receipt | None:
        """Nothing to look up: repeating a call is safe (see the module docstring)."""
        return None

    async def aclose(self) -> None:
        """Bearer auth keeps no session: nothing to release."""


def _params(delivery: Delivery) -> dict[str, Any]:
    if delivery.operation == "order.update" and isinstance(delivery.fact("order"), dict):
        return dict(delivery.fact("order"))  # read from the CRM
    if delivery.operation == "order.update" and "status" in delivery.payload:
        # order.status_changed, from the ERP; a field it did not send is left as it is
        sent = {key: value for key, value in delivery.payload.items() if value is not None}
        return {**sent, "source": "erp"}
    if delivery.operation == "user.create" and "erp_key" in delivery.payload:
        return user_params(delivery.payload, delivery.fact("customer") or {})
    if delivery.operation == "document.deliver" and delivery.fact("document"):
        return {"customer": delivery.payload["customer"], **delivery.fact("document")}
    if delivery.operation == "order.history.import" and "erp_key" in delivery.payload:
        return {"customer": delivery.payload["erp_key"], "orders": delivery.fact("history") or []}
    if delivery.operation == "user.deactivate" and "erp_key" in delivery.payload:
        return {"customer": delivery.payload["erp_key"]}
    if delivery.operation == "request.update" and delivery.fact("erp_request_no"):
        # the ERP's number of the request, from its registration (the step before)
        return {**delivery.payload, "erp_request_no": delivery.fact("erp_request_no")}
    return dict(delivery.payload)


def user_params(account: dict[str, Any], customer: dict[str, Any]) -> dict[str, Any]:
    """``user.create`` params from ``account.create``'s payload and the ERP's customer data.

    The CRM's values win where both have one (the manager typed them); the ERP fills the rest.
    """
    contacts = account["contacts"]
    primary = next((c for c in contacts if c.get("primary")), contacts[0])
    settings = account.get("settings") or {}
    params: dict[str, Any] = {
        "customer": account["erp_key"],
        "email": primary["email"],
        "name": account.get("name") or customer.get("name") or account["erp_key"],
        "inn": customer.get("inn"),
        "kpp": customer.get("kpp"),
        "segment": account.get("segment"),
        "price_group": customer.get("price_group"),
        "warehouse": customer.get("warehouse"),
        "contracts": [
            {"product_type": c["product_type"], "number": c["number"]}
            for c in customer.get("contracts") or []
            if c.get("product_type") and c.get("number")
        ]
        or None,
        "addresses": customer.get("addresses") or None,
        "manager": settings.get("manager"),
        "contacts": [_contact(c) for c in contacts],
    }
    licence = customer.get("licence")
    if licence:
        params["licence"] = {"number": licence["number"], "address": licence.get("address") or ""}
    personal = {k: settings[k] for k in ("greeting", "menu") if settings.get(k) is not None}
    if personal:
        params["settings"] = personal
    return {key: value for key, value in params.items() if value is not None}


def _contact(contact: dict[str, Any]) -> dict[str, Any]:
    kept = {"name": contact["name"], "email": contact["email"], "phone": contact.get("phone")}
    return {key: value for key, value in kept.items() if value is not None}


def _classify(error: Any) -> Exception:
    if not isinstance(error, dict):
        return TransientError(f"{SYSTEM} answered an unreadable error: {error!r}")
    code = error.get("code")
    text = f"{SYSTEM} error {code}: {error.get('message')}"
    if error.get("data") is not None:
        text += f" {error['data']}"
    if code in _TRANSIENT_CODES:
        return TransientError(text)
    return PermanentError(text)


def _error_text(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
        return f"{error.get('code')}: {error.get('message')}"
    except (ValueError, AttributeError):
        return response.text[:300] or response.reason_phrase
