"""The storefront (the B2B site) over its JSON-RPC 2.0 endpoint.

Each operation is the storefront method of the same name (``order.update``, ``user.create``, …),
called with the message's payload and its ``message_id``. The storefront keeps the result of every
``message_id`` it has served and answers a repeat with it, without a second effect: a call whose
answer was lost is simply made again, so ``lookup`` has nothing to find.

A step that follows another sends what that step produced: an order update after a CRM deal
was read sends ``previous["order"]``; ``user.create`` after the ERP's ``customer.read`` merges
the ERP's customer data into the CRM's ``account.create`` payload and the settings the CRM's
``account.read`` found.

``user.create`` is an upsert, as ``account.create`` is (a manager re-saves an account whenever
something changes): the storefront creates a new user or re-activates a deactivated one, and
answers an active one with "user exists" (-32050), which turns into ``user.update`` with the same
data. The CRM's personal fields the account no longer has (its manager, its settings) are sent
as null, which clears them; the ERP's fields are sent as the ERP has them. The updated user keeps
its password, so the route's set-password mail is skipped. ``user.deactivate`` of a customer the
storefront does not know (-32044) is "nothing to deactivate": done, and said to the CRM, never a
failure that would hold the customer's next messages. The step's result says which
(``user_outcome``, see :mod:`bus.adapters.accounts`).

The set-password link of a created (or re-activated) user carries a token that lets whoever holds
it set the user's password: the step's result keeps it only sealed (``set_password_link``,
:mod:`bus.sealing`), for the mail step, and ``set_password_url`` only redacted
(``…?user=***&token=***``), for people to read.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx

from bus.adapters.accounts import (
    CREATED,
    DEACTIVATED,
    NOTHING_TO_DEACTIVATE,
    REACTIVATED,
    UPDATED,
    USER_OUTCOME,
    account_settings,
    erp_customer,
)
from bus.adapters.base import Delivery, EntityState, Receipt
from bus.adapters.http import json_object, raise_for_status, upstream_errors
from bus.errors import PermanentError, TransientError
from bus.redaction import REDACTED
from bus.sealing import Sealer
from bus.settings import StorefrontSettings
from schemas.steps import CustomerFacts

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
#: The storefront has no user of that customer.
UNKNOWN_CUSTOMER = -32044
#: An active user has that customer already.
USER_EXISTS = -32050
#: The storefront's set-password link, as it answers ``user.create``.
SET_PASSWORD_URL = "set_password_url"
#: The link sealed, as the step's result keeps it for the mail.
SET_PASSWORD_LINK = "set_password_link"
#: What the storefront's ``order.merge`` takes.
_MERGE_FIELDS = frozenset({"customer", "orders", "outcome", "new_order", "reason"})
#: ``user.create`` fields the CRM owns: an update clears the ones the account no longer has.
_CRM_FIELDS = ("manager", "settings")


class StorefrontAdapter:
    """Delivers the bus's storefront operations.

    Parameters:
        settings: the endpoint and the bearer token the storefront expects from the bus.
        client: the process's shared HTTP client.
        sealer: seals the set-password link in the result (the development key by default).
    """

    #: See :class:`bus.adapters.base.Adapter`.
    operations: ClassVar[frozenset[str]] = OPERATIONS

    def __init__(
        self,
        settings: StorefrontSettings,
        client: httpx.AsyncClient,
        sealer: Sealer | None = None,
    ) -> None:
        self._client = client
        self._sealer = sealer or Sealer.development()
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
        params = _params(delivery)
        if delivery.operation == "user.create":
            return await self._upsert_user(params, delivery.message_id)
        if delivery.operation == "user.deactivate":
            return await self._deactivate_user(params, delivery.message_id)
        answer = await self._call(delivery.operation, params, delivery.message_id)
        return _receipt(_succeeded(answer))

    async def lookup(self, delivery: Delivery) -> Receipt | None:
        """Nothing to look up: repeating a call is safe (see the module docstring)."""
        return None

    async def _upsert_user(self, params: dict[str, Any], message_id: str) -> Receipt:
        """Create (or re-activate) the customer's user; update it when it is active already.

        Both calls carry the message id: a repeat after a lost answer gets the first result of
        each method, and the create, refused again, leads to the same update.
        """
        answer = await self._call("user.create", params, message_id)
        if _code(answer) != USER_EXISTS:
            result = _succeeded(answer)
            outcome = REACTIVATED if result.get("reactivated") else CREATED
            return _receipt({**self._sealed_link(result), USER_OUTCOME: outcome})
        cleared = {field: None for field in _CRM_FIELDS if field not in params}
        answer = await self._call("user.update", {**params, **cleared}, message_id)
        return _receipt({**_succeeded(answer), USER_OUTCOME: UPDATED})

    def _sealed_link(self, result: dict[str, Any]) -> dict[str, Any]:
        """``result`` with its set-password link sealed, and only redacted in clear."""
        link = result.get(SET_PASSWORD_URL)
        if not isinstance(link, str):
            return result
        return {
            **result,
            SET_PASSWORD_URL: shown_link(link),
            SET_PASSWORD_LINK: self._sealer.seal(link),
        }

    async def _deactivate_user(self, params: dict[str, Any], message_id: str) -> Receipt:
        """Disable the customer's user; a customer without one has nothing to deactivate."""
        answer = await self._call("user.deactivate", params, message_id)
        if _code(answer) != UNKNOWN_CUSTOMER:
            return _receipt({**_succeeded(answer), USER_OUTCOME: DEACTIVATED})
        note = f"nothing to deactivate: customer {params['customer']} has no storefront user"
        return Receipt(
            "", details={"user_id": None, USER_OUTCOME: NOTHING_TO_DEACTIVATE, "note": note}
        )

    async def _call(self, method: str, params: dict[str, Any], message_id: str) -> dict[str, Any]:
        """Call ``method`` for the message ``message_id``; the JSON-RPC answer."""
        call = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": method,
            "params": {**params, "message_id": message_id},
        }
        # Repeating a call is harmless (the storefront deduplicates by message_id), so a lost
        # answer is an ordinary transient failure, not an unknown outcome.
        with upstream_errors(SYSTEM, idempotent=True):
            response = await self._client.post(
                self._url, json=call, headers=self._headers, timeout=self._timeout
            )
        raise_for_status(response, SYSTEM, _error_text)
        return json_object(response, SYSTEM, idempotent=True)

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
        customer = erp_customer(delivery)
        return user_params(delivery.payload, customer, account_settings(delivery))
    if delivery.operation == "document.deliver" and delivery.fact("document"):
        return {"customer": delivery.payload["customer"], **delivery.fact("document")}
    if delivery.operation == "order.history.import" and "erp_key" in delivery.payload:
        return {"customer": delivery.payload["erp_key"], "orders": delivery.fact("history") or []}
    if delivery.operation == "user.deactivate" and "erp_key" in delivery.payload:
        return {"customer": delivery.payload["erp_key"]}
    if delivery.operation == "order.merge":
        # the merge as the ERP sent it, without the new order the bus made of it for the CRM
        return {k: v for k, v in delivery.payload.items() if k in _MERGE_FIELDS}
    if delivery.operation == "request.update" and delivery.fact("erp_request_no"):
        # the ERP's number of the request, from its registration (the step before)
        return {**delivery.payload, "erp_request_no": delivery.fact("erp_request_no")}
    return dict(delivery.payload)


def shown_link(link: str) -> str:
    """A link as people may see it: every query value (or, without a query, the last path
    segment) hidden, whichever carries the token."""
    parts = urlsplit(link)
    if parts.query:
        names = [name for name, _ in parse_qsl(parts.query, keep_blank_values=True)]
        query = "&".join(f"{name}={REDACTED}" for name in names)
        return urlunsplit(parts._replace(query=query, fragment=""))
    path = parts.path.rstrip("/").rpartition("/")[0]
    return urlunsplit(parts._replace(path=f"{path}/{REDACTED}", fragment=""))


def user_params(
    account: dict[str, Any], customer: CustomerFacts | None, settings: dict[str, Any]
) -> dict[str, Any]:
    """``user.create`` params from ``account.create``'s payload and the ERP's customer data
    (``None``: the route read none).

    The CRM's values win where both have one (the manager typed them); the ERP fills the rest.
    ``settings`` are the account's, the CRM's read included
    (:func:`bus.adapters.accounts.account_settings`).
    """
    contacts = account["contacts"]
    primary = next((c for c in contacts if c.get("primary")), contacts[0])
    erp = customer or CustomerFacts(erp_key=account["erp_key"])
    params: dict[str, Any] = {
        "customer": account["erp_key"],
        "email": primary["email"],
        "name": account.get("name") or erp.name or account["erp_key"],
        "inn": erp.inn,
        "kpp": erp.kpp,
        "segment": account.get("segment"),
        "price_group": erp.price_group,
        "warehouse": erp.warehouse,
        "contracts": [
            {"product_type": c.product_type, "number": c.number}
            for c in erp.contracts
            if c.product_type
        ]
        or None,
        "addresses": [address.model_dump(mode="json") for address in erp.addresses] or None,
        "manager": settings.get("manager"),
        "contacts": [_contact(c) for c in contacts],
    }
    if erp.licence is not None:
        params["licence"] = {"number": erp.licence.number, "address": erp.licence.address or ""}
    personal = {k: settings[k] for k in ("greeting", "menu") if settings.get(k) is not None}
    if personal:
        params["settings"] = personal
    return {key: value for key, value in params.items() if value is not None}


def _contact(contact: dict[str, Any]) -> dict[str, Any]:
    kept = {"name": contact["name"], "email": contact["email"], "phone": contact.get("phone")}
    return {key: value for key, value in kept.items() if value is not None}


def _code(answer: dict[str, Any]) -> Any:
    """The JSON-RPC error code of ``answer``, or ``None`` for a success."""
    error = answer.get("error")
    return error.get("code") if isinstance(error, dict) else None


def _succeeded(answer: dict[str, Any]) -> dict[str, Any]:
    """The result object of a JSON-RPC ``answer``; its error, classified, otherwise."""
    if "error" in answer:
        raise _classify(answer["error"])
    result = answer.get("result")
    if not isinstance(result, dict):
        raise TransientError(f"{SYSTEM} answered without a result object")
    return result


def _receipt(result: dict[str, Any]) -> Receipt:
    """The storefront's result as a receipt: its first ``*_id`` is the reference."""
    reference = next((str(v) for k, v in result.items() if k.endswith("_id")), "")
    return Receipt(reference, details=result)


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
