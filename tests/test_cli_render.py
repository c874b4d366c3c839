"""The CLI's tables fit the width: the important columns whole, the others cut or left out."""

from __future__ import annotations

import json

import pytest

from bus.cli.render import Column, Screen, age, layout

ULID = "01M8YVTCEDQEP66ZJ8V0CCB674"
COLUMNS = [
    Column("id"),
    Column("status"),
    Column("method", rank=2, shrink_to=12),
    Column("target", rank=3, shrink_to=8),
    Column("key", rank=7, shrink_to=10),
    Column("last error", rank=1, shrink_to=24),
]
ROW = [
    ULID,
    "unknown_outcome",
    "order.status_changed",
    "storefront",
    "order:A-1007",
    "navision answered 400: Customer 10000 is over its credit limit for order A-1007.",
]


def widths(width: int | None) -> dict[str, int]:
    return {col.title: w for col, w in layout(COLUMNS, [ROW], width)}


def test_without_a_width_nothing_is_cut() -> None:
    assert widths(None) == {
        "id": 26,
        "status": 15,
        "method": 20,
        "target": 10,
        "key": 12,
        "last error": len(ROW[-1]),
    }


def test_at_80_columns_the_least_important_columns_go_first() -> None:
    shown = widths(80)
    assert list(shown) == ["id", "status", "last error"]  # key, target, then method left out
    assert shown["id"] == 26 and shown["status"] == 15  # never cut
    assert sum(shown.values()) + 2 * (len(shown) - 1) == 80  # the error takes what is left
    failed = {col.title: w for col, w in layout(COLUMNS, [[*ROW[:1], "failed", *ROW[2:]]], 80)}
    assert list(failed) == ["id", "status", "method", "last error"]  # a shorter status: room


def test_wide_enough_every_column_shows_whole() -> None:
    assert widths(200) == widths(None)


@pytest.mark.parametrize("width", [40, 60, 80, 100, 120])
def test_every_printed_line_fits(width: int, capsys: pytest.CaptureFixture[str]) -> None:
    screen = Screen(width=width, terminal=False)
    screen.table(COLUMNS, [ROW, ROW])
    screen.wrapped(ROW[-1] * 3, indent=4, first="    ")
    screen.field("last error", ROW[-1])
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(len(line) <= max(width, 26 + 2 + 15) for line in lines), lines
    if width >= 70:  # the error shown, cut
        assert lines[1].endswith("…") and len(lines[1]) == width


def test_ages_read_in_their_largest_unit() -> None:
    assert [age(s) for s in (5, 89, 90, 3599, 5400, 7200, 172_800)] == [
        "5s",
        "89s",
        "1m",
        "59m",
        "1h",
        "2h",
        "2d",
    ]


def test_verbatim_text_is_never_cut_nor_folded(capsys: pytest.CaptureFixture[str]) -> None:
    """A payload's JSON printed at 40 columns parses back: its long string stays on its line."""
    payload = {"comment": ROW[-1] * 2, "lines": [{"item": "1000", "quantity": 2.0}]}
    Screen(width=40, terminal=False).verbatim(json.dumps(payload, indent=2), indent=2)
    printed = capsys.readouterr().out
    assert json.loads(printed) == payload
    assert all(line.startswith("  ") for line in printed.splitlines())


def test_a_screen_on_standard_error_wraps_there(capsys: pytest.CaptureFixture[str]) -> None:
    said = Screen(width=40, terminal=False, err=True)
    said.wrapped(f"  customer: {ROW[-1]}", indent=4)
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) > 1 and all(len(line) <= 40 for line in lines), lines
    assert lines[0].startswith("  customer: ") and all(
        line.startswith("    ") for line in lines[1:]
    )
    assert " ".join(err.split()) == f"customer: {ROW[-1]}"
