"""Facts that keep the fields they were given (``schemas.steps.AsGiven``) dump exactly those.

``AsGiven`` dumps with pydantic's ``exclude_unset``, which reaches every model nested in the fact:
that is the rule only while every model nested in an ``AsGiven`` fact is one too.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator

import pydantic

import schemas.steps
from schemas.steps import AsGiven, RoutedOrder


def _nested_models(annotation: object) -> Iterator[type[pydantic.BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        yield annotation
    for argument in typing.get_args(annotation):
        yield from _nested_models(argument)


def test_every_model_nested_in_an_as_given_fact_is_as_given() -> None:
    facts = [
        model
        for model in vars(schemas.steps).values()
        if isinstance(model, type) and issubclass(model, AsGiven) and model is not AsGiven
    ]
    assert RoutedOrder in facts
    nested = {
        (fact.__name__, name, model)
        for fact in facts
        for name, field in fact.model_fields.items()
        for model in _nested_models(field.annotation)
    }
    assert nested  # the walk finds the lines, the delivery, the manager, ...
    assert {(f, n, m.__name__) for f, n, m in nested if not issubclass(m, AsGiven)} == set()


def test_a_fact_dumps_what_it_was_given_and_nothing_else() -> None:
    given = {
        "order_id": "SO-1",
        "customer": "10000",
        "lines": [
            {"item": "1000", "quantity": 2.0, "unit": None},
            {"item": "1100", "quantity": 1.0, "unit": "BOX", "product_type": "wine"},
        ],
        "contract": None,
    }
    order = RoutedOrder.model_validate(given)
    routed = order.model_copy(update={"manager": None})
    assert routed.model_dump(mode="json") == {**given, "manager": None}
    assert pydantic.TypeAdapter(dict).validate_json(routed.model_dump_json()) == {
        **given,
        "manager": None,
    }
    assert "comment" in routed.model_dump(exclude_unset=False)
