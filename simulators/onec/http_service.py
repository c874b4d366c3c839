"""The configuration's HTTP service ``b2b`` (root URL ``b2b``, version ``v1``).

1C HTTP services are whatever the configuration's developer wrote; this one is the contract
documented in the package docstring: JSON in and out, ``{"error": "…"}`` with a 4xx/5xx
status on failure, counterparties and items addressed by ``Code``.
"""

from __future__ import annotations

import base64
import json
import math
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web

from simulators.onec.errors import ServiceError
from simulators.onec.literals import format_datetime
from simulators.onec.payload import number
from simulators.onec.pdf import render_pdf
from simulators.onec.pricing import best_price
from simulators.onec.seed import BALANCES, CURRENCY
from simulators.onec.service import ONEC_KEY, OneCService
from simulators.onec.store import CustomerRequest, Issued, Pending, Store

Values = dict[str, Any]

#: The path prefix of the service, after the publication.
ROOT = "/hs/b2b/v1"
#: What a customer may ask the ERP to decide on.
REQUEST_KINDS = ("delivery_address", "employee")
_NO_BALANCE = {
    "balance": 0,
    "credit_limit": 0,
    "receivables": 0,
    "overdue": 0,
    "payments_in_progress": 0,
}


def routes(publication_pattern: str) -> list[web.RouteDef]:
    """The service's routes under ``/{publication}/hs/b2b/v1/``."""
    prefix = f"{publication_pattern}{ROOT}"
    return [
        web.get(f"{prefix}/prices", prices),
        web.post(f"{prefix}/invoices", invoices),
        web.post(f"{prefix}/reconciliation-acts", reconciliation_acts),
        web.get(f"{prefix}/balance", balance),
        web.post(f"{prefix}/requests", customer_requests),
    ]


async def prices(request: web.Request) -> web.Response:
    """GET ``prices?customer=&items=&quantities=&units=&date=``: the best price of each item (per
    unit of ``units``, the base unit where it is blank or not given), and the deletion marks of
    the customer and of each item."""
    service = request.app[ONEC_KEY]
    store = service.store
    customer = _customer(store, request.query.get("customer"))
    codes = _split(request.query.get("items"), "items")
    quantities = _quantities(request.query.get("quantities"), len(codes))
    units = _units(request.query.get("units"), len(codes))
    moment = _moment(request.query.get("date"), service)
    quoted = []
    for code, quantity, unit_code in zip(codes, quantities, units, strict=True):
        item = store.find_item(code)
        if item is None:
            raise ServiceError(404, f"Номенклатура с кодом '{code}' не найдена")
        unit, coefficient = _unit(store, item, unit_code)
        quote = best_price(store.prices, item["Ref_Key"], customer, moment)
        quoted.append(
            {
                "item": code,
                "quantity": quantity,
                "unit": unit,
                "price": number(round(quote.price * coefficient, 2)) if quote else None,
                "kind": quote.kind if quote else None,
                "promo": bool(quote and quote.promo),
                # Priced all the same: the rule does not look at marks, the web shop does.
                "deletion_mark": bool(item["DeletionMark"]),
            }
        )
    return _json(
        {
            "customer": customer["Code"],
            "currency": CURRENCY,
            "customer_deletion_mark": bool(customer["DeletionMark"]),
            "prices": quoted,
        }
    )


async def invoices(request: web.Request) -> web.Response:
    """POST ``invoices``: an invoice for payment; a repeated ``request_id`` gets the same one."""
    service = request.app[ONEC_KEY]
    store = service.store
    body = await _body(request)
    customer = _customer(store, _text(body, "customer"))
    amount = _amount(body)
    request_id = _text(body, "request_id")
    fingerprint = {"customer": customer["Code"], "amount": amount}
    issued = _repeat(store.invoices, request_id, fingerprint)
    if issued is not None:
        return _json(issued, 201)
    _refuse_deleted(customer)
    preparing = _preparing(service, "invoices", request_id, fingerprint)
    if preparing is not None:
        return preparing
    number = f"СЧ-{len(store.invoices) + 1:06d}"
    issued_at = format_datetime(service.now())
    pdf = render_pdf(
        f"Счёт на оплату № {number}",
        [
            f"Счет на оплату № {number} от {issued_at}",
            f"Покупатель: {customer['Description']} (ИНН {customer['ИНН']})",
            f"Сумма: {amount:.2f} {CURRENCY}",
        ],
    )
    response = {"number": number, "date": issued_at, "amount": amount, "pdf_base64": _b64(pdf)}
    store.invoices[request_id] = Issued(fingerprint, response)
    return _json(response, 201)


async def reconciliation_acts(request: web.Request) -> web.Response:
    """POST ``reconciliation-acts``: an act for a calendar quarter, idempotent by request."""
    service = request.app[ONEC_KEY]
    store = service.store
    body = await _body(request)
    customer = _customer(store, _text(body, "customer"))
    year = _integer(body, "year", 2000, 2100)
    quarter = _integer(body, "quarter", 1, 4)
    request_id = _text(body, "request_id")
    fingerprint = {"customer": customer["Code"], "year": year, "quarter": quarter}
    issued = _repeat(store.acts, request_id, fingerprint)
    if issued is not None:
        return _json(issued, 201)
    start = date(year, 3 * quarter - 2, 1)
    next_start = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    period = {"from": start.isoformat(), "to": (next_start - timedelta(days=1)).isoformat()}
    if start > service.now().date():
        raise ServiceError(422, f"Период {period['from']} - {period['to']} ещё не начался")
    preparing = _preparing(service, "reconciliation-acts", request_id, fingerprint)
    if preparing is not None:
        return preparing
    number = f"АС-{len(store.acts) + 1:06d}"
    pdf = render_pdf(
        f"Акт сверки № {number}",
        [
            f"Акт сверки взаимных расчетов № {number}",
            f"за период с {period['from']} по {period['to']}",
            f"Контрагент: {customer['Description']} (ИНН {customer['ИНН']})",
        ],
    )
    response = {"number": number, "period": period, "pdf_base64": _b64(pdf)}
    store.acts[request_id] = Issued(fingerprint, response)
    return _json(response, 201)


async def customer_requests(request: web.Request) -> web.Response:
    """POST ``requests``: register a customer's request for the ERP to decide on.

    Idempotent by ``request_id`` like the documents; the decision comes later, from the ERP.
    """
    service = request.app[ONEC_KEY]
    store = service.store
    body = await _body(request)
    customer = _customer(store, _text(body, "customer"))
    request_id = _text(body, "request_id")
    kind = _text(body, "kind")
    if kind not in REQUEST_KINDS:
        raise ServiceError(400, f"Поле 'kind' должно быть одним из: {', '.join(REQUEST_KINDS)}")
    details = body.get("details")
    if not isinstance(details, dict):
        raise ServiceError(400, "Поле 'details' должно быть объектом JSON")
    fingerprint = {"customer": customer["Code"], "kind": kind, "details": details}
    earlier = store.requests.get(request_id)
    if earlier is not None:
        if earlier.fingerprint() != fingerprint:
            raise _reused(request_id)
        return _json(earlier.answer(), 201)
    _refuse_deleted(customer)
    registered = CustomerRequest(
        number=f"ЗП-{len(store.requests) + 1:06d}",
        request_id=request_id,
        customer=customer["Code"],
        kind=kind,
        details=details,
        registered_at=format_datetime(service.now()),
    )
    store.requests[request_id] = registered
    return _json(registered.answer(), 201)


async def balance(request: web.Request) -> web.Response:
    """GET ``balance?customer=``: mutual settlements with the customer."""
    store = request.app[ONEC_KEY].store
    customer = _customer(store, request.query.get("customer"))
    return _json(dict(BALANCES.get(customer["Code"], _NO_BALANCE)))


def _customer(store: Store, code: str | None) -> Values:
    if not code:
        raise ServiceError(400, "Не указан параметр 'customer'")
    customer = store.find_counterparty(code)
    if customer is None:
        raise ServiceError(404, f"Контрагент с кодом '{code}' не найден")
    return customer


def _refuse_deleted(customer: Values) -> None:
    if customer["DeletionMark"]:
        raise ServiceError(409, f"Контрагент '{customer['Code']}' помечен на удаление")


def _repeat(issued: dict[str, Issued], request_id: str, fingerprint: Values) -> Values | None:
    """The earlier answer to ``request_id``; a conflict if it was asked for something else."""
    earlier = issued.get(request_id)
    if earlier is None:
        return None
    if earlier.request != fingerprint:
        raise _reused(request_id)
    return earlier.response


def _preparing(
    service: OneCService, route: str, request_id: str, fingerprint: Values
) -> web.Response | None:
    """``202`` while a new document is still being prepared; ``None`` once it may be issued.

    The clock starts at the first request with ``request_id``: asking again does not hurry the
    document, nor start it over. ``Retry-After`` rounds the wait up, so a caller that honours
    it finds the document ready.
    """
    store = service.store
    if store.preparing_for <= 0:
        return None
    now = service.clock()
    pending = store.pending.setdefault((route, request_id), Pending(fingerprint, now))
    if pending.request != fingerprint:
        raise _reused(request_id)
    left = pending.since + store.preparing_for - now
    if left <= 0:
        return None
    headers = {"Retry-After": str(max(1, math.ceil(left)))}
    return _json({"status": "preparing", "request_id": request_id}, 202, headers)


def _reused(request_id: str) -> ServiceError:
    return ServiceError(409, f"request_id '{request_id}' уже использован с другими данными")


def _split(text: str | None, name: str) -> list[str]:
    parts = [part.strip() for part in (text or "").split(",")]
    if not all(parts):
        raise ServiceError(400, f"Не указан параметр '{name}'")
    return parts


def _units(text: str | None, count: int) -> list[str]:
    """The unit codes of ``units`` (blank parts: the base unit), one per item."""
    if text is None:
        return [""] * count
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != count:
        raise ServiceError(400, "Число значений 'units' не совпадает с числом 'items'")
    return parts


def _unit(store: Store, item: Values, code: str) -> tuple[str, float]:
    """The unit a price is for (its code, or the item's base unit) and its coefficient."""
    if not code or code.casefold() == str(item["ЕдиницаИзмерения"]).casefold():
        return str(item["ЕдиницаИзмерения"]), 1
    unit = store.find_unit(item["Ref_Key"], code)
    if unit is None:
        raise ServiceError(
            404, f"Единица измерения '{code}' номенклатуры '{item['Code']}' не найдена"
        )
    return str(unit["Code"]), float(unit["Коэффициент"])


def _quantities(text: str | None, count: int) -> list[float]:
    if text is None:
        return [1] * count
    parts = _split(text, "quantities")
    if len(parts) != count:
        raise ServiceError(400, "Число значений 'quantities' не совпадает с числом 'items'")
    try:
        values = [float(part) for part in parts]
    except ValueError:
        raise ServiceError(400, "'quantities' должны быть числами") from None
    if any(value <= 0 for value in values):
        raise ServiceError(400, "'quantities' должны быть положительными")
    return [int(v) if v.is_integer() else v for v in values]


def _moment(text: str | None, service: OneCService) -> str:
    if text is None:
        return format_datetime(service.now())
    try:
        return format_datetime(datetime.combine(date.fromisoformat(text), datetime.min.time()))
    except ValueError:
        raise ServiceError(400, f"Неверная дата '{text}' (ожидается ГГГГ-ММ-ДД)") from None


async def _body(request: web.Request) -> Values:
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        raise ServiceError(400, "Тело запроса не является JSON") from None
    if not isinstance(body, dict):
        raise ServiceError(400, "Тело запроса должно быть объектом JSON")
    return body


def _text(body: Values, name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ServiceError(400, f"Поле '{name}' должно быть непустой строкой")
    return value


def _amount(body: Values) -> float:
    value = body.get("amount")
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ServiceError(400, "Поле 'amount' должно быть положительным числом")
    return number(round(float(value), 2))


def _integer(body: Values, name: str, low: int, high: int) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ServiceError(400, f"Поле '{name}' должно быть целым числом от {low} до {high}")
    return value


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def error_response(error: ServiceError) -> web.Response:
    """The service's failure answer: ``{"error": "…"}`` with the error's status."""
    return _json({"error": error.message}, error.status, error.headers)


def _json(
    payload: Values, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        payload,
        status=status,
        headers=headers,
        dumps=lambda value: json.dumps(value, ensure_ascii=False),
    )
