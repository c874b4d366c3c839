"""The published JSON Schemas and the bus agree: a schema-valid params object is accepted, and
params the bus refuses are schema-invalid (both come from the pydantic models in ``schemas/``).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.catalog import METHODS
from schemas.export import generated_files
from tests.support.schema_strategies import JSON_VALUES, from_schema, schema_valid

SCHEMAS = {name: generated_files()[f"{name}.params.json"] for name in METHODS}
EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)


def accepted(method: str, params: Any) -> bool:
    try:
        METHODS[method].params.model_validate(params)
    except ValidationError:
        return False
    return True


@st.composite
def mutated(draw: st.DrawFn, value: Any) -> Any:
    """``value`` with one thing changed somewhere inside: a member dropped, added or replaced."""
    if isinstance(value, dict) and value and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(value)))
        action = draw(st.sampled_from(["drop", "replace", "descend"]))
        if action == "drop":
            return {k: v for k, v in value.items() if k != key}
        inner = draw(JSON_VALUES) if action == "replace" else draw(mutated(value[key]))
        return {**value, key: inner}
    if isinstance(value, list) and value and draw(st.booleans()):
        index = draw(st.integers(0, len(value) - 1))
        return [*value[:index], draw(mutated(value[index])), *value[index + 1 :]]
    if isinstance(value, dict) and draw(st.booleans()):
        return {**value, draw(st.text(max_size=12)): draw(JSON_VALUES)}
    return draw(JSON_VALUES | st.text(st.sampled_from(" \t\u3000\x1c\u00a0x"), max_size=30))


@pytest.mark.parametrize("method", sorted(METHODS))
@EXAMPLES
@given(data=st.data())
def test_every_schema_valid_example_is_accepted(method: str, data: st.DataObject) -> None:
    schema = SCHEMAS[method]
    params = data.draw(from_schema(schema).filter(lambda v: schema_valid(schema, v)))
    assert accepted(method, params), params


@pytest.mark.parametrize("method", sorted(METHODS))
@EXAMPLES
@given(data=st.data())
def test_params_the_bus_refuses_are_schema_invalid(method: str, data: st.DataObject) -> None:
    schema = SCHEMAS[method]
    params = data.draw(from_schema(schema).flatmap(mutated))
    if not accepted(method, params):
        # (the other way round the bus may be more lenient: a date-time also as a timestamp)
        assert not schema_valid(schema, params), params


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("balance.get", {"customer": "   "}),
        ("balance.get", {"customer": "\u3000\t"}),
        ("balance.get", {"customer": "100\x0000"}),
        (
            "order.submit",
            {"order_id": "A\x1f", "customer": "1", "lines": [{"item": "1", "quantity": 1}]},
        ),
        ("order.merge", {"customer": "C1", "orders": ["A", "B"], "outcome": "accepted"}),
        (
            "order.merge",
            {
                "customer": "C1",
                "orders": ["A", "B"],
                "outcome": "rejected",
                "new_order": {
                    "order_id": "N",
                    "status": "new",
                    "lines": [{"item": "1", "quantity": 1}],
                },
            },
        ),
    ],
)
def test_the_schema_and_the_bus_refuse_the_same_known_cases(method: str, params: Any) -> None:
    assert not accepted(method, params)
    assert not schema_valid(SCHEMAS[method], params)
