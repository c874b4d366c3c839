"""The price register's slice of last values and the best-price rule of the configuration.

A counterparty's price for an item on a date comes from the latest record (``Period`` up to
that date) of, in order of precedence: its own ``Индивидуальная`` price, the price kind named
by its ``ГруппаЦен``, the ``Базовая`` price. The latest ``Акция`` record wins instead when it
is lower and the date lies within its window (``Period`` … ``ДействуетДо``, an empty end
meaning open-ended). The HTTP service quotes with this rule and orders are priced with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from simulators.onec.schema import EMPTY_DATE, EMPTY_REF
from simulators.onec.seed import BASE_KIND, INDIVIDUAL_KIND, PROMO_KIND

Values = dict[str, Any]
_Dimensions = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Quote:
    """A price and where it came from.

    Parameters:
        price: the unit price in RUB.
        kind: the ``ВидЦены`` of the record that gave it.
        promo: whether a promotion beat the regular price.
    """

    price: float
    kind: str
    promo: bool


def slice_last(records: Iterable[Values], moment: str | None = None) -> list[Values]:
    """The latest record per dimensions (item, price kind, counterparty) up to ``moment``.

    Parameters:
        records: register records in any order.
        moment: ``YYYY-MM-DDTHH:MM:SS``; ``None`` means "now and after", i.e. every record.
    """
    latest: dict[_Dimensions, Values] = {}
    for record in records:
        if moment is not None and record["Period"] > moment:
            continue
        dims = (record["Номенклатура_Key"], record["ВидЦены"], record["Контрагент_Key"])
        current = latest.get(dims)
        if current is None or current["Period"] <= record["Period"]:
            latest[dims] = record
    return list(latest.values())


def best_price(
    records: Iterable[Values], item_ref: str, counterparty: Values | None, moment: str
) -> Quote | None:
    """The price of ``item_ref`` for ``counterparty`` at ``moment``, or ``None`` without one.

    Parameters:
        records: the price register.
        item_ref: the item's Ref_Key.
        counterparty: the counterparty's values (``None`` gets the base price only).
        moment: ``YYYY-MM-DDTHH:MM:SS``.
    """
    current = {
        (r["ВидЦены"], r["Контрагент_Key"]): r
        for r in slice_last((r for r in records if r["Номенклатура_Key"] == item_ref), moment)
    }
    customer = counterparty["Ref_Key"] if counterparty else None
    group = counterparty["ГруппаЦен"] if counterparty else ""
    candidates = [
        current.get((INDIVIDUAL_KIND, customer)) if customer else None,
        current.get((group, EMPTY_REF)) if group else None,
        current.get((BASE_KIND, EMPTY_REF)),
    ]
    regular = next((r for r in candidates if r is not None), None)
    promo = current.get((PROMO_KIND, EMPTY_REF))
    if promo is not None and _in_window(promo, moment):
        if regular is None or promo["Цена"] < regular["Цена"]:
            return Quote(promo["Цена"], PROMO_KIND, True)
    if regular is None:
        return None
    return Quote(regular["Цена"], regular["ВидЦены"], False)


def _in_window(record: Values, moment: str) -> bool:
    until = record["ДействуетДо"]
    return bool(until == EMPTY_DATE or moment <= until)
