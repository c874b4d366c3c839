"""What PostgreSQL cannot store, found and replaced: a NUL character and a lone surrogate in text
and in JSON text (a backslash written out before the letters left alone, a pair kept), and the
fields of params holding a NUL."""

from __future__ import annotations

import json

from bus.journal.storable import REPLACEMENT, json_text, nul_fields, text


def test_a_nul_in_json_text_is_replaced_and_a_written_out_escape_is_not() -> None:
    value = {"nul\x00key": "a\x00b", "written": "\\u0000", "both": "\\\x00", "plain": "ok"}
    stored = json.loads(json_text(json.dumps(value)))
    assert stored == {
        f"nul{REPLACEMENT}key": f"a{REPLACEMENT}b",
        "written": "\\u0000",  # a backslash, then the letters: not a NUL
        "both": f"\\{REPLACEMENT}",
        "plain": "ok",
    }
    unchanged = json.dumps({"a": 1})
    assert json_text(unchanged) is unchanged


def test_a_lone_surrogate_in_json_text_is_replaced_and_a_pair_kept() -> None:
    value = ["\ud800", "a\udfffb", "\U0001f600", "\ud55c", "\\ud800", "\udc00\ud800"]
    assert json.loads(json_text(json.dumps(value))) == [
        REPLACEMENT,
        f"a{REPLACEMENT}b",
        "\U0001f600",  # a pair, written as two escapes: one character
        "\ud55c",  # Hangul, not a surrogate
        "\\ud800",  # a backslash, then the letters
        REPLACEMENT * 2,  # a low one before a high one: two halves, each alone
    ]


def test_what_text_cannot_hold_is_replaced() -> None:
    assert text("item\x00 1000 \ud800") == f"item{REPLACEMENT} 1000 {REPLACEMENT}"
    assert text("\U0001f600 ok") == "\U0001f600 ok"
    assert text(None) is None


def test_the_fields_holding_a_nul_are_named_by_their_paths() -> None:
    params = {
        "comment": "a\x00b",
        "lines": [{"item": "1000"}, {"item": "1100", "note": "\x00"}],
        "delivery": {"bad\x00key": 1},
        "kept": "fine",
    }
    assert nul_fields(params) == ["comment", "lines.1.note", "delivery"]
    assert nul_fields("\x00") == ["params"]
    assert nul_fields({"a": [1, 2.5, None, True]}) == []
