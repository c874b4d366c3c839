"""Customer orders (``Document_ЗаказКлиента``): writes with their rows, posting and unposting.

Rows sent in a POST or PATCH body replace the whole ``Товары`` section. A row's ``Количество``
and ``Цена`` are in its ``ЕдиницаИзмерения`` (a unit of the item, a box of six, say), or in the
item's base unit when that is empty; its ``Коэффициент`` (base units per unit) is the unit's when
the client leaves it blank, and 1 without a unit. A row without ``Цена`` is priced from the
register (prices per base unit) with the best-price rule at the order's date, times the
coefficient: a box costs six bottles. ``Сумма`` is always ``Количество × Цена`` and
``СуммаДокумента`` their total. A new order gets the next number of
the series (``УТ-000103``…) unless the body brings one, and the current time as ``Date``.

Posting is refused like the configuration's posting handler refuses it: with HTTP 500 and code
-1 (the platform reports every failure inside configuration code that way), for a document
marked for deletion, without a counterparty, with a counterparty marked for deletion, without
rows, or with a row whose unit belongs to another item.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from simulators.onec.errors import duplicate_key, internal_error
from simulators.onec.literals import format_datetime
from simulators.onec.objects import check_if_match, check_references, take_ref
from simulators.onec.payload import number, parse_rows, writable_values
from simulators.onec.pricing import best_price
from simulators.onec.schema import EMPTY_DATE, EMPTY_REF, GOODS, ORDER
from simulators.onec.store import Store, document_total

Values = dict[str, Any]
_SECTION = ORDER.section


def create_order(store: Store, body: Values, now: datetime) -> Values:
    """Insert an order from a POST body.

    Raises:
        OneCError: 400 for invalid values, references or rows, a taken Ref_Key or number.
    """
    values = writable_values(ORDER, body, creating=True)
    ref = take_ref(store, ORDER, values)
    rows = _rows(store, values.pop(GOODS, []))
    check_references(store, ORDER.properties, values)
    if values.get("Number"):
        _check_number_free(store, values["Number"], ref)
    if values.get("Date", EMPTY_DATE) == EMPTY_DATE:
        values["Date"] = format_datetime(now)
    draft = {**ORDER.defaults(), **values, "Ref_Key": ref}
    _price(store, draft, rows)
    # The number is taken last: a refused write must not use one up.
    draft["Number"] = values.get("Number") or store.take_order_number()
    order = store.new_object(ORDER, {**draft, GOODS: rows, "СуммаДокумента": document_total(rows)})
    store.orders.insert(order)
    return order


def update_order(store: Store, order: Values, body: Values) -> None:
    """Apply a PATCH/MERGE body; rows in it replace the section.

    Marking a posted order for deletion unposts it, as the platform does.

    Raises:
        OneCError: 400 for invalid values, references or rows, or a taken number.
    """
    values = writable_values(ORDER, body, creating=False)
    rows = _rows(store, values.pop(GOODS)) if GOODS in values else None
    check_references(store, ORDER.properties, values)
    if values.get("Number") and values["Number"] != order["Number"]:
        _check_number_free(store, values["Number"], order["Ref_Key"])
    if values.get("DeletionMark") and order["Posted"]:
        values["Posted"] = False
    if rows is not None:
        _price(store, {**order, **values}, rows)
        values[GOODS] = rows
        values["СуммаДокумента"] = document_total(rows)
    store.orders.update(order, {**values, "DataVersion": store.bump()})


def post(store: Store, order: Values, if_match: str | None) -> None:
    """``Post``: check the order like the posting handler does, then mark it posted.

    Raises:
        OneCError: 412 for a stale ``If-Match``; 500, code -1, when posting is refused.
    """
    check_if_match(if_match, order["DataVersion"])
    reason = _posting_refusal(store, order)
    if reason is not None:
        raise internal_error(f'Не удалось провести "{_presentation(order)}"! {reason}')
    store.orders.update(order, {"Posted": True, "DataVersion": store.bump()})


def unpost(store: Store, order: Values, if_match: str | None) -> None:
    """``Unpost``: the order stays, its movements are gone.

    Raises:
        OneCError: 412 for a stale ``If-Match``.
    """
    check_if_match(if_match, order["DataVersion"])
    store.orders.update(order, {"Posted": False, "DataVersion": store.bump()})


def _rows(store: Store, raw: Any) -> list[Values]:
    assert _SECTION is not None
    rows = parse_rows(_SECTION, raw)
    for row in rows:
        check_references(store, _SECTION.properties, row)
    return rows


def _price(store: Store, order: Values, rows: list[Values]) -> None:
    """Fill missing prices at the order's date and compute every row's ``Сумма``."""
    counterparty = store.counterparties.get(order["Контрагент_Key"])
    for row in rows:
        row["Коэффициент"] = _coefficient(store, row)
        if row["Цена"] is None:
            quote = best_price(store.prices, row["Номенклатура_Key"], counterparty, order["Date"])
            row["Цена"] = number(round(quote.price * row["Коэффициент"], 2)) if quote else 0
        row["Сумма"] = number(round(row["Количество"] * row["Цена"], 2))


def _coefficient(store: Store, row: Values) -> float:
    """Base units per unit of ``row``: as sent, else the unit's, else 1 (the base unit)."""
    if row["Коэффициент"]:
        return float(row["Коэффициент"])  # what the client sent, already a number
    unit = store.units.get(row["ЕдиницаИзмерения_Key"])
    return number(unit["Коэффициент"]) if unit is not None else 1


def _check_number_free(store: Store, value: str, ref: str) -> None:
    taken = store.orders.lookup("Number", value.casefold())
    if any(other["Ref_Key"] != ref for other in taken):
        raise duplicate_key(f"Number = '{value}'")


def _posting_refusal(store: Store, order: Values) -> str | None:
    if order["DeletionMark"]:
        return "Документ помечен на удаление."
    if order["Контрагент_Key"] == EMPTY_REF:
        return 'Поле "Контрагент" не заполнено.'
    counterparty = store.counterparties.get(order["Контрагент_Key"])
    if counterparty is None:
        return "Контрагент не найден (битая ссылка)."
    if counterparty["DeletionMark"]:
        return f'Контрагент "{counterparty["Description"]}" помечен на удаление.'
    if not order[GOODS]:
        return 'Не заполнена табличная часть "Товары".'
    for row in order[GOODS]:
        unit = store.units.get(row["ЕдиницаИзмерения_Key"])
        if unit is not None and unit["Owner_Key"] != row["Номенклатура_Key"]:
            return (
                f'В строке {row["LineNumber"]} табличной части "Товары" единица измерения '
                f'"{unit["Description"]}" не относится к номенклатуре.'
            )
    return None


def _presentation(order: Values) -> str:
    moment = datetime.fromisoformat(order["Date"])
    return f"Заказ клиента {order['Number']} от {moment:%d.%m.%Y %H:%M:%S}"
