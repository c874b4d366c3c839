"""How records look on the wire: ``get`` stringifies, product rows keep numbers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from simulators.bitrix24.envelope import iso
from simulators.bitrix24.store import DEAL_STAGES, Record

#: Money fields, shown with two decimals like the portal does ("15400.00").
_MONEY = frozenset({"OPPORTUNITY", "TAX_VALUE"})
#: Multi-value fields that stay structured (lists of {VALUE, VALUE_TYPE}).
_MULTIFIELDS = frozenset({"PHONE", "EMAIL", "WEB", "IM"})


def scalar_text(name: str, value: Any) -> Any:
    """One field value as ``crm.*.get`` shows it: a string, ``Y``/``N`` or an ISO date."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, datetime):
        return iso(value)
    if name in _MONEY:
        try:
            return f"{float(value):.2f}"
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, dict)):
        return value
    return str(value)


def render(record: Record) -> dict[str, Any]:
    """A deal, company or contact as ``get``/``list`` return it."""
    shown: dict[str, Any] = {}
    for name, value in record.items():
        if name in _MULTIFIELDS and isinstance(value, list):
            shown[name] = _multifield(name, record["ID"], value)
        else:
            shown[name] = scalar_text(name, value)
    return shown


def render_deal(record: Record) -> dict[str, Any]:
    """A deal, with the stage semantics the portal derives from its stage."""
    shown = render(record)
    shown["STAGE_SEMANTIC_ID"] = DEAL_STAGES.get(str(record.get("STAGE_ID")), "P")
    return shown


def render_comment(record: Record) -> dict[str, Any]:
    """A timeline comment as ``crm.timeline.comment.list`` shows it (the date is ``CREATED``)."""
    return {
        "ID": str(record["ID"]),
        "CREATED": iso(record["DATE_CREATE"]),
        "ENTITY_ID": str(record["ENTITY_ID"]),
        "ENTITY_TYPE": str(record["ENTITY_TYPE"]),
        "AUTHOR_ID": str(record["AUTHOR_ID"]),
        "COMMENT": str(record["COMMENT"]),
    }


def _multifield(name: str, owner_id: int, values: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "ID": str(owner_id * 100 + n),
            "VALUE_TYPE": item.get("VALUE_TYPE", "WORK") if isinstance(item, dict) else "WORK",
            "VALUE": item.get("VALUE", "") if isinstance(item, dict) else str(item),
            "TYPE_ID": name,
        }
        for n, item in enumerate(values, start=1)
    ]


def number(value: Any, default: float = 0.0) -> float:
    """A numeric parameter that may have come as a string from a form."""
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def render_row(row: Record) -> dict[str, Any]:
    """A row as ``crm.deal.productrows.get`` shows it: IDs as strings, prices as numbers."""
    price = number(row.get("PRICE"))
    tax_rate = number(row.get("TAX_RATE"))
    tax_included = str(row.get("TAX_INCLUDED", "N")).upper() in ("Y", "1", "TRUE")
    discount_sum = number(row.get("DISCOUNT_SUM"))
    exclusive = price / (1 + tax_rate / 100) if tax_included else price
    return {
        "ID": str(row["ID"]),
        "OWNER_ID": str(row["OWNER_ID"]),
        "OWNER_TYPE": "D",
        "PRODUCT_ID": int(number(row.get("PRODUCT_ID"))),
        "PRODUCT_NAME": str(row.get("PRODUCT_NAME", "")),
        "PRICE": price,
        "PRICE_ACCOUNT": f"{price:.2f}",
        "PRICE_EXCLUSIVE": round(exclusive, 2),
        "PRICE_NETTO": round(exclusive + discount_sum, 2),
        "PRICE_BRUTTO": round((exclusive + discount_sum) * (1 + tax_rate / 100), 2),
        "QUANTITY": number(row.get("QUANTITY"), 1.0),
        "DISCOUNT_TYPE_ID": int(number(row.get("DISCOUNT_TYPE_ID"), 2)),
        "DISCOUNT_RATE": number(row.get("DISCOUNT_RATE")),
        "DISCOUNT_SUM": discount_sum,
        "TAX_RATE": tax_rate,
        "TAX_INCLUDED": "Y" if tax_included else "N",
        "CUSTOMIZED": "Y",
        "MEASURE_CODE": int(number(row.get("MEASURE_CODE"), 796)),
        "MEASURE_NAME": str(row.get("MEASURE_NAME", "pcs")),
        "SORT": int(number(row.get("SORT"), 10)),
    }
