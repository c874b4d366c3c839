"""The delivery date of an order: working days, the cut-off in the customer's zone, holidays.

Every case is placed at a fixed moment (``now``), so each rule is checked on the calendar it is
about: 2026-11-23 is a Monday, 2026-11-28 a Saturday, 2026-12-31 and 2027-01-01 are holidays
(then a weekend), 2027-03-08 is a Monday holiday.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from pydantic import ValidationError

from bus.delivery_dates import delivery_date, is_pre_holiday, zone_of
from bus.errors import InvalidParams
from bus.settings import OnecSettings, OrderRules, PreHolidayCutoff, Settings
from schemas.steps import CustomerProfile

HOLIDAYS = (dt.date(2026, 12, 31), dt.date(2027, 1, 1), dt.date(2027, 3, 8))
RULES = OrderRules(holidays=HOLIDAYS)
#: Wine must be ordered by 15:00 on the day before a holiday (the seeds have no pasta).
PRE_HOLIDAY = OrderRules(
    holidays=HOLIDAYS,
    pre_holiday_cutoffs=(PreHolidayCutoff(categories=("WINE", "Алкоголь"), cutoff=dt.time(15)),),
)
REFUSING = OrderRules(holidays=HOLIDAYS, non_working_days="refuse")
#: What the ERP's item table says of the seeded items (NAV's Item_Category_Code).
CATEGORIES = {"1000": "WINE", "1100": "WATER", "1200": "ACCESSORY"}


def order(*items: str, date: str | None = None, customer: str = "10000") -> dict[str, Any]:
    return {
        "order_id": "D-1",
        "customer": customer,
        "lines": [{"item": item, "quantity": 1, "unit": None} for item in items or ("1100",)],
        "delivery": {"date": date, "address_code": None},
        "comment": None,
    }


def moscow(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{text}+03:00")


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{text}+00:00")


# --- requested dates on weekends and holidays ---------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "moved_to", "what"),
    [
        ("2026-11-28", "2026-11-30", "Saturday"),
        ("2026-11-29", "2026-11-30", "Sunday"),
        ("2026-12-31", "2027-01-04", "holiday"),  # then another holiday and a weekend
        ("2027-03-08", "2027-03-09", "holiday"),
    ],
)
def test_a_requested_weekend_or_holiday_moves_to_the_next_working_day(
    requested: str, moved_to: str, what: str
) -> None:
    adjusted = delivery_date(order(date=requested), RULES, moscow("2026-11-23T10:00"))
    assert adjusted is not None
    assert (adjusted["field"], adjusted["from"], adjusted["to"]) == (
        "delivery.date",
        requested,
        moved_to,
    )
    assert what in adjusted["reason"] and "next working day" in adjusted["reason"]


def test_a_requested_working_day_on_or_after_the_earliest_stands() -> None:
    placed = moscow("2026-11-23T10:00")
    assert delivery_date(order(date="2026-11-24"), RULES, placed) is None  # the earliest itself
    assert delivery_date(order(date="2026-11-27"), RULES, placed) is None  # a Friday
    assert delivery_date(order(date="2027-01-04"), RULES, placed) is None  # after the holidays


def test_refusing_non_working_days_names_the_field_and_the_next_working_day() -> None:
    with pytest.raises(InvalidParams) as refused:
        delivery_date(order(date="2026-11-28"), REFUSING, moscow("2026-11-23T10:00"))
    [field] = refused.value.data["fields"]
    assert (field["field"], field["type"]) == ("delivery.date", "non_working_day")
    assert "2026-11-28 is a Saturday" in field["message"] and "2026-11-30" in field["message"]
    with pytest.raises(InvalidParams) as holiday:
        delivery_date(order(date="2026-12-31"), REFUSING, moscow("2026-11-23T10:00"))
    assert "holiday" in holiday.value.data["fields"][0]["message"]


def test_refusing_still_moves_a_date_before_the_earliest_and_keeps_working_days() -> None:
    placed = moscow("2026-11-27T19:00")  # Friday after the cut-off: Tuesday at the earliest
    too_early = delivery_date(order(date="2026-11-28"), REFUSING, placed)
    assert too_early is not None and too_early["to"] == "2026-12-01"
    assert delivery_date(order(date="2026-12-02"), REFUSING, placed) is None


# --- the earliest date: cut-off, weekends, holidays --------------------------------------------


@pytest.mark.parametrize(
    ("placed", "earliest"),
    [
        ("2026-11-23T10:00", "2026-11-24"),  # Monday morning: Tuesday
        ("2026-11-23T18:00", "2026-11-25"),  # at the cut-off: two working days
        ("2026-11-27T17:59", "2026-11-30"),  # Friday before the cut-off: Monday
        ("2026-11-27T19:00", "2026-12-01"),  # Friday after it: Tuesday
        ("2026-11-28T10:00", "2026-12-01"),  # Saturday: as after Friday's cut-off, not Monday
        ("2026-11-29T23:00", "2026-12-01"),  # Sunday too
        ("2026-12-31T09:00", "2027-01-05"),  # on a holiday: handled on Monday, delivered Tuesday
    ],
)
def test_the_earliest_date_counts_working_days_from_the_cut_off(placed: str, earliest: str) -> None:
    adjusted = delivery_date(order(), RULES, moscow(placed))
    assert adjusted is not None and adjusted["from"] is None and adjusted["to"] == earliest


def test_the_reason_says_when_and_where_the_order_was_placed() -> None:
    adjusted = delivery_date(order(), RULES, moscow("2026-11-28T10:00"))
    assert (
        adjusted is not None
        and "placed at 10:00 on Saturday 2026-11-28 (Europe/Moscow), a non-working day"
        in adjusted["reason"]
    )
    after = delivery_date(order(), RULES, moscow("2026-11-23T18:30"))
    assert after is not None and "at 18:30 on Monday 2026-11-23" in after["reason"]
    assert "after the 18:00 cut-off" in after["reason"]
    before = delivery_date(order(), RULES, moscow("2026-11-23T10:00"))
    assert before is not None and "(Europe/Moscow), before the 18:00 cut-off" in before["reason"]
    holiday = delivery_date(order(), RULES, moscow("2026-12-31T09:00"))
    assert holiday is not None and "2026-12-31 (Europe/Moscow), a holiday" in holiday["reason"]


# --- pre-holiday cut-offs per product group ----------------------------------------------------


def test_the_last_working_day_before_a_holiday_is_pre_holiday() -> None:
    holidays = set(HOLIDAYS)
    assert is_pre_holiday(dt.date(2026, 12, 30), holidays)  # Wednesday before Thursday's
    assert is_pre_holiday(dt.date(2027, 3, 5), holidays)  # Friday before Monday's
    assert not is_pre_holiday(dt.date(2026, 11, 27), holidays)  # an ordinary Friday
    assert not is_pre_holiday(dt.date(2026, 12, 31), holidays)  # a holiday itself
    assert not is_pre_holiday(dt.date(2027, 3, 6), holidays)  # the Saturday of the break


@pytest.mark.parametrize(
    ("placed", "items", "earliest"),
    [
        ("2026-12-30T14:59", ("1000",), "2027-01-04"),  # wine before 15:00: the first day after
        ("2026-12-30T15:00", ("1000",), "2027-01-05"),  # at 15:00: not the first day after
        ("2026-12-30T16:00", ("1100", "1000"), "2027-01-05"),  # one wine line is enough
        ("2026-12-30T16:00", ("1100", "1200"), "2027-01-04"),  # no wine: the usual 18:00
        ("2027-03-05T16:00", ("1000",), "2027-03-10"),  # Friday before Monday's holiday
        ("2027-03-05T16:00", ("1100",), "2027-03-09"),
        ("2026-11-23T16:00", ("1000",), "2026-11-24"),  # not before a holiday: the usual 18:00
    ],
)
def test_a_pre_holiday_cut_off_holds_for_its_product_groups(
    placed: str, items: tuple[str, ...], earliest: str
) -> None:
    adjusted = delivery_date(order(*items), PRE_HOLIDAY, moscow(placed), categories=CATEGORIES)
    assert adjusted is not None and adjusted["to"] == earliest


def test_a_pre_holiday_cut_off_is_named_and_matches_categories_of_either_erp() -> None:
    late = moscow("2026-12-30T16:00")
    for category, named in [("WINE", "WINE"), ("Алкоголь", "Алкоголь"), ("wine", "WINE")]:
        # NAV's code, 1C's kind, and a category in another case (compared without regard to it)
        adjusted = delivery_date(order("1000"), PRE_HOLIDAY, late, categories={"1000": category})
        assert adjusted is not None and adjusted["to"] == "2027-01-05"
        assert f"after the 15:00 pre-holiday cut-off of {named}" in adjusted["reason"]


def test_without_the_items_categories_only_the_usual_cut_off_holds() -> None:
    late = moscow("2026-12-30T16:00")
    for categories in (None, {}, {"1000": None}):
        adjusted = delivery_date(order("1000"), PRE_HOLIDAY, late, categories=categories)
        assert adjusted is not None and adjusted["to"] == "2027-01-04"


def test_a_pre_holiday_cut_off_later_than_the_usual_one_changes_nothing() -> None:
    rules = OrderRules(
        holidays=HOLIDAYS,
        pre_holiday_cutoffs=(PreHolidayCutoff(categories=("WINE",), cutoff=dt.time(20)),),
    )
    adjusted = delivery_date(
        order("1000"), rules, moscow("2026-12-30T19:00"), categories=CATEGORIES
    )
    assert adjusted is not None and adjusted["to"] == "2027-01-05"  # after 18:00 already
    early = delivery_date(order("1000"), rules, moscow("2026-12-30T17:00"), categories=CATEGORIES)
    assert early is not None and early["to"] == "2027-01-04"


# --- time zones --------------------------------------------------------------------------------

ZONES = OrderRules(
    holidays=HOLIDAYS,
    # The seeded warehouses: NAV's EAST, 1C's "Склад Красногорск".
    warehouse_timezones={"EAST": "Asia/Vladivostok", "Склад Красногорск": "Europe/Samara"},
    customer_timezones={"30000": "Asia/Kamchatka"},
)


@pytest.mark.parametrize(
    ("customer", "profile", "zone"),
    [
        ("10000", None, "Europe/Moscow"),
        ("10000", {"warehouse": "MAIN"}, "Europe/Moscow"),  # a warehouse without a zone
        ("10000", {"warehouse": None}, "Europe/Moscow"),
        ("10000", {"warehouse": "EAST"}, "Asia/Vladivostok"),
        ("20000", {"warehouse": "Склад Красногорск"}, "Europe/Samara"),
        ("30000", {"warehouse": "EAST"}, "Asia/Kamchatka"),  # the customer's own zone wins
        ("30000", None, "Asia/Kamchatka"),
    ],
)
def test_the_customers_zone_wins_over_its_warehouses_over_the_default(
    customer: str, profile: dict[str, Any] | None, zone: str
) -> None:
    kept = None if profile is None else CustomerProfile.model_validate(profile)
    assert zone_of(ZONES, customer, kept).key == zone


def test_the_cut_off_is_read_in_the_warehouses_zone() -> None:
    # 08:30 UTC on Monday: 11:30 in Moscow, 18:30 in Vladivostok (after the cut-off there).
    now = utc("2026-11-23T08:30")
    moscow_order = delivery_date(order(), ZONES, now, profile=CustomerProfile(warehouse="MAIN"))
    assert moscow_order is not None and moscow_order["to"] == "2026-11-24"
    east = delivery_date(order(), ZONES, now, profile=CustomerProfile(warehouse="EAST"))
    assert east is not None and east["to"] == "2026-11-25"
    assert "at 18:30 on Monday 2026-11-23 (Asia/Vladivostok), after" in east["reason"]


def test_the_day_is_the_customers_day() -> None:
    # 13:00 UTC on Friday: 16:00 in Moscow (before the cut-off), already Saturday in Kamchatka.
    now = utc("2026-11-27T13:00")
    west = delivery_date(order(customer="10000"), ZONES, now)
    assert west is not None and west["to"] == "2026-11-30"
    kamchatka = delivery_date(order(customer="30000"), ZONES, now)
    assert kamchatka is not None and kamchatka["to"] == "2026-12-01"


def test_a_pre_holiday_cut_off_is_read_in_the_customers_zone() -> None:
    # 10:00 UTC on Wednesday 30 December: 13:00 in Moscow, 20:00 in Vladivostok.
    now = utc("2026-12-30T10:00")
    rules = PRE_HOLIDAY.model_copy(update={"warehouse_timezones": {"EAST": "Asia/Vladivostok"}})
    west = delivery_date(order("1000"), rules, now, categories=CATEGORIES)
    assert west is not None and west["to"] == "2027-01-04"
    east = delivery_date(
        order("1000"), rules, now, profile=CustomerProfile(warehouse="EAST"), categories=CATEGORIES
    )
    assert east is not None and east["to"] == "2027-01-05"


@pytest.mark.parametrize(
    "config",
    [
        {"timezone": "Europe/Moskow"},
        {"warehouse_timezones": {"EAST": "Asia/Vladivostock"}},
        {"customer_timezones": {"10000": "MSK"}},
        {"customer_timezones": {"10000": "../../etc/passwd"}},
    ],
)
def test_a_zone_that_is_not_a_zone_fails_at_settings_load(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUS_ORDER_RULES", json.dumps(config))
    with pytest.raises(ValidationError, match="is not a known IANA time zone"):
        Settings()


def test_the_infobases_zone_is_checked_too() -> None:
    assert OnecSettings().timezone == "Europe/Moscow"
    with pytest.raises(ValidationError, match="is not a known IANA time zone"):
        OnecSettings(timezone="Moscow")
