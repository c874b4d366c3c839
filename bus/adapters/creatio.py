"""Creatio (BPM Online) over OData 4, behind its forms login (session cookies + ``BPMCSRF``).

``order.create`` posts the ``Order`` and its ``OrderProduct`` rows in one JSON ``$batch``. Their
``Id``s are derived from the message id, so the effect is findable and cannot land twice: ``lookup``
reads ``Order(<id>)`` and posts whatever rows are missing (a batch cut short). The order carries
the storefront's order number as ``Number``, the ERP's as ``Code``, and the message id in its
``Comment`` (``Bus message <id>``); it belongs to the customer's account (``AccountId``: the
account whose ``Code`` is the ERP key). Its rows are the ERP's receipt of the order
(:class:`schemas.steps.OrderReceipt`): each line's ``Quantity`` in the unit the ERP took it in
(``UnitId``: the ``Unit`` whose ``ShortName`` is the ERP's unit code), the ERP's unit ``Price``
and line ``Amount``, and the order's ``Amount`` is the ERP's total. A unit Creatio has no
``Unit`` for is refused for good: an operator adds it to the lookup and replays.

``account.read`` (the first step of ``account.create``) reads what Creatio keeps on the account for
the storefront, which its business process does not send: the manager, the account's ``Owner``
(a ``Contact``: ``Name``, ``Email``), and the settings a Creatio configuration adds for the store,
the greeting (``Account.UsrStorefrontGreeting``) and the menu items (the ``UsrStorefrontMenuItem``
detail, by ``UsrPosition``). An account without an Owner, or whose Owner has no email, has no
manager, and the fact says why. ``account.report`` writes what became of the customer's storefront
account (created, updated, deactivated, nothing to deactivate) into the account's ``Notes``: a
PATCH of the whole text, so repeating it is harmless and there is nothing to look up. Both find the
account by the CRM's ``settings.crm_id``, which must be a GUID, else by the ERP key as its
``Code``.

``failure.report`` adds to the account's ``Notes`` (the CRM's ``crm_id`` when the report carries
it, else by ``Code``) that a step of its order or account waits for an operator
(:class:`schemas.notices.FailureReport`: which, which step, why, which message). It is added after
what the notes say, ending with ``(bus message <id>)``: a repeat that finds it there adds nothing.

``order.read`` (after Creatio's order-changed process called the bus) reads an order and its rows
in the bus's order form, for the storefront. Only orders the bus created are read: their ``Id`` is
the one derived from the message id their ``Comment`` names (a marker a copied order or a
manager's own order cannot carry by accident); any other order skips the route's next step.

The session is one login shared by every delivery of the process: a 401 (expired session, or a
missing CSRF token) logs in again, once, and repeats the request, which Creatio did not process.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from http.cookies import SimpleCookie
from typing import Any, ClassVar

import httpx

from bus.adapters.accounts import CRM_SETTINGS, account_outcome, account_settings
from bus.adapters.base import Delivery, EntityState, Receipt
from bus.adapters.creatio_sync import OPERATIONS as SYNC_OPERATIONS
from bus.adapters.creatio_sync import OrderSync
from bus.adapters.failures import REPORT_OPERATION, failure_report
from bus.adapters.http import (
    json_object,
    malformed,
    odata_error,
    raise_for_status,
    upstream_errors,
)
from bus.adapters.orders import (
    MESSAGE_MARKER,
    CrmLine,
    crm_lines,
    crm_state,
    erp_number,
    order_comment,
    order_lines,
    order_state,
    routed_order,
)
from bus.errors import PermanentError, TransientError
from bus.settings import CreatioSettings

SYSTEM = "creatio"
#: Derives entity ids from message ids (uuid5), so a repeated create is recognisable.
ID_NAMESPACE = uuid.UUID("7d3c1c52-4a3e-4c1f-9d2a-6b1f3e0c2a10")
_LOGIN = "/ServiceModel/AuthService.svc/Login"
#: Order statuses (``OrderStatus.Name``, without Creatio's "1. " numbering, case and spaces
#: ignored) as the storefront's order statuses; any other name reads as ``in_progress``.
ORDER_STATUS = {
    "draft": "new",
    "new": "new",
    "confirmation": "in_progress",
    "inprogress": "in_progress",
    "completed": "shipped",
    "shipped": "shipped",
    "canceled": "cancelled",
    "cancelled": "cancelled",
}
#: The line of an order's ``Comment`` that names the bus message which created it.
_MARKED = re.compile(rf"^{MESSAGE_MARKER}(?P<message_id>\S+)[ \t\r]*$", re.MULTILINE)
_NUMBERING = re.compile(r"^\s*\d+\.\s*")


class CreatioAdapter:
    """Delivers the bus's CRM operations to Creatio.

    Parameters:
        settings: the site URL, OData root, user and password.
        client: the process's shared HTTP client (its cookie jar keeps nothing; see
            :func:`bus.adapters.http.cookieless_jar`).
    """

    #: See :class:`bus.adapters.base.Adapter`.
    operations: ClassVar[frozenset[str]] = frozenset(
        {
            "order.create",
            "order.read",
            "account.read",
            "account.report",
            REPORT_OPERATION,
            *SYNC_OPERATIONS,
        }
    )

    def __init__(self, settings: CreatioSettings, client: httpx.AsyncClient) -> None:
        self._client = client
        self._settings = settings
        self._site = settings.url.rstrip("/")
        self._odata = self._site + settings.odata_root.rstrip("/")
        self._timeout = settings.retry.attempt_timeout
        self._session: dict[str, str] | None = None
        self._login_lock = asyncio.Lock()
        self._accounts: dict[str, str] = {}
        # The Unit lookup: Id by lower-case ShortName, and ShortName by Id.
        self._unit_ids: dict[str, str] = {}
        self._unit_names: dict[str, str] = {}
        # An order following the ERP's status (bus.adapters.creatio_sync).
        self._sync = OrderSync(
            self._request, self._unit_name, settings.order_statuses, order_status
        )

    def intended_state(self, delivery: Delivery) -> EntityState | None:
        """A new order shows its rows (the ERP's units and prices) with status ``new``: the
        bus's own state; an order that follows the ERP's status shows its new status."""
        if delivery.operation in SYNC_OPERATIONS:
            return self._sync.intended_state(delivery)
        if delivery.operation != "order.create":
            return None
        return crm_state(delivery)

    async def deliver(self, delivery: Delivery) -> Receipt:
        """Perform ``delivery.operation`` (see the module docstring)."""
        if delivery.operation == "account.report":
            return await self._report(delivery)
        if delivery.operation == "account.read":
            return await self._read_account(delivery)
        if delivery.operation == REPORT_OPERATION:
            return await self._report_failure(delivery)
        if delivery.operation == "order.read":
            return await self._read_order(str(delivery.payload["order_id"]))
        if delivery.operation in SYNC_OPERATIONS:
            return await self._sync.deliver(delivery)
        if delivery.operation != "order.create":
            raise PermanentError(f"{SYSTEM} has no operation {delivery.operation!r}")
        account_id = await self._account_id(routed_order(delivery).customer)
        order_id = entity_id(delivery.message_id)
        lines = crm_lines(delivery)
        rows = _product_rows(delivery, order_id, lines, await self._units_of(lines))
        requests = [_post("Order", _order_body(delivery, order_id, account_id, lines))]
        requests += [_post("OrderProduct", row) for row in rows]
        await self._batch(requests)
        return _receipt(order_id)

    async def lookup(self, delivery: Delivery) -> Receipt | None:
        """Find the order by its derived ``Id``; post the rows a cut-short batch left out.

        Reads (``order.read``, ``account.read``) need no lookup: repeating one is harmless.
        """
        if delivery.operation in SYNC_OPERATIONS:
            return await self._sync.lookup(delivery)
        if delivery.operation != "order.create":
            return None
        order_id = entity_id(delivery.message_id)
        response = await self._request("GET", f"/Order({order_id})", params={"$select": "Id"})
        if response.status_code == 404:
            return None
        raise_for_status(response, SYSTEM, odata_error)
        params = {"$filter": f"OrderId eq {order_id}", "$select": "Id"}
        listed = await self._request("GET", "/OrderProduct", params=params)
        raise_for_status(listed, SYSTEM, odata_error)
        present = {row["Id"] for row in json_object(listed, SYSTEM, idempotent=True)["value"]}
        lines = crm_lines(delivery)
        rows = _product_rows(delivery, order_id, lines, await self._units_of(lines))
        missing = [r for r in rows if r["Id"] not in present]
        if missing:
            await self._batch([_post("OrderProduct", row) for row in missing])
        return _receipt(order_id)

    async def aclose(self) -> None:
        """Forget the session (Creatio expires it on its own)."""
        self._session = None

    async def _read_order(self, order_id: str) -> Receipt:
        """The order and its rows in the bus's form, or a skip for an order the bus did not make.

        Two GETs rather than a ``$batch``: both are plain reads, safe to repeat after a timeout.
        A save between them starts the process again, so the next read sees the order whole.
        """
        key = _guid(order_id, "order")
        params = {"$select": "Id,Number,StatusId,Comment", "$expand": "Status"}
        response = await self._request("GET", f"/Order({key})", params=params)
        if response.status_code == 404:
            raise PermanentError(f"{SYSTEM} has no order {key} (deleted?)", http_status=404)
        raise_for_status(response, SYSTEM, odata_error)
        order = json_object(response, SYSTEM, idempotent=True)
        if not _created_by_bus(order, key):
            return Receipt(key, skip_next=f"order {key} was not created by the bus")
        params = {"$filter": f"OrderId eq {key}", "$select": "Name,Quantity,Price,UnitId"}
        listed = await self._request("GET", "/OrderProduct", params=params)
        raise_for_status(listed, SYSTEM, odata_error)
        rows = json_object(listed, SYSTEM, idempotent=True).get("value")
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise malformed(f"{SYSTEM} answered order {key}'s rows unreadably", idempotent=True)
        units = [await self._unit_name(str(row.get("UnitId") or "")) for row in rows]
        try:
            return _order_receipt(key, order, rows, units)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise malformed(f"{SYSTEM} answered order {key} unreadably", idempotent=True) from None

    async def _report(self, delivery: Delivery) -> Receipt:
        """Write the account's outcome on the account (a PATCH: repeating it is harmless)."""
        account_id = await self._account_of(delivery)
        notes = account_outcome(delivery)
        response = await self._request("PATCH", f"/Account({account_id})", json={"Notes": notes})
        raise_for_status(response, SYSTEM, odata_error)
        return Receipt(str(account_id), details={"crm_notes": notes})

    async def _report_failure(self, delivery: Delivery) -> Receipt:
        """Add a failure report to the account's notes, once (a GET, then a PATCH if absent)."""
        report = failure_report(delivery, SYSTEM)
        account_id = (
            _guid(report.crm_id, "account")
            if report.crm_id
            else await self._account_id(report.customer)
        )
        response = await self._request(
            "GET", f"/Account({account_id})", params={"$select": "Notes"}
        )
        if response.status_code == 404:
            raise PermanentError(f"{SYSTEM} has no account {account_id}", http_status=404)
        raise_for_status(response, SYSTEM, odata_error)
        notes = str(json_object(response, SYSTEM, idempotent=True).get("Notes") or "")
        note = f"{report.text()} (bus message {delivery.message_id})"
        if note not in notes:  # else an earlier attempt added it
            written = f"{notes}\n\n{note}" if notes else note
            patched = await self._request(
                "PATCH", f"/Account({account_id})", json={"Notes": written}
            )
            raise_for_status(patched, SYSTEM, odata_error)
        return Receipt(account_id, details={"crm_note": note})

    async def _account_of(self, delivery: Delivery) -> str:
        """The ``Id`` of the delivery's account: the CRM's ``crm_id``, else by its ``Code``."""
        crm_id = account_settings(delivery).get("crm_id")
        if crm_id:
            # The CRM's id goes into the URL: only as a GUID, never as whatever text it came as.
            return _guid(str(crm_id), "account")
        return await self._account_id(delivery.payload["erp_key"])

    async def _read_account(self, delivery: Delivery) -> Receipt:
        """The manager (the ``Owner``) and the storefront settings Creatio keeps on the account.

        Two GETs, both plain reads, safe to repeat after a timeout.
        """
        account_id = await self._account_of(delivery)
        params = {"$select": "Id,UsrStorefrontGreeting", "$expand": "Owner"}
        response = await self._request("GET", f"/Account({account_id})", params=params)
        if response.status_code == 404:
            raise PermanentError(f"{SYSTEM} has no account {account_id}", http_status=404)
        raise_for_status(response, SYSTEM, odata_error)
        account = json_object(response, SYSTEM, idempotent=True)
        params = {
            "$filter": f"UsrAccountId eq {account_id}",
            "$select": "UsrName,UsrPosition",
            "$orderby": "UsrPosition",
        }
        listed = await self._request("GET", "/UsrStorefrontMenuItem", params=params)
        raise_for_status(listed, SYSTEM, odata_error)
        items = json_object(listed, SYSTEM, idempotent=True).get("value")
        try:
            settings = _storefront_settings(account_id, account, items)
        except (KeyError, TypeError, AttributeError):
            raise malformed(
                f"{SYSTEM} answered account {account_id} unreadably", idempotent=True
            ) from None
        return Receipt(account_id, details={CRM_SETTINGS: settings})

    async def _account_id(self, code: str) -> str:
        if code not in self._accounts:
            escaped = code.replace("'", "''")
            params = {"$filter": f"Code eq '{escaped}'", "$select": "Id", "$top": "1"}
            response = await self._request("GET", "/Account", params=params)
            raise_for_status(response, SYSTEM, odata_error)
            found = json_object(response, SYSTEM, idempotent=True).get("value") or []
            if not found:
                raise PermanentError(f"{SYSTEM} has no account with Code {code!r}")
            self._accounts[code] = str(found[0]["Id"])
        return self._accounts[code]

    async def _units_of(self, lines: list[CrmLine]) -> list[str | None]:
        """The ``Unit`` ``Id`` of each line's unit (``None`` for a line without one).

        Raises:
            PermanentError: Creatio has no ``Unit`` with the line's unit as ``ShortName``.
        """
        wanted = {line.unit.casefold() for line in lines if line.unit}
        if wanted - self._unit_ids.keys():
            await self._load_units()  # someone may have added it since
        missing = sorted(wanted - self._unit_ids.keys())
        if missing:
            raise PermanentError(
                f"{SYSTEM} has no Unit with ShortName {', '.join(map(repr, missing))}:"
                " add it to the lookup, then replay"
            )
        return [self._unit_ids[line.unit.casefold()] if line.unit else None for line in lines]

    async def _unit_name(self, unit_id: str) -> str | None:
        """The ``ShortName`` of the ``Unit`` ``unit_id`` (``None`` for no unit)."""
        if not unit_id or set(unit_id) <= {"0", "-"}:
            return None
        if unit_id not in self._unit_names:
            await self._load_units()
        return self._unit_names.get(unit_id)

    async def _load_units(self) -> None:
        """Read the ``Unit`` lookup (a short list) into memory."""
        params = {"$select": "Id,ShortName"}
        response = await self._request("GET", "/Unit", params=params)
        raise_for_status(response, SYSTEM, odata_error)
        found = json_object(response, SYSTEM, idempotent=True).get("value")
        if not isinstance(found, list):
            raise malformed(f"{SYSTEM} answered its units unreadably", idempotent=True)
        units = {
            str(unit["Id"]): str(unit["ShortName"])
            for unit in found
            if isinstance(unit, dict) and unit.get("Id") and unit.get("ShortName")
        }
        self._unit_names = units
        self._unit_ids = {name.casefold(): unit_id for unit_id, name in units.items()}

    async def _batch(self, requests: list[dict[str, Any]]) -> None:
        """Run ``requests`` in one ``$batch`` that stops at the first failure."""
        response = await self._request("POST", "/$batch", json={"requests": requests})
        raise_for_status(response, SYSTEM, odata_error)
        answers = json_object(response, SYSTEM, idempotent=False).get("responses")
        if not isinstance(answers, list) or not all(
            isinstance(a, dict) and isinstance(a.get("status"), int) for a in answers
        ):
            raise malformed(f"{SYSTEM} answered a $batch without statuses", idempotent=False)
        for answer in answers:
            status = answer["status"]
            if status >= 400:
                inner = httpx.Response(status, json=answer.get("body") or {})
                raise_for_status(inner, SYSTEM, odata_error)
        if len(answers) < len(requests):
            raise TransientError(f"{SYSTEM} answered {len(answers)} of {len(requests)} requests")

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send with the session, logging in first if there is none and again after a 401."""
        session = self._session or await self._login(stale=None)
        response = await self._send(method, path, session, **kwargs)
        if response.status_code == 401:
            response = await self._send(method, path, await self._login(stale=session), **kwargs)
        return response

    async def _send(
        self, method: str, path: str, session: dict[str, str], **kwargs: Any
    ) -> httpx.Response:
        cookie = "; ".join(f"{name}={value}" for name, value in session.items())
        headers = {
            "Accept": "application/json",
            "Cookie": cookie,
            "BPMCSRF": session.get("BPMCSRF", ""),
            "ForceUseSession": "true",
        }
        with upstream_errors(SYSTEM, idempotent=method == "GET"):
            return await self._client.request(
                method, self._odata + path, headers=headers, timeout=self._timeout, **kwargs
            )

    async def _login(self, stale: dict[str, str] | None) -> dict[str, str]:
        """Log in unless another delivery already replaced the ``stale`` session."""
        async with self._login_lock:
            if self._session is not None and self._session is not stale:
                return self._session
            body = {
                "UserName": self._settings.username,
                "UserPassword": self._settings.password.get_secret_value(),
            }
            with upstream_errors(SYSTEM, idempotent=True):
                response = await self._client.post(
                    self._site + _LOGIN, json=body, timeout=self._timeout
                )
            raise_for_status(response, SYSTEM, odata_error)
            answer = json_object(response, SYSTEM, idempotent=True)
            if answer.get("Code") != 0:
                # Wrong credentials are fixed by an operator; until then the breaker holds.
                raise TransientError(f"{SYSTEM} refused the login: {answer.get('Message')}")
            self._session = _cookies(response)
            return self._session


def entity_id(message_id: str, row: int | None = None) -> str:
    """The Creatio ``Id`` of the entity a message creates (its ``row``-th product row)."""
    name = message_id if row is None else f"{message_id}/{row}"
    return str(uuid.uuid5(ID_NAMESPACE, name))


def _order_body(
    delivery: Delivery, order_id: str, account_id: str, lines: list[CrmLine]
) -> dict[str, Any]:
    order = routed_order(delivery)
    body: dict[str, Any] = {
        "Id": order_id,
        "Number": order.order_id,
        "AccountId": account_id,
        "Amount": round(sum(line.amount for line in lines), 2),
        "Comment": order_comment(order, delivery.message_id),
    }
    number = erp_number(delivery)
    if number:
        body["Code"] = number
    return body


def _product_rows(
    delivery: Delivery, order_id: str, lines: list[CrmLine], units: list[str | None]
) -> list[dict[str, Any]]:
    """The order's rows, in the order's own order (each row's ``Id`` is its position's)."""
    rows = []
    for number, (line, unit_id) in enumerate(zip(lines, units, strict=True), start=1):
        row: dict[str, Any] = {
            "Id": entity_id(delivery.message_id, number),
            "OrderId": order_id,
            "Name": line.item,
            "Quantity": line.quantity,
            "Price": line.price,
            "Amount": line.amount,
            # No discount: the ERP's line amount is what the row comes to.
            "TotalAmount": line.amount,
        }
        if unit_id is not None:
            row["UnitId"] = unit_id
        rows.append(row)
    return rows


def _post(entity_set: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "method": "POST",
        "url": entity_set,
        "id": body["Id"],
        "headers": {"Content-Type": "application/json"},
        "body": body,
    }


def _storefront_settings(account_id: str, account: dict[str, Any], items: Any) -> dict[str, Any]:
    """The account's settings for the storefront, from the read account and its menu items."""
    settings: dict[str, Any] = {
        "crm_id": account_id,
        "greeting": account.get("UsrStorefrontGreeting") or None,
        "menu": [str(item["UsrName"]) for item in items if item["UsrName"]] or None,
        "manager": None,
    }
    owner = account.get("Owner")
    if not isinstance(owner, dict):
        settings["no_manager"] = f"{SYSTEM} account {account_id} has no Owner"
    elif not owner.get("Email"):
        settings["no_manager"] = (
            f"{SYSTEM} account {account_id}'s Owner {owner.get('Name')!r} has no email"
        )
    else:
        settings["manager"] = {"name": owner.get("Name") or owner["Email"], "email": owner["Email"]}
    return settings


def _guid(text: str, what: str) -> str:
    """An ``Id`` (of ``what``) as Creatio writes it in a URL; anything else can never be read."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise PermanentError(f"{SYSTEM} {what} id {text!r} is not a GUID") from None


def _created_by_bus(order: dict[str, Any], key: str) -> bool:
    """Whether the order's ``Id`` is the one derived from a message its ``Comment`` names.

    The Id alone cannot tell (it is derived from a message id the order does not show), and a
    ``Number`` cannot either (Creatio numbers every order). A manager who deletes the marker line
    from the comment detaches the order from the storefront: it is then skipped, never misread.
    """
    if not order.get("Number"):
        return False
    comment = order.get("Comment")
    marked = _MARKED.findall(comment) if isinstance(comment, str) else []
    return any(entity_id(message_id) == key for message_id in marked)


def order_status(name: str | None) -> str:
    """The storefront's status for an ``OrderStatus.Name``; an order without one is ``new``.

    The bus creates orders without a status (Creatio's lookup stays empty until someone sets it).
    """
    if not name:
        return "new"
    word = _NUMBERING.sub("", name).replace(" ", "").replace("_", "").lower()
    return ORDER_STATUS.get(word, "in_progress")


def _order_receipt(key: str, order: dict[str, Any], rows: Any, units: list[str | None]) -> Receipt:
    """The read order in the bus's form (``rows``: the ``OrderProduct`` list as answered,
    ``units``: each row's unit's ``ShortName``)."""
    status_row = order.get("Status")
    crm_status = status_row.get("Name") if isinstance(status_row, dict) else None
    status = order_status(crm_status)
    number = str(order["Number"])
    lines = order_lines(
        {"item": row["Name"], "quantity": row["Quantity"], "unit": unit, "price": row["Price"]}
        for row, unit in zip(rows, units, strict=True)
    )
    details = {
        "order": {
            "order_id": number,
            "status": status,
            "lines": lines,
            "crm_reference": key,
            "source": "crm",
        },
        "crm_status": crm_status,
    }
    return Receipt(key, details=details, state=order_state(number, status, lines))


def _receipt(order_id: str) -> Receipt:
    return Receipt(order_id, details={"crm_order_id": order_id})


def _cookies(response: httpx.Response) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        jar.load(header)
    cookies = {name: morsel.value for name, morsel in jar.items()}
    if "BPMCSRF" not in cookies:
        raise TransientError(f"{SYSTEM} login answered without a BPMCSRF cookie")
    return cookies
