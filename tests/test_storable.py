"""What PostgreSQL cannot store, found and replaced: a NUL character in text and in JSON text, the
escape of a backslash followed by ``u0000`` left alone, and the fields of params holding one."""

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


def test_a_nul_in_text_is_replaced() -> None:
    assert text("item\x00 1000") == f"item{REPLACEMENT} 1000"
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
