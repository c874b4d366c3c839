"""The delivery date of an order: the earliest it can be delivered, on a working day.

Working days are Monday to Friday except the configured ``holidays``. The rules, in
``[order_rules]``:

- **The customer's clock.** The moment an order is placed is read in the customer's zone:
  ``customer_timezones`` (customer -> IANA zone), else ``warehouse_timezones`` (the warehouse of
  the customer's profile, its ERP code: NAV ``Location_Code``, 1C ``ОсновнойСклад``), else
  ``timezone``. Its date and time there decide everything below.
- **Cut-off.** An order placed on a working day before ``cutoff`` can be delivered ``lead_days``
  working days later; at or after the cut-off, ``after_cutoff_lead_days``. An order placed on a
  weekend or a holiday is handled on the next working day, so it counts as placed after the
  cut-off: a Saturday's order is no earlier than Friday evening's.
- **Pre-holiday cut-offs.** On the last working day before a holiday (a holiday comes before the
  next working day: the Wednesday before a Thursday holiday, the Friday before a Monday one), a
  product group may have to be ordered earlier (``pre_holiday_cutoffs``: ``categories``,
  ``cutoff``), because the warehouse picks and ships it before the break. An order with a line
  of such a category (the ERP item table's, compared without regard to case) placed at or after
  that time counts as placed after the cut-off: with the default leads (1 and 2) it cannot be
  delivered on the first working day after the holiday. A rule's cut-off later than ``cutoff``
  changes nothing; a line whose category is not known meets no rule.
- **Requested dates.** A missing date, or one before the earliest, becomes the earliest. A
  requested date on or after the earliest stands if it is a working day; a weekend or holiday is
  moved to the next working day (``non_working_days = "move"``, the default) or refused naming
  ``delivery.date`` (``"refuse"``), so the storefront asks the customer again. Every move is
  listed in the answer's ``adjusted`` with its reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from bus.errors import InvalidParams
from bus.settings import OrderRules
from schemas.steps import CustomerProfile

_FIELD = "delivery.date"
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def delivery_date(
    order: dict[str, Any],
    rules: OrderRules,
    now: dt.datetime,
    *,
    profile: CustomerProfile | None = None,
    categories: Mapping[str, str | None] | None = None,
) -> dict[str, Any] | None:
    """The adjustment of ``order``'s delivery date placed at ``now``, or ``None`` if it stands.

    Parameters:
        order: ``order.submit``'s params as JSON.
        rules: the deployment's order rules.
        now: when the order is placed (aware).
        profile: the customer's profile in the bus's directory (its ``warehouse``), if known.
        categories: each line's item -> its category in the ERP's item table, where known.

    The adjustment is ``{field: "delivery.date", from, to, reason}``.

    Raises:
        InvalidParams: the requested date is a weekend or holiday and ``rules`` refuse those.
    """
    zone = zone_of(rules, order["customer"], profile)
    local = now.astimezone(zone)
    holidays = set(rules.holidays)
    late = _late(order, rules, local, holidays, categories or {})
    lead = rules.lead_days if late is None else rules.after_cutoff_lead_days
    earliest = working_days_after(local.date(), lead, holidays)
    requested = (order.get("delivery") or {}).get("date")
    if requested is None or dt.date.fromisoformat(requested) < earliest:
        placed = f"{_clock(local)} on {_WEEKDAYS[local.weekday()]} {local.date()} ({zone.key})"
        why = late or f"before the {_clock(rules.cutoff)} cut-off"
        reason = f"the earliest delivery for an order placed at {placed}, {why}"
        return _adjustment(requested, earliest, reason)
    return _working_day(dt.date.fromisoformat(requested), rules, holidays)


def zone_of(rules: OrderRules, customer: str, profile: CustomerProfile | None) -> ZoneInfo:
    """The zone the customer's orders are placed in: its own, its warehouse's, the default."""
    warehouse = profile.warehouse if profile is not None else None
    name = rules.customer_timezones.get(customer) or rules.warehouse_timezones.get(
        str(warehouse) if warehouse is not None else "", rules.timezone
    )
    return ZoneInfo(name)


def is_working_day(day: dt.date, holidays: set[dt.date]) -> bool:
    """Monday to Friday, not a holiday."""
    return day.weekday() < 5 and day not in holidays


def is_pre_holiday(day: dt.date, holidays: set[dt.date]) -> bool:
    """Whether ``day`` is the last working day before a holiday (one comes before the next
    working day, so a Friday before a Monday holiday is one)."""
    if not is_working_day(day, holidays):
        return False
    day += dt.timedelta(days=1)
    while not is_working_day(day, holidays):
        if day in holidays:
            return True
        day += dt.timedelta(days=1)
    return False


def working_days_after(day: dt.date, count: int, holidays: set[dt.date]) -> dt.date:
    """The ``count``-th working day after ``day`` (the next working day when ``count`` is 0)."""
    remaining = count
    while True:
        day += dt.timedelta(days=1)
        if not is_working_day(day, holidays):
            continue
        if remaining <= 1:
            return day
        remaining -= 1


def _late(
    order: dict[str, Any],
    rules: OrderRules,
    local: dt.datetime,
    holidays: set[dt.date],
    categories: Mapping[str, str | None],
) -> str | None:
    """Why the order counts as placed after the cut-off (for the reason), or ``None``."""
    day, time = local.date(), local.time()
    if not is_working_day(day, holidays):
        what = "holiday" if day in holidays else "non-working day"
        return f"a {what}: handled on the next working day"
    if time >= rules.cutoff:
        return f"after the {_clock(rules.cutoff)} cut-off"
    if not rules.pre_holiday_cutoffs or not is_pre_holiday(day, holidays):
        return None
    ordered = {
        category.casefold()
        for line in order["lines"]
        if (category := categories.get(line["item"])) is not None
    }
    for rule in rules.pre_holiday_cutoffs:
        groups = sorted(c for c in rule.categories if c.casefold() in ordered)
        if groups and time >= rule.cutoff:
            return f"after the {_clock(rule.cutoff)} pre-holiday cut-off of {', '.join(groups)}"
    return None


def _working_day(
    requested: dt.date, rules: OrderRules, holidays: set[dt.date]
) -> dict[str, Any] | None:
    """A requested date on or after the earliest: kept, moved to a working day, or refused."""
    if is_working_day(requested, holidays):
        return None
    what = _what_day(requested, holidays)
    following = working_days_after(requested, 0, holidays)
    if rules.non_working_days == "refuse":
        message = (
            f"{requested.isoformat()} is a {what}: there are no deliveries on it; the next"
            f" working day is {following.isoformat()}"
        )
        field = {"field": _FIELD, "type": "non_working_day", "message": message}
        raise InvalidParams({"fields": [field]})
    reason = f"{requested.isoformat()} is a {what}, with no deliveries: the next working day"
    return _adjustment(requested.isoformat(), following, reason)


def _what_day(day: dt.date, holidays: set[dt.date]) -> str:
    """``Saturday``, ``Sunday`` or ``holiday`` (in English whatever the host's locale)."""
    return "holiday" if day in holidays else _WEEKDAYS[day.weekday()]


def _clock(moment: dt.time | dt.datetime) -> str:
    """``HH:MM``; strftime would cost several times as much, on every order."""
    return f"{moment.hour:02d}:{moment.minute:02d}"


def _adjustment(requested: str | None, to: dt.date, reason: str) -> dict[str, Any]:
    return {"field": _FIELD, "from": requested, "to": to.isoformat(), "reason": reason}
