"""1C:Enterprise through its standard OData interface (v3 JSON dialect, Basic auth).

``sales_order.create`` creates a ``Document_ЗаказКлиента`` with its ``Товары`` rows inline, the
bus's message id in ``НомерПоДаннымКлиента`` (the customer's own order number, the document's
external reference), ``Date`` now in the infobase's zone (``onec.timezone``: 1C's dates are its
naive local time, not the bus host's) and the delivery date in ``ДатаОтгрузки``, then posts it.
Counterparties and items are found by their ``Code`` (the ERP keys the storefront uses) and
remembered. ``lookup`` finds the order by the message id and posts it if an earlier attempt
created it but did not get to post it.

A line in a unit of its own (``BOX``) goes as that unit of the item
(``Catalog_ЕдиницыИзмерения`` by ``Code``) with its ``Коэффициент``: 1C then prices the row per
box and counts its bottles; a line without one, or in the item's base unit, is in the base unit.
An item without the unit is refused for good. The receipt (:class:`schemas.steps.OrderReceipt`)
is 1C's document as it answered it: each row's ``Цена`` and ``Сумма`` in the row's unit, and
``СуммаДокумента``. ``order.quote`` prices an order 1C will not hold (it goes to the CRM only)
through the HTTP service's ``prices``, each line in its unit; its receipt has no number.

1C reports a refused posting as a 500 with code ``-1`` and a message starting
``Не удалось провести``: that is the configuration's verdict on the document, so it is permanent.

``customer.read`` reads a counterparty (ИНН, КПП, alcohol licence, price group, warehouse) and
its contracts in force (``Catalog_ДоговорыКонтрагентов``: what it buys, by product type) for the
storefront account and for routing its orders; ``orders.history`` its customer orders of the
last six months. An order's ``delivery.address`` (free text) goes to ``АдресДоставки``.
``invoice.create`` and ``reconciliation.create`` have the publication's HTTP service
(``/hs/b2b/v1``) issue the document as PDF; while 1C is still preparing it (202) the delivery
waits as throttled. ``account.request`` registers a customer's request (a delivery address, an
employee's account) for the ERP to decide on later. Every HTTP-service call is keyed by the
message id, so repeating it is harmless.

``order.cancel`` marks the customer order of an order the CRM cancelled for deletion
(``DeletionMark``, which unposts it; deleting marked objects is the administrator's); an order
marked or gone already is cancelled already (:mod:`bus.adapters.erp_cancel`). ``order.lines``
makes the customer order's ``Товары`` the CRM's lines (:mod:`bus.adapters.onec_lines`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
from pydantic import ValidationError

from bus.adapters.base import Delivery, EntityState, Receipt
from bus.adapters.erp_cancel import OPERATION as CANCEL
from bus.adapters.erp_cancel import cancelled, erp_order
from bus.adapters.erp_lines import OPERATION as LINES
from bus.adapters.http import json_object, malformed, raise_for_status, retry_after, upstream_errors
from bus.adapters.onec_items import odata_error
from bus.adapters.onec_lines import replace_rows
from bus.adapters.onec_queries import service_error
from bus.adapters.orders import invalid_fields, placed_online, routed_order
from bus.errors import PermanentError, TransientError
from bus.settings import OnecSettings
from schemas.steps import (
    Contract,
    CustomerFacts,
    Licence,
    OrderReceipt,
    ReceiptLine,
    RoutedDelivery,
    RoutedLine,
    RoutedOrder,
)

SYSTEM = "onec"
ORDERS = "Document_ЗаказКлиента"
COUNTERPARTIES = "Catalog_Контрагенты"
CONTRACTS = "Catalog_ДоговорыКонтрагентов"
ITEMS = "Catalog_Номенклатура"
UNITS = "Catalog_ЕдиницыИзмерения"
#: The currency of 1C's prices and amounts.
CURRENCY = "RUB"
_POSTING_REFUSED = "Не удалось провести"
#: Document operations: the kind, the HTTP service's route, the payload fields it takes.
DOCUMENTS = {
    "invoice.create": ("invoice", "invoices", ("customer", "amount")),
    "reconciliation.create": (
        "reconciliation_act",
        "reconciliation-acts",
        ("customer", "year", "quarter"),
    ),
}
#: HTTP-service statuses that are the configuration's verdict on a document request: an unknown
#: customer, one marked for deletion (or a request_id reused), a quarter not begun yet.
_DOCUMENT_REFUSALS = frozenset({404, 409, 422})
#: The same for a customer request; 400 is a kind or field the configuration does not take.
_REQUEST_REFUSALS = frozenset({400, 404, 409})
#: How long to wait for a document in preparation when 1C does not say.
PREPARING_RETRY_AFTER = 5.0
#: How far back the order history of a new storefront account goes.
HISTORY_DAYS = 183
_ORDER_FIELDS = "Ref_Key,Number,Posted,СуммаДокумента,НомерПоДаннымКлиента,Товары"
_COUNTERPARTY_FIELDS = (
    "Ref_Key,Code,Description,НаименованиеПолное,ИНН,КПП,"
    "ЛицензияНаАлкоголь,АдресЛицензии,ГруппаЦен,ОсновнойСклад,DeletionMark"
)
_CONTRACT_FIELDS = "Code,Description,ВидПродукции"


@dataclass(frozen=True)
class _Unit:
    """The unit an order line is in, as 1C knows it.

    Parameters:
        code: its code (``BOX``), or the item's base unit (``шт``).
        ref: the ``Catalog_ЕдиницыИзмерения`` entry; ``None`` for the base unit.
        coefficient: base units per unit.
    """

    code: str
    ref: str | None = None
    coefficient: float = 1


class OnecAdapter:
    """Delivers the bus's ERP operations to 1C.

    Parameters:
        settings: the publication URL, the 1C user, whether to post created orders.
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

    def __init__(self, settings: OnecSettings, client: httpx.AsyncClient) -> None:
        self._client = client
        self._odata = f"{settings.url.rstrip('/')}/odata/standard.odata"
        self._service = f"{settings.url.rstrip('/')}/hs/b2b/v1"
        self._auth = httpx.BasicAuth(settings.username, settings.password.get_secret_value())
        self._timeout = settings.retry.attempt_timeout
        self._post_orders = settings.post_orders
        self._zone = ZoneInfo(settings.timezone)
        self._refs: dict[tuple[str, str], str] = {}
        self._codes: dict[str, str] = {}
        self._base_units: dict[str, str] = {}
        self._units: dict[tuple[str, str], _Unit] = {}

    def _local_now(self) -> dt.datetime:
        """Now as the infobase reads a date: its zone's wall clock, naive (1C's ``Edm.DateTime``
        has no offset), whatever the zone of the bus's host."""
        return dt.datetime.now(self._zone).replace(microsecond=0, tzinfo=None)

    def intended_state(self, delivery: Delivery) -> EntityState | None:
        """1C sends no change events to the bus: there is no echo to recognise."""
        return None

    async def deliver(self, delivery: Delivery) -> Receipt:
        """Create and post the customer order (see the module docstring)."""
        if delivery.operation == "customer.read":
            return await self._counterparty(delivery.payload["erp_key"])
        if delivery.operation == "orders.history":
            return await self._history(delivery.payload["erp_key"])
        if delivery.operation in DOCUMENTS:
            return await self._document(delivery)
        if delivery.operation == "account.request":
            return await self._account_request(delivery)
        if delivery.operation == "order.quote":
            return await self._quote(routed_order(delivery))
        if delivery.operation == CANCEL:
            return await self._cancel(delivery)
        if delivery.operation == LINES:
            return await replace_rows(delivery, self._request, self._ref, self._unit)
        if delivery.operation != "sales_order.create":
            raise PermanentError(f"{SYSTEM} has no operation {delivery.operation!r}")
        order = routed_order(delivery)
        units = await self._line_units(order.lines)
        rows = []
        for number, (line, unit) in enumerate(zip(order.lines, units, strict=True), start=1):
            row = {
                "LineNumber": str(number),
                "Номенклатура_Key": await self._ref(ITEMS, line.item),
                "Количество": line.quantity,
            }
            if unit.ref is not None:
                row.update({"ЕдиницаИзмерения_Key": unit.ref, "Коэффициент": unit.coefficient})
            rows.append(row)
        body: dict[str, Any] = {
            "Date": self._local_now().isoformat(),
            "Контрагент_Key": await self._ref(COUNTERPARTIES, order.customer),
            "НомерПоДаннымКлиента": delivery.message_id,
            "Комментарий": _comment(order),
            "Товары": rows,
        }
        body.update(_delivery_fields(order.delivery))
        created = await self._request("POST", f"/{ORDERS}", json=body)
        return await self._posted(created, order.lines, units)

    async def lookup(self, delivery: Delivery) -> Receipt | None:
        """Find the order by the message id; post it if it was left unposted."""
        if delivery.operation != "sales_order.create":
            # A read has no effect to find; the HTTP service's calls are keyed by the message
            # id, so repeating one finds what an earlier attempt made.
            return None
        params = {
            "$filter": f"НомерПоДаннымКлиента eq '{_quoted(delivery.message_id)}'",
            "$select": _ORDER_FIELDS,
        }
        found = (await self._request("GET", f"/{ORDERS}", params=params)).get("value") or []
        if not found:
            return None
        lines = routed_order(delivery).lines
        return await self._posted(found[0], lines, await self._line_units(lines))

    async def aclose(self) -> None:
        """Basic auth keeps no session: nothing to release."""

    async def _counterparty(self, code: str) -> Receipt:
        """The counterparty's data as the storefront account and order routing need it."""
        params = {
            "$filter": f"Code eq '{_quoted(code)}' and IsFolder eq false",
            "$select": _COUNTERPARTY_FIELDS,
        }
        found = (await self._request("GET", f"/{COUNTERPARTIES}", params=params)).get("value")
        if not found:
            raise PermanentError(f"{SYSTEM} has no counterparty with Code {code!r}")
        entry = found[0]
        if entry.get("DeletionMark"):
            raise PermanentError(f"{SYSTEM} counterparty {code!r} is marked for deletion")
        try:
            licence = None
            if entry.get("ЛицензияНаАлкоголь"):
                licence = Licence(
                    number=entry["ЛицензияНаАлкоголь"], address=entry.get("АдресЛицензии")
                )
            customer = CustomerFacts(
                erp_key=code,
                name=entry.get("НаименованиеПолное") or entry.get("Description"),
                inn=entry.get("ИНН") or None,
                kpp=entry.get("КПП") or None,
                licence=licence,
                price_group=entry.get("ГруппаЦен") or None,
                addresses=[],
                credit_limit=None,
                warehouse=entry.get("ОсновнойСклад") or None,
                contracts=await self._contracts(str(entry["Ref_Key"])),
            )
        except ValidationError as invalid:
            raise PermanentError(
                f"{SYSTEM} counterparty {code!r} cannot be read: {invalid_fields(invalid)}"
            ) from None
        return Receipt(str(entry["Ref_Key"]), details=customer.as_fact())

    async def _contracts(self, counterparty: str) -> list[Contract]:
        """The counterparty's contracts in force, by ``Code``.

        A contract marked for deletion was given up: 1C keeps it until someone purges the
        infobase, but the customer no longer buys under it, so it must not steer routing.
        """
        params = {
            "$filter": f"Owner_Key eq guid'{counterparty}' and DeletionMark eq false",
            "$select": _CONTRACT_FIELDS,
            "$orderby": "Code",
        }
        found = (await self._request("GET", f"/{CONTRACTS}", params=params)).get("value") or []
        return [_contract(entry) for entry in found if isinstance(entry, dict)]

    async def _document(self, delivery: Delivery) -> Receipt:
        """Have the HTTP service issue the document; the PDF travels on to the storefront.

        The service keys each document by ``request_id`` (the message id) and answers a repeat
        with the same document, so a lost answer is simply asked again.
        """
        kind, route, fields = DOCUMENTS[delivery.operation]
        body = {name: delivery.payload[name] for name in fields}
        body["request_id"] = delivery.message_id
        response = await self._service_post(route, body, kind, _DOCUMENT_REFUSALS)
        if response.status_code == 202:
            # 1C took the request and is preparing the document: nothing is wrong, it is just
            # not ready. Throttled, so the wait spends no attempt and does not count against
            # the breaker; the repeat under the same request_id collects the document.
            wait = retry_after(response)
            raise TransientError(
                f"{SYSTEM} is still preparing the {kind} (request {delivery.message_id})",
                http_status=202,
                retry_after=PREPARING_RETRY_AFTER if wait is None else wait,
                throttled=True,
            )
        issued = json_object(response, SYSTEM, idempotent=True)
        if not isinstance(issued.get("number"), str) or not issued.get("pdf_base64"):
            raise TransientError(f"{SYSTEM} answered a {kind} without a number or PDF")
        document = {
            "kind": kind,
            "request_id": delivery.message_id,
            "number": issued["number"],
            "filename": f"{kind}-{issued['number']}.pdf",
            "content_base64": issued["pdf_base64"],
        }
        return Receipt(issued["number"], details={"document": document})

    async def _account_request(self, delivery: Delivery) -> Receipt:
        """Register the customer's request in 1C, which decides on it later.

        The message id is the request_id, so a lost answer is simply asked again and gets the
        same number.
        """
        payload = delivery.payload
        body = {
            "request_id": delivery.message_id,
            "customer": payload["customer"],
            "kind": payload["kind"],
            "details": payload["details"],
        }
        response = await self._service_post("requests", body, "request", _REQUEST_REFUSALS)
        number = json_object(response, SYSTEM, idempotent=True).get("number")
        if not isinstance(number, str) or not number:
            raise TransientError(f"{SYSTEM} answered a request without a number")
        return Receipt(number, details={"erp_request_no": number})

    async def _service_post(
        self, route: str, body: dict[str, Any], what: str, refusals: frozenset[int]
    ) -> httpx.Response:
        """POST ``body`` to the HTTP service's ``route``; the successful response.

        Every such call carries a ``request_id`` the service deduplicates by, so a lost answer is
        transient, not an unknown outcome.

        Raises:
            PermanentError: for a status in ``refusals`` (the configuration's verdict on
                ``what``; 409 would otherwise pass for transient).
            DeliveryError: any other failure, as :func:`raise_for_status` classifies it.
        """
        with upstream_errors(SYSTEM, idempotent=True):
            response = await self._client.post(
                f"{self._service}/{route}", json=body, auth=self._auth, timeout=self._timeout
            )
        status = response.status_code
        if status in refusals:
            detail = f"{SYSTEM} refused the {what}: {service_error(response)}"
            raise PermanentError(detail, http_status=status)
        raise_for_status(response, SYSTEM, service_error)
        return response

    async def _history(self, code: str) -> Receipt:
        """The counterparty's customer orders of the last six months, with their rows."""
        counterparty = await self._ref(COUNTERPARTIES, code)
        since = (self._local_now().date() - dt.timedelta(days=HISTORY_DAYS)).isoformat()
        params = {
            "$filter": f"Контрагент_Key eq guid'{counterparty}'"
            f" and Date ge datetime'{since}T00:00:00' and DeletionMark eq false",
        }
        found = (await self._request("GET", f"/{ORDERS}", params=params)).get("value") or []
        codes = await self._item_codes()
        history = [_historic(order, codes) for order in found if isinstance(order, dict)]
        return Receipt(code, details={"history": history})

    async def _item_codes(self) -> dict[str, str]:
        """Item ``Code`` by ``Ref_Key`` (rows of orders name items by reference)."""
        if not self._codes:
            params = {"$select": "Ref_Key,Code"}
            items = (await self._request("GET", f"/{ITEMS}", params=params)).get("value") or []
            self._codes = {str(i["Ref_Key"]): str(i["Code"]) for i in items if i.get("Code")}
        return self._codes

    async def _posted(
        self, order: dict[str, Any], lines: list[RoutedLine], units: list[_Unit]
    ) -> Receipt:
        """Post the created ``order`` (unless posted or not to be posted); its receipt.

        ``lines`` are the order's as the bus sent them, ``units`` the unit each row is in.
        """
        ref_key = order.get("Ref_Key")
        if not isinstance(ref_key, str) or not order.get("Number"):
            raise PermanentError(f"{SYSTEM} answered an order without Ref_Key and Number")
        receipt = _order_receipt(order, lines, units)
        if self._post_orders and not order.get("Posted"):
            path = f"/{ORDERS}(guid'{ref_key}')/Post"
            await self._request(
                "POST", path, params={"PostingModeOperational": "false"}, expect_body=False
            )
        details = {
            "erp_order_no": order["Number"],
            "ref_key": ref_key,
            "posted": self._post_orders or bool(order.get("Posted")),
            "amount": order.get("СуммаДокумента"),
            **receipt.as_fact(),
        }
        return Receipt(str(order["Number"]), details=details)

    async def _line_units(self, lines: list[RoutedLine]) -> list[_Unit]:
        """The unit of each order line in 1C's terms (the base unit where none is named)."""
        return [await self._unit(line.item, line.unit) for line in lines]

    async def _unit(self, item: str, code: str | None) -> _Unit:
        """The unit ``code`` of ``item``, or the item's base unit for none or its own name.

        Raises:
            PermanentError: 1C has no such unit of the item: the order cannot mean the goods
                the customer chose.
        """
        base = await self._base_unit(item)
        if not code or code.casefold() == base.casefold():
            return _Unit(base)
        key = (item, code.casefold())
        if key not in self._units:
            item_ref = await self._ref(ITEMS, item)
            params = {
                "$filter": f"Owner_Key eq guid'{item_ref}' and Code eq '{_quoted(code)}'"
                " and DeletionMark eq false",
                "$select": "Ref_Key,Code,Коэффициент",
            }
            found = (await self._request("GET", f"/{UNITS}", params=params)).get("value") or []
            if not found:
                raise PermanentError(f"{SYSTEM} has no unit {code!r} of item {item!r}")
            entry = found[0]
            coefficient = float(entry.get("Коэффициент") or 0)
            if coefficient <= 0:
                raise PermanentError(f"{SYSTEM} unit {code!r} of item {item!r} has no Коэффициент")
            self._units[key] = _Unit(str(entry["Code"]), str(entry["Ref_Key"]), coefficient)
        return self._units[key]

    async def _base_unit(self, item: str) -> str:
        """The item's base unit (``ЕдиницаИзмерения``), remembered once read."""
        if item not in self._base_units:
            params = {
                "$filter": f"Code eq '{_quoted(item)}' and DeletionMark eq false",
                "$select": "Ref_Key,Code,ЕдиницаИзмерения",
            }
            found = (await self._request("GET", f"/{ITEMS}", params=params)).get("value")
            if not found:
                raise PermanentError(f"{SYSTEM} has no {ITEMS} with Code {item!r}")
            self._refs[(ITEMS, item)] = str(found[0]["Ref_Key"])
            self._base_units[item] = str(found[0].get("ЕдиницаИзмерения") or "") or "шт"
        return self._base_units[item]

    async def _quote(self, order: RoutedOrder) -> Receipt:
        """The customer's prices of the order's lines, each in its unit, from the HTTP service.

        Raises:
            PermanentError: 1C's refusal (an unknown customer, item or unit), an item without a
                price, or an item code the service's comma lists cannot carry.
            TransientError: an answer that does not price the lines asked.
        """
        lines = order.lines
        if any("," in f"{line.item}{line.unit or ''}" for line in lines):
            raise PermanentError(f"{SYSTEM} cannot price an item or unit with a comma by code")
        params = {
            "customer": order.customer,
            "items": ",".join(line.item for line in lines),
            "quantities": ",".join(_decimal(line.quantity) for line in lines),
            "units": ",".join(line.unit or "" for line in lines),
        }
        with upstream_errors(SYSTEM, idempotent=True):
            response = await self._client.get(
                f"{self._service}/prices", params=params, auth=self._auth, timeout=self._timeout
            )
        if response.status_code in (400, 404):
            detail = f"{SYSTEM} refused the order's prices: {service_error(response)}"
            raise PermanentError(detail, http_status=response.status_code)
        raise_for_status(response, SYSTEM, service_error)
        quoted = json_object(response, SYSTEM, idempotent=True).get("prices")
        if not isinstance(quoted, list) or [
            entry.get("item") if isinstance(entry, dict) else None for entry in quoted
        ] != [line.item for line in lines]:
            raise TransientError(f"{SYSTEM} priced other lines than asked: {quoted!r:.200}")
        unpriced = [entry["item"] for entry in quoted if entry.get("price") is None]
        if unpriced:
            raise PermanentError(f"{SYSTEM} has no price of {', '.join(unpriced)} for the customer")
        try:
            priced = [
                ReceiptLine(
                    item=line.item,
                    quantity=line.quantity,
                    unit=entry["unit"],
                    price=entry["price"],
                    amount=round(line.quantity * float(entry["price"]), 2),
                )
                for line, entry in zip(lines, quoted, strict=True)
            ]
        except (KeyError, TypeError, ValueError, ValidationError) as wrong:
            raise TransientError(f"{SYSTEM} answered unreadable prices: {wrong!r:.200}") from None
        receipt = OrderReceipt.quote(SYSTEM, CURRENCY, priced)
        return Receipt(order.customer, details=receipt.as_fact())

    async def _ref(self, entity_set: str, code: str) -> str:
        """The ``Ref_Key`` of the catalog entry with ``code``, remembered once found."""
        key = (entity_set, code)
        if key not in self._refs:
            params = {
                "$filter": f"Code eq '{_quoted(code)}' and DeletionMark eq false",
                "$select": "Ref_Key,Code",
            }
            found = (await self._request("GET", f"/{entity_set}", params=params)).get("value")
            if not found:
                raise PermanentError(f"{SYSTEM} has no {entity_set} with Code {code!r}")
            self._refs[key] = str(found[0]["Ref_Key"])
        return self._refs[key]

    async def _cancel(self, delivery: Delivery) -> Receipt:
        """Mark the customer order the CRM cancelled for deletion (1C unposts it with that).

        Read first: an order marked already, or deleted, is cancelled already, so a repeat
        after a lost answer changes nothing.
        """
        found = erp_order(delivery, SYSTEM)
        try:
            ref_key = str(uuid.UUID(found.erp_key or ""))  # it goes into the URL as a key
        except ValueError:
            raise PermanentError(f"{SYSTEM} order key {found.erp_key!r} is not a GUID") from None
        path = f"/{ORDERS}(guid'{ref_key}')"
        try:
            order = await self._request("GET", path, params={"$select": "Ref_Key,DeletionMark"})
        except PermanentError as refused:
            if refused.http_status == 404:
                return cancelled(found, "gone already")
            raise
        if order.get("DeletionMark"):
            return cancelled(found, "marked for deletion already")
        await self._request("PATCH", path, json={"DeletionMark": True})
        return cancelled(found, "marked for deletion")

    async def _request(
        self, method: str, path: str, *, expect_body: bool = True, **kwargs: Any
    ) -> dict[str, Any]:
        idempotent = method == "GET"
        params = {"$format": "json", **kwargs.pop("params", {})}
        with upstream_errors(SYSTEM, idempotent=idempotent):
            response = await self._client.request(
                method,
                self._odata + quote(path, safe="/()'=,"),
                params=params,
                auth=self._auth,
                timeout=self._timeout,
                headers={"Accept": "application/json"},
                **kwargs,
            )
        if response.status_code == 500 and _POSTING_REFUSED in odata_error(response):
            raise PermanentError(f"{SYSTEM}: {odata_error(response)}", http_status=500)
        raise_for_status(response, SYSTEM, odata_error)
        if not expect_body:
            return {}
        return json_object(response, SYSTEM, idempotent=idempotent)


def _historic(order: dict[str, Any], codes: dict[str, str]) -> dict[str, Any]:
    """A 1C customer order as the storefront's order history takes it."""
    return {
        "order_id": str(order["Number"]),
        "date": str(order.get("Date") or "")[:10] or dt.date.today().isoformat(),
        "channel": "online" if placed_online(order.get("НомерПоДаннымКлиента")) else "offline",
        "status": str(order.get("Статус") or ("Проведен" if order.get("Posted") else "Черновик")),
        "total": float(order.get("СуммаДокумента") or 0),
        "lines": [
            {
                "item": codes.get(
                    str(row.get("Номенклатура_Key")), str(row.get("Номенклатура_Key"))
                ),
                "quantity": float(row["Количество"]),
                "price": float(row.get("Цена") or 0),
            }
            for row in order.get("Товары") or []
            if float(row.get("Количество") or 0) > 0
        ],
    }


def _order_receipt(
    order: dict[str, Any], lines: list[RoutedLine], units: list[_Unit]
) -> OrderReceipt:
    """1C's answer about a customer order as the order's receipt: row by row, as 1C priced it.

    Raises:
        UnknownOutcome: rows that are not the order's (the order is there: the next attempt
            looks it up and reads it again).
    """
    rows = sorted(order.get("Товары") or [], key=lambda row: int(row.get("LineNumber") or 0))
    try:
        if len(rows) != len(lines):
            raise ValueError(f"{len(rows)} rows for {len(lines)} lines")
        return OrderReceipt(
            system=SYSTEM,
            number=str(order["Number"]),
            currency=CURRENCY,
            lines=[
                ReceiptLine(
                    item=line.item,
                    quantity=row["Количество"],
                    unit=unit.code,
                    price=row["Цена"],
                    amount=row["Сумма"],
                )
                for line, unit, row in zip(lines, units, rows, strict=True)
            ],
            total=order["СуммаДокумента"],
        )
    except (KeyError, TypeError, ValueError, ValidationError) as wrong:
        number = order.get("Number")
        raise malformed(
            f"{SYSTEM} answered order {number} without its priced rows: {wrong!r:.200}",
            idempotent=False,
        ) from None


def _decimal(value: float) -> str:
    """A quantity as the service reads it: plain digits, never an exponent."""
    return format(Decimal(str(value)), "f")


def _contract(entry: dict[str, Any]) -> Contract:
    """A 1C contract as the customer facts carry it.

    Raises:
        pydantic.ValidationError: a contract without its ``Code``.
    """
    return Contract(
        number=entry.get("Code"),
        product_type=entry.get("ВидПродукции") or None,
        description=entry.get("Description"),
    )


def _delivery_fields(delivery: RoutedDelivery) -> dict[str, str]:
    """The order's delivery wishes as ``Document_ЗаказКлиента`` attributes.

    The address is free text: for a licensed customer the bus sets the licence's address,
    since alcohol may only be shipped to the premises the licence names.
    """
    fields: dict[str, str] = {}
    if delivery.date:
        fields["ДатаОтгрузки"] = f"{delivery.date.isoformat()}T00:00:00"
    if delivery.address:
        fields["АдресДоставки"] = delivery.address
    return fields


def _comment(order: RoutedOrder) -> str:
    parts = [f"Заказ {order.order_id} с сайта", order.comment or ""]
    return ". ".join(part for part in parts if part)


def _quoted(value: str) -> str:
    return value.replace("'", "''")
