"""The delivery date of an order: the earliest a new order can be delivered, and working days.

The earliest date is ``lead_days`` working days ahead (``after_cutoff_lead_days`` after
``cutoff``, in ``timezone``), skipping weekends and ``holidays``. A missing or earlier requested
date is moved there, and the answer says so (``adjusted``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from bus.settings import OrderRules


def delivery_date(
    order: dict[str, Any],
    rules: OrderRules,
    now: dt.datetime,
    *,
    profile: Mapping[str, Any] | None = None,
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
    """
    local = now.astimezone(ZoneInfo(rules.timezone))
    lead = rules.after_cutoff_lead_days if local.time() >= rules.cutoff else rules.lead_days
    earliest = working_days_after(local.date(), lead, set(rules.holidays))
    requested = (order.get("delivery") or {}).get("date")
    if requested is not None and dt.date.fromisoformat(requested) >= earliest:
        return None
    after = " after the cut-off" if lead == rules.after_cutoff_lead_days else ""
    return {
        "field": "delivery.date",
        "from": requested,
        "to": earliest.isoformat(),
        "reason": f"the earliest delivery for an order placed now{after}",
    }


def working_days_after(day: dt.date, count: int, holidays: set[dt.date]) -> dt.date:
    """The ``count``-th working day after ``day`` (the next working day when ``count`` is 0)."""
    remaining = count
    while True:
        day += dt.timedelta(days=1)
        if day.weekday() >= 5 or day in holidays:
            continue
        if remaining <= 1:
            return day
        remaining -= 1
