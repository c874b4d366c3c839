"""``any_of`` writes "any of these values" as few OData filters as fit a URL, quotes escaped."""

from __future__ import annotations

from urllib.parse import quote

from bus.adapters.odata_filters import any_of, string_literal


def test_a_quote_in_a_value_is_doubled() -> None:
    assert string_literal("O'Brien") == "'O''Brien'"
    assert any_of("No", ["1000", "O'Brien"]) == ["No eq '1000' or No eq 'O''Brien'"]


def test_repeated_values_are_asked_once() -> None:
    assert any_of("No", ["1000", "1000", "1002"]) == ["No eq '1000' or No eq '1002'"]


def test_no_values_make_no_filter() -> None:
    assert any_of("No", []) == []


def test_filters_are_cut_where_the_encoded_text_would_pass_the_limit() -> None:
    values = [f"{n:04d}" for n in range(100)]
    filters = any_of("Code", values, limit=300)
    assert len(filters) > 1
    assert all(len(quote(f, safe="")) <= 300 for f in filters)
    # Nothing lost, nothing repeated, the order kept.
    clauses = [clause for f in filters for clause in f.split(" or ")]
    assert clauses == [f"Code eq '{v}'" for v in values]


def test_cyrillic_names_count_as_their_encoded_bytes() -> None:
    # Each Cyrillic letter is six bytes once percent-encoded.
    filters = any_of("Номенклатура_Key", ["a", "b"], lambda v: f"guid'{v}'", limit=100)
    assert len(filters) == 2


def test_a_value_longer_than_the_limit_still_gets_its_filter() -> None:
    long = "X" * 50
    assert any_of("No", ["1", long, "2"], limit=40) == ["No eq '1'", f"No eq '{long}'", "No eq '2'"]
