"""Microsoft Dynamics NAV / Business Central over OData v4 (page web services, Basic auth).

``sales_order.create`` posts a ``SalesOrder`` with its ``SalesOrderSalesLines`` in one deep
insert, carrying the bus's message id as ``External_Document_No``; ``lookup`` finds an order by
that number, so an attempt that may have landed is never repeated blindly (never by the
storefront's order id in ``Your_Reference``: another message can carry it too); a free-text
delivery address (the licence address of a licensed customer) goes as ``Ship_to_Address``. A
line's unit goes as its ``Unit_of_Measure_Code`` (NAV takes the item's sales unit without one);
the receipt (:class:`schemas.steps.OrderReceipt`) is NAV's order as it answered it: each line's
unit, ``Unit_Price`` and ``Line_Amount``, and the order's ``Amount`` (before VAT).
``order.quote`` prices an order NAV will not hold (it goes to the CRM only) through the pricing
codeunit's ``GetCustomerUnitPrices``: the customer's best price of each line in its unit, as NAV
would price the sales line; its receipt has no number.
``customer.read`` reads a ``Customer`` as the storefront account needs it (a blocked one is
refused) with the facts orders are routed by: its alcohol licence, its warehouse
(``Location_Code``) and its contracts in force (``CustomerContracts``, one per product type);
``orders.history`` its sales orders of the last six months. ``account.request`` registers a
customer's request (a delivery address, an employee's account) on the extension's
``B2BRequests`` page for NAV's users to decide on, the message id as ``Request_Id``; ``lookup``
finds it by that id, so a request whose answer was lost is never registered twice.
``invoice.create`` and ``reconciliation.create`` have the SOAP codeunit ``B2BDocuments`` issue the
document as PDF (NAV has no standard service for it; a deployment publishes its own), the message
id as ``requestId``: the codeunit answers a repeat with the same document, so a lost answer is
simply asked again.

Classic NAV page services published as OData v4 do not take deep inserts; with
``deep_insert = false`` the header is posted first, then each line. An attempt cut short between
the two leaves a header with some lines: ``lookup`` finds it and posts the lines still missing.

``order.cancel`` deletes the sales order of an order the CRM cancelled (NAV's way to cancel one;
its sales setup's *Archive Orders* keeps a copy), read first for its ETag; an order gone already
is cancelled already (:mod:`bus.adapters.erp_cancel`). ``order.lines`` makes the sales order's
lines the CRM's (:mod:`bus.adapters.navision_lines`).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from bus.adapters.base import Delivery, EntityState, Receipt
from bus.adapters.erp_cancel import OPERATION as CANCEL
from bus.adapters.erp_cancel import cancelled, erp_order
from bus.adapters.erp_lines import OPERATION as LINES
from bus.adapters.http import (
    json_object,
    malformed,
    odata_error,
    raise_for_status,
    upstream_errors,
)
from bus.adapters.navision_lines import replace_lines
from bus.adapters.navision_soap import SYSTEM, Codeunit, xml_decimal
from bus.adapters.odata_filters import key_segment
from bus.adapters.orders import invalid_fields, placed_online, routed_order
from bus.errors import PermanentError, TransientError, UnknownOutcome
from bus.settings import NavisionSettings
from schemas.steps import (
    Contract,
    CustomerFacts,
    Licence,
    OrderReceipt,
    ReceiptLine,
    RoutedLine,
    RoutedOrder,
    ShipTo,
)

#: How far back the order history of a new storefront account goes.
HISTORY_DAYS = 183
_SELECT = "No,External_Document_No,Sell_to_Customer_No,Status,Amount,Amount_Including_VAT"
#: What a sales order's receipt is read with: its lines, as NAV priced them.
_WITH_LINES = {"$select": _SELECT, "$expand": "SalesOrderSalesLines"}
#: NAV's local currency: every amount of a customer without a currency code is in it.
CURRENCY = "LCY"
_CONTRACT_SELECT = "No,Product_Type,Description"
#: The length of NAV's ``Ship-to Address`` (Text[100]); a longer value fails the whole order.
SHIP_TO_ADDRESS_LENGTH = 100
#: Document operations: the document's kind (as every ERP adapter names it), the codeunit
#: function that issues it, and its parameters with the payload field each one takes.
DOCUMENTS = {
    "invoice.create": ("invoice", "IssueInvoice", {"customerNo": "customer", "amount": "amount"}),
    "reconciliation.create": (
        "reconciliation_act",
        "ReconciliationAct",
        {"customerNo": "customer", "year": "year", "quarter": "quarter"},
    ),
}


class NavisionAdapter:
    """Delivers the bus's ERP operations to NAV.

    Parameters:
        settings: the service URL (up to ``/ODataV4``), company and credentials.
        client: the process's shared HTTP client.
    """

    #: See :class:`bus.adapters.base.Adapter`.
    operations: ClassVar[frozenset[str]] = frozenset(
        {
            "sales_order.create",
            "order.quote",
            "customer.read",
            "orders.history",
            "account.request",
            CANCEL,
            LINES,
            *DOCUMENTS,
        }
    )

    def __init__(self, settings: NavisionSettings, client: httpx.AsyncClient) -> None:
        self._client = client
        self._auth = httpx.BasicAuth(settings.username, settings.password.get_secret_value())
        self._base = f"{settings.url.rstrip('/')}/Company('{quote(settings.company, safe='')}')"
        self._timeout = settings.retry.attempt_timeout
        self._deep_insert = settings.deep_insert
        self._documents = Codeunit(settings, settings.documents_codeunit, client)
        self._pricing = Codeunit(settings, settings.pricing_codeunit, client)

    def intended_state(self, delivery: Delivery) -> EntityState | None:
        """NAV sends no change events: there is no echo to recognise."""
        return None

    async def deliver(self, delivery: Delivery) -> Receipt:
        """Perform ``delivery.operation`` in NAV (see the module docstring)."""
        if delivery.operation == "customer.read":
            return await self._customer(delivery.payload["erp_key"])
        if delivery.operation == "orders.history":
            return await self._history(delivery.payload["erp_key"])
        if delivery.operation == "account.request":
            return await self._account_request(delivery)
        if delivery.operation in DOCUMENTS:
            return await self._document(delivery)
        if delivery.operation == "order.quote":
            return await self._quote(routed_order(delivery))
        if delivery.operation == CANCEL:
            return await self._cancel(delivery)
        if delivery.operation == LINES:
            return await replace_lines(self._raw, delivery)
        if delivery.operation != "sales_order.create":
            raise PermanentError(f"{SYSTEM} has no operation {delivery.operation!r}")
        body = sales_order_body(delivery.message_id, routed_order(delivery))
        if self._deep_insert:
            # The lines come back with NAV's prices only when asked for.
            expand = {"$expand": "SalesOrderSalesLines"}
            return _receipt(await self._request("POST", "/SalesOrder", json=body, params=expand))
        lines = body.pop("SalesOrderSalesLines")
        header = await self._request("POST", "/SalesOrder", json=body)
        return await self._add_lines(_number(header, "an order"), lines, already=0)

    async def lookup(self, delivery: Delivery) -> Receipt | None:
        """Find what an earlier attempt made, by the message id it carries.

        A sales order carries it as ``External_Document_No``, a request as ``Request_Id``.
        """
        if delivery.operation == "account.request":
            found = await self._with_message_id(
                delivery.message_id, "/B2BRequests", "Request_Id", {"$select": "No"}
            )
            return _request_receipt(found[0]) if found else None
        if delivery.operation != "sales_order.create":
            # A read or a quote has no effect to find; a document call is keyed by the message
            # id, so repeating it finds what an earlier attempt issued.
            return None
        found = await self._with_message_id(
            delivery.message_id, "/SalesOrder", "External_Document_No", dict(_WITH_LINES)
        )
        if not found:
            return None
        if self._deep_insert:
            return _receipt(found[0])
        order = routed_order(delivery)
        lines = sales_order_body(delivery.message_id, order)["SalesOrderSalesLines"]
        posted = len(found[0].get("SalesOrderSalesLines") or [])
        return await self._add_lines(found[0]["No"], lines, already=posted)

    async def aclose(self) -> None:
        """NAV's Basic auth keeps no session: nothing to release."""

    async def _with_message_id(
        self, message_id: str, path: str, field: str, params: dict[str, str]
    ) -> list[dict[str, Any]]:
        """The entities of the collection ``path`` whose ``field`` holds ``message_id``."""
        query = {"$filter": f"{field} eq '{_quoted(message_id)}'", **params}
        found = (await self._request("GET", path, params=query)).get("value") or []
        return [entity for entity in found if isinstance(entity, dict)]

    async def _account_request(self, delivery: Delivery) -> Receipt:
        """Register the customer's request on ``B2BRequests``; NAV's users decide on it later."""
        body = request_body(delivery.message_id, delivery.payload)
        return _request_receipt(await self._request("POST", "/B2BRequests", json=body))

    async def _document(self, delivery: Delivery) -> Receipt:
        """Have ``B2BDocuments`` issue the document; the PDF travels on to the storefront.

        The document has the same shape as 1C's, since the storefront step after this one
        sends it on whichever ERP issued it.

        Raises:
            PermanentError: the codeunit's refusal (an unknown or blocked customer, an amount
                that is not positive, a quarter not begun, the message id used for another
                document).
            TransientError: an answer without a number or PDF (asking again is harmless).
        """
        kind, function, parameters = DOCUMENTS[delivery.operation]
        arguments = {name: _argument(delivery.payload[field]) for name, field in parameters.items()}
        arguments["requestId"] = delivery.message_id
        issued = await self._documents.call(
            function, arguments, timeout=self._timeout, what=f"the {kind}"
        )
        number, pdf = issued.get("number"), issued.get("pdfBase64")
        if not number or not pdf:
            raise TransientError(f"{SYSTEM} answered a {kind} without a number or PDF")
        document = {
            "kind": kind,
            "request_id": delivery.message_id,
            "number": number,
            "filename": f"{kind}-{number}.pdf",
            "content_base64": pdf,
        }
        return Receipt(number, details={"document": document})

    async def _customer(self, number: str) -> Receipt:
        """The customer's master data as the storefront account needs it, with routing facts."""
        try:
            found = await self._request("GET", f"/Customer({key_segment(number)})")
        except PermanentError as refused:
            if refused.http_status == 404:
                raise PermanentError(
                    f"{SYSTEM} has no customer {number!r}", http_status=404
                ) from None
            raise
        if str(found.get("Blocked") or "").strip():
            raise PermanentError(f"{SYSTEM} customer {number!r} is blocked ({found['Blocked']})")
        address = ", ".join(
            str(found[field]) for field in ("Address", "City", "Post_Code") if found.get(field)
        )
        try:
            customer = CustomerFacts(
                erp_key=number,
                name=found.get("Name"),
                inn=found.get("VAT_Registration_No") or None,
                kpp=None,
                licence=_licence(found),
                price_group=found.get("Customer_Price_Group") or None,
                addresses=[ShipTo(code="MAIN", address=address)] if address else [],
                credit_limit=found.get("Credit_Limit_LCY"),
                warehouse=found.get("Location_Code") or None,
                contracts=await self._contracts(_quoted(number)),
            )
        except ValidationError as invalid:
            raise PermanentError(
                f"{SYSTEM} customer {number!r} cannot be read: {invalid_fields(invalid)}"
            ) from None
        return Receipt(number, details=customer.as_fact())

    async def _contracts(self, key: str) -> list[Contract]:
        """The contracts in force of the customer whose quoted number is ``key``.

        A blocked contract is left out: it no longer entitles the customer to its product type,
        so orders must not be routed by it.
        """
        params = {
            "$filter": f"Customer_No eq '{key}' and Blocked eq false",
            "$select": _CONTRACT_SELECT,
        }
        found = (await self._request("GET", "/CustomerContracts", params=params)).get("value")
        return [_contract(entry) for entry in found or [] if isinstance(entry, dict)]

    async def _history(self, number: str) -> Receipt:
        """The customer's sales orders of the last six months, online (the bus's) and offline."""
        since = (dt.date.today() - dt.timedelta(days=HISTORY_DAYS)).isoformat()
        key = _quoted(number)
        params = {
            "$filter": f"Sell_to_Customer_No eq '{key}' and Order_Date ge {since}",
            "$expand": "SalesOrderSalesLines",
        }
        found = (await self._request("GET", "/SalesOrder", params=params)).get("value") or []
        history = [_historic(order) for order in found if isinstance(order, dict)]
        return Receipt(number, details={"history": history})

    async def _add_lines(self, number: str, lines: list[dict[str, Any]], already: int) -> Receipt:
        """Post the lines after the first ``already`` ones to order ``number``; its receipt."""
        order = f"/SalesOrder(Document_Type='Order',No='{number}')"
        for line in lines[already:]:
            await self._request("POST", f"{order}/SalesOrderSalesLines", json=line)
        return _receipt(await self._request("GET", order, params=dict(_WITH_LINES)))

    async def _quote(self, order: RoutedOrder) -> Receipt:
        """The customer's prices of the order's lines, each in its unit, as NAV prices them.

        Raises:
            PermanentError: NAV's refusal (an unknown customer, item or unit), or an item or
                unit the codeunit's text format cannot carry.
            TransientError: an answer that does not price the lines asked.
        """
        lines = order.lines
        for line in lines:
            if any(mark in f"{line.item}{line.unit or ''}" for mark in ":;"):
                raise PermanentError(f"{SYSTEM} cannot price item {line.item!r} by text")
        asked = ";".join(
            f"{line.item}:{xml_decimal(line.quantity)}:{line.unit or ''}" for line in lines
        )
        answer = await self._pricing.call(
            "GetCustomerUnitPrices",
            {"customerNo": order.customer, "lines": asked},
            timeout=self._timeout,
            what="the order's prices",
        )
        priced = [part.split(":") for part in answer.get("return_value", "").split(";") if part]
        if [part[0] for part in priced] != [line.item for line in lines] or any(
            len(part) != 3 for part in priced
        ):
            raise TransientError(f"{SYSTEM} priced other lines than asked: {answer!r:.200}")
        try:
            quoted = [
                _receipt_line(line.item, line.quantity, unit, float(price))
                for line, (_, unit, price) in zip(lines, priced, strict=True)
            ]
        except (ValueError, ValidationError) as wrong:
            raise TransientError(f"{SYSTEM} answered unreadable prices: {wrong}") from None
        receipt = OrderReceipt.quote(SYSTEM, CURRENCY, quoted)
        return Receipt(order.customer, details=receipt.as_fact())

    async def _cancel(self, delivery: Delivery) -> Receipt:
        """Delete the sales order the CRM cancelled (NAV archives it as its setup says).

        Read first, for its ETag (NAV requires ``If-Match``) and to find it gone already: a
        repeat after a lost answer deletes nothing twice.
        """
        found = erp_order(delivery, SYSTEM)
        number = found.erp_number or ""
        path = f"/SalesOrder(Document_Type='Order',No={key_segment(number)})"
        response = await self._raw("GET", path, params={"$select": "No"})
        if response.status_code == 404:
            return cancelled(found, "gone already")
        raise_for_status(response, SYSTEM, odata_error)
        etag = json_object(response, SYSTEM, idempotent=True).get("@odata.etag") or "*"
        deleted = await self._raw("DELETE", path, headers={"If-Match": str(etag)})
        if deleted.status_code == 404:
            return cancelled(found, "gone already")
        raise_for_status(deleted, SYSTEM, odata_error)
        return cancelled(found, "sales order deleted")

    async def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self._raw(method, path, **kwargs)
        raise_for_status(response, SYSTEM, odata_error)
        return json_object(response, SYSTEM, idempotent=method == "GET")

    async def _raw(
        self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """One request to the company's OData service; its response, whatever the status."""
        with upstream_errors(SYSTEM, idempotent=method == "GET"):
            return await self._client.request(
                method,
                self._base + path,
                auth=self._auth,
                timeout=self._timeout,
                headers={"Accept": "application/json", **(headers or {})},
                **kwargs,
            )


def sales_order_body(message_id: str, order: RoutedOrder) -> dict[str, Any]:
    """The NAV ``SalesOrder`` deep-insert body for an ``order.submit`` step's order."""
    delivery = order.delivery
    body: dict[str, Any] = {
        "Sell_to_Customer_No": order.customer,
        "External_Document_No": message_id,
        "Your_Reference": order.order_id,
        "SalesOrderSalesLines": [_line(line) for line in order.lines],
    }
    if delivery.date:
        body["Requested_Delivery_Date"] = delivery.date.isoformat()
    if delivery.address_code:
        body["Ship_to_Code"] = delivery.address_code
    if delivery.address:
        # Cut rather than refused: NAV would reject the whole order for an over-long address.
        body["Ship_to_Address"] = delivery.address[:SHIP_TO_ADDRESS_LENGTH]
    return body


def request_body(message_id: str, request: dict[str, Any]) -> dict[str, Any]:
    """The ``B2BRequests`` insert for an ``account.request`` payload.

    ``Details`` is a Text field: the details go as JSON text, with sorted keys so the same
    request always reads the same, and non-ASCII left as is (the field counts characters).
    """
    return {
        "Request_Id": message_id,
        "Customer_No": request["customer"],
        "Kind": request["kind"],
        "Details": json.dumps(request["details"], ensure_ascii=False, sort_keys=True),
    }


def _argument(value: Any) -> str:
    """A payload value as the XML Schema text of a codeunit parameter (decimals plain)."""
    if isinstance(value, float):
        return xml_decimal(value)
    return str(value)


def _line(line: RoutedLine) -> dict[str, Any]:
    body: dict[str, Any] = {"Type": "Item", "No": line.item, "Quantity": line.quantity}
    if line.unit:
        body["Unit_of_Measure_Code"] = line.unit
    return body


def _licence(customer: dict[str, Any]) -> Licence | None:
    """The customer's alcohol licence, or ``None``: NAV leaves the number blank when none.

    Raises:
        pydantic.ValidationError: the licence is not one.
    """
    number = customer.get("Alcohol_Licence_No")
    if not number:
        return None
    return Licence(number=number, address=customer.get("Alcohol_Licence_Address") or None)


def _contract(entry: dict[str, Any]) -> Contract:
    """A ``CustomerContracts`` row as the bus routes by it.

    Raises:
        pydantic.ValidationError: a row without its number.
    """
    return Contract(
        number=entry.get("No"),
        product_type=entry.get("Product_Type"),
        description=entry.get("Description"),
    )


def _quoted(value: str) -> str:
    """``value`` inside an OData string literal: a quote is doubled."""
    return value.replace("'", "''")


def _historic(order: dict[str, Any]) -> dict[str, Any]:
    """A NAV sales order as the storefront's order history takes it."""
    online = placed_online(order.get("External_Document_No"))
    return {
        "order_id": str(order.get("Your_Reference") or order["No"]) if online else str(order["No"]),
        "date": str(order.get("Order_Date") or dt.date.today().isoformat()),
        "channel": "online" if online else "offline",
        "status": str(order.get("Status") or "Open"),
        "total": float(order.get("Amount_Including_VAT") or 0),
        "lines": [
            {
                "item": str(line["No"]),
                "quantity": float(line["Quantity"]),
                "price": float(line.get("Unit_Price") or 0),
            }
            for line in order.get("SalesOrderSalesLines") or []
            if line.get("No") and float(line.get("Quantity") or 0) > 0
        ],
    }


def _number(entity: dict[str, Any], what: str) -> str:
    """The ``No`` NAV gave ``entity``; without one, whether it was made is unknown."""
    number = entity.get("No")
    if not isinstance(number, str) or not number:
        raise UnknownOutcome(f"{SYSTEM} answered without {what} number")
    return number


def _receipt(order: dict[str, Any]) -> Receipt:
    """The receipt of a sales order NAV answered with its lines (``$expand``).

    Raises:
        UnknownOutcome: no number, or lines NAV did not price (the order may be there: the
            next attempt looks it up).
    """
    number = _number(order, "an order")
    details: dict[str, Any] = {"erp_order_no": number}
    for field in ("Status", "Amount", "Amount_Including_VAT"):
        if field in order:
            details[field.lower()] = order[field]
    try:
        lines = sorted(order["SalesOrderSalesLines"], key=lambda line: line["Line_No"])
        receipt = OrderReceipt(
            system=SYSTEM,
            number=number,
            currency=CURRENCY,
            lines=[
                ReceiptLine(
                    item=line["No"],
                    quantity=line["Quantity"],
                    unit=line["Unit_of_Measure_Code"],
                    price=line["Unit_Price"],
                    amount=line["Line_Amount"],
                )
                for line in lines
                if line.get("Type", "Item") == "Item"
            ],
            total=order["Amount"],
        )
    except (KeyError, TypeError, ValidationError) as wrong:
        raise malformed(
            f"{SYSTEM} answered order {number} without its priced lines: {wrong!r:.200}",
            idempotent=False,
        ) from None
    return Receipt(reference=number, details={**details, **receipt.as_fact()})


def _receipt_line(item: str, quantity: float, unit: str, price: float) -> ReceiptLine:
    """A quoted line: its amount as NAV computes a line amount (rounded to the cent)."""
    return ReceiptLine(
        item=item, quantity=quantity, unit=unit, price=price, amount=round(quantity * price, 2)
    )


def _request_receipt(request: dict[str, Any]) -> Receipt:
    number = _number(request, "a request")
    return Receipt(number, details={"erp_request_no": number})
