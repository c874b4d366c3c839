"""The ``crm.*`` REST methods: each takes the call's parameters and returns an :class:`Outcome`.

Timeline comments (``crm.timeline.comment.*``) belong to a deal, company or contact; their error
texts follow the portal's ``<FIELD> is not defined or invalid.`` pattern (**unverified**: the docs
list no errors).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulators.bitrix24.envelope import Outcome
from simulators.bitrix24.errors import B24Error, fields_not_array, invalid_id, not_found
from simulators.bitrix24.listing import list_rows
from simulators.bitrix24.records import number, render, render_comment, render_deal, render_row
from simulators.bitrix24.store import Record, Store, Table

Params = dict[str, Any]


@dataclass
class MethodContext:
    """What methods work on: the data, and hooks for the outbound deal events."""

    store: Store
    on_deal_updated: Callable[[int], None]
    on_deal_added: Callable[[int], None]


Method = Callable[[MethodContext, Params], Outcome]


def _positive(value: Any) -> int | None:
    """``value`` as a positive integer (it may have come as a string), else ``None``."""
    if isinstance(value, bool):
        return None
    try:
        parsed = int(str(value))
    except ValueError:
        return None
    return parsed if parsed > 0 else None


def record_id(params: Params) -> int:
    """The ``id`` parameter as a positive integer.

    Raises:
        B24Error: "ID is not defined or invalid".
    """
    parsed = _positive(params.get("id"))
    if parsed is None:
        raise invalid_id()
    return parsed


def fields_of(params: Params) -> Record:
    """The ``fields`` map (field names are already uppercase).

    Raises:
        B24Error: "Parameter 'fields' must be array." when missing or not a map.
    """
    fields = params.get("fields")
    if not isinstance(fields, dict):
        raise fields_not_array()
    return dict(fields)


def _existing(table: Table, params: Params) -> tuple[int, Record]:
    found_id = record_id(params)
    record = table.get(found_id)
    if record is None:
        raise not_found()
    return found_id, record


def deal_add(ctx: MethodContext, params: Params) -> Outcome:
    """``crm.deal.add``: the new deal's ID, and an ONCRMDEALADD event."""
    deal_id = ctx.store.deals.add(fields_of(params))
    ctx.on_deal_added(deal_id)
    return Outcome(deal_id)


def deal_update(ctx: MethodContext, params: Params) -> Outcome:
    """``crm.deal.update``: ``true``, and an ONCRMDEALUPDATE event."""
    deal_id, _ = _existing(ctx.store.deals, params)
    ctx.store.deals.update(deal_id, fields_of(params))
    ctx.on_deal_updated(deal_id)
    return Outcome(True)


def deal_get(ctx: MethodContext, params: Params) -> Outcome:
    """``crm.deal.get``: the deal with every value as a string."""
    return Outcome(render_deal(_existing(ctx.store.deals, params)[1]))


def deal_list(ctx: MethodContext, params: Params) -> Outcome:
    """``crm.deal.list``."""
    return list_rows([render_deal(deal) for deal in ctx.store.deals.records.values()], params)


def _check_discount(row: Record) -> None:
    # The portal refuses an absolute discount given as a rate only.
    discount_type = int(number(row.get("DISCOUNT_TYPE_ID"), 2))
    if discount_type == 1 and "DISCOUNT_RATE" in row and "DISCOUNT_SUM" not in row:
        raise B24Error(
            400,
            "ERROR_CORE",
            "Discount Sum (DISCOUNT_SUM) is required when Discount Type (DISCOUNT_TYPE_ID) "
            "is monetary.<br>",
        )


def productrows_set(ctx: MethodContext, params: Params) -> Outcome:
    """``crm.deal.productrows.set``: replaces every row of the deal; ``true``.

    The portal then saves the deal's recalculated amount, which is a deal update: the deal's
    ``DATE_MODIFY`` moves and ONCRMDEALUPDATE fires (also when the amount is manual).
    """
    deal_id, deal = _existing(ctx.store.deals, params)
    rows = params.get("rows") or []
    if isinstance(rows, dict):
        rows = list(rows.values())
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise B24Error(400, "", "Parameter 'rows' must be array.")
    rows = [{str(key).upper(): value for key, value in row.items()} for row in rows]
    for row in rows:
        _check_discount(row)
    ctx.store.set_rows(deal_id, rows)
    totals: Record = {}
    if not deal.get("IS_MANUAL_OPPORTUNITY"):
        # The deal's amount follows its rows unless a manager typed it in.
        total = sum(number(r.get("PRICE")) * number(r.get("QUANTITY"), 1.0) for r in rows)
        totals["OPPORTUNITY"] = round(total, 2)
    ctx.store.deals.update(deal_id, totals)
    ctx.on_deal_updated(deal_id)
    return Outcome(True)


def productrows_get(ctx: MethodContext, params: Params) -> Outcome:
    """``crm.deal.productrows.get``: the rows, with numbers for prices and quantities."""
    deal_id, _ = _existing(ctx.store.deals, params)
    return Outcome([render_row(row) for row in ctx.store.rows(deal_id)])


def _adder(table: Callable[[Store], Table]) -> Method:
    def add(ctx: MethodContext, params: Params) -> Outcome:
        return Outcome(table(ctx.store).add(fields_of(params)))

    return add


def _getter(table: Callable[[Store], Table]) -> Method:
    def get(ctx: MethodContext, params: Params) -> Outcome:
        return Outcome(render(_existing(table(ctx.store), params)[1]))

    return get


def _updater(table: Callable[[Store], Table]) -> Method:
    def update(ctx: MethodContext, params: Params) -> Outcome:
        found_id, _ = _existing(table(ctx.store), params)
        table(ctx.store).update(found_id, fields_of(params))
        return Outcome(True)

    return update


def _lister(table: Callable[[Store], Table]) -> Method:
    def list_(ctx: MethodContext, params: Params) -> Outcome:
        return list_rows([render(r) for r in table(ctx.store).records.values()], params)

    return list_


def _companies(store: Store) -> Table:
    return store.companies


def _contacts(store: Store) -> Table:
    return store.contacts


def _deals(store: Store) -> Table:
    return store.deals


#: What a timeline comment can belong to: ``ENTITY_TYPE`` -> its table.
_TIMELINE_OWNERS: dict[str, Callable[[Store], Table]] = {
    "deal": _deals,
    "company": _companies,
    "contact": _contacts,
}


def _not_defined(field_name: str) -> B24Error:
    return B24Error(400, "", f"{field_name} is not defined or invalid.")


def _timeline_owner(fields: Record) -> tuple[str, int]:
    """``ENTITY_TYPE`` (lowercase, as the portal shows it) and ``ENTITY_ID`` of a comment.

    Raises:
        B24Error: either is missing or invalid.
    """
    entity_type = str(fields.get("ENTITY_TYPE") or "").strip().lower()
    if entity_type not in _TIMELINE_OWNERS:
        raise _not_defined("ENTITY_TYPE")
    entity_id = _positive(fields.get("ENTITY_ID"))
    if entity_id is None:
        raise _not_defined("ENTITY_ID")
    return entity_type, entity_id


def timeline_comment_add(ctx: MethodContext, params: Params) -> Outcome:
    """``crm.timeline.comment.add``: the new comment's ID; the entity must exist."""
    fields = fields_of(params)
    entity_type, entity_id = _timeline_owner(fields)
    if _TIMELINE_OWNERS[entity_type](ctx.store).get(entity_id) is None:
        raise not_found()
    text = fields.get("COMMENT")
    if not isinstance(text, str) or not text.strip():
        raise _not_defined("COMMENT")
    comment = {"ENTITY_TYPE": entity_type, "ENTITY_ID": entity_id, "COMMENT": text}
    return Outcome(ctx.store.comments.add(comment))


def timeline_comment_list(ctx: MethodContext, params: Params) -> Outcome:
    """``crm.timeline.comment.list``: the comments of the one entity the filter must name."""
    conditions = params.get("filter")
    if not isinstance(conditions, dict):
        raise _not_defined("ENTITY_TYPE")
    entity_type, entity_id = _timeline_owner(conditions)
    # The type is matched as the portal stores it, whatever case the caller wrote.
    named = {**conditions, "ENTITY_TYPE": entity_type, "ENTITY_ID": entity_id}
    rows = [render_comment(comment) for comment in ctx.store.comments.records.values()]
    return list_rows(rows, {**params, "filter": named})


#: Lowercase method name -> implementation (``batch`` is handled by :mod:`.batch`).
METHODS: dict[str, Method] = {
    "crm.deal.add": deal_add,
    "crm.deal.update": deal_update,
    "crm.deal.get": deal_get,
    "crm.deal.list": deal_list,
    "crm.deal.productrows.set": productrows_set,
    "crm.deal.productrows.get": productrows_get,
    "crm.company.add": _adder(_companies),
    "crm.company.update": _updater(_companies),
    "crm.company.get": _getter(_companies),
    "crm.company.list": _lister(_companies),
    "crm.contact.add": _adder(_contacts),
    "crm.contact.get": _getter(_contacts),
    "crm.contact.list": _lister(_contacts),
    "crm.timeline.comment.add": timeline_comment_add,
    "crm.timeline.comment.list": timeline_comment_list,
}
