"""The ``Balance`` virtual table of an accumulation register, as the standard OData interface
publishes it: ``AccumulationRegister_X/Balance(Period=datetime'…', Condition='…',
Dimensions='…')``.

The balance sums every active movement before ``Period`` (all of them without it: the balance
now), a receipt adding and an expense subtracting, per the dimensions ``Dimensions`` names (all
of them by default), and keeps only the records ``Condition`` (a filter over the dimensions)
lets through. As in 1C, a combination whose every resource comes to zero is not a row.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from simulators.onec.errors import bad_url
from simulators.onec.filters import parse_filter
from simulators.onec.schema import RECORD_SET, Property, Register

Values = dict[str, Any]


def chosen_dimensions(register: Register, text: str | None) -> tuple[Property, ...]:
    """The dimensions of ``Dimensions='Номенклатура, Склад'``; every one when not given.

    Raises:
        OneCError: 400, code 6, for a name that is not a dimension of the register.
    """
    if not text or not text.strip():
        return register.dimensions
    chosen: list[Property] = []
    for name in (part.strip() for part in text.split(",")):
        dimension = register.dimension_named(name)
        if dimension is None:
            raise bad_url(f"'{name}' не является измерением регистра {register.name}")
        if dimension not in chosen:
            chosen.append(dimension)
    # 1C lists the dimensions in the register's order, whatever order the request names them.
    return tuple(d for d in register.dimensions if d in chosen)


def balances(
    register: Register,
    record_sets: Iterable[Values],
    dimensions: tuple[Property, ...],
    period: str | None = None,
    condition: str | None = None,
) -> list[Values]:
    """The ``Balance`` rows: one per combination of ``dimensions`` with a non-zero resource.

    Parameters:
        register: the register's description.
        record_sets: its record sets, each with its movements in ``RecordSet``.
        dimensions: the dimensions to group by (see :func:`chosen_dimensions`).
        period: ``YYYY-MM-DDTHH:MM:SS``; movements at or after it are left out.
        condition: a filter over the dimensions, applied to the movements.

    Raises:
        OneCError: 400, code 14, for a condition that does not parse.
    """
    by_name = {d.name: d for d in register.dimensions}
    test = parse_filter(by_name, condition).test if condition else None
    totals: dict[tuple[Any, ...], list[float]] = {}
    for record in (row for record_set in record_sets for row in record_set[RECORD_SET]):
        if not record["Active"] or (period is not None and record["Period"] >= period):
            continue
        if test is not None and not test(record):
            continue
        sign = 1 if record["RecordType"] == "Receipt" else -1
        key = tuple(record[d.name] for d in dimensions)
        sums = totals.setdefault(key, [0.0] * len(register.resources))
        for index, resource in enumerate(register.resources):
            sums[index] += sign * float(record[resource.name])
    return [
        {
            **{d.name: value for d, value in zip(dimensions, key, strict=True)},
            **{
                f"{r.name}Balance": round(s, 3)
                for r, s in zip(register.resources, sums, strict=True)
            },
        }
        for key, sums in totals.items()
        if any(round(s, 3) for s in sums)
    ]
