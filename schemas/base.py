"""The base of every params model, and the text types its fields share.

A text that must say something (a customer, an item, an order id) is one of the ``*Text`` types
below: 1 to N characters as sent, not only whitespace, and stripped once valid. A code (a customer,
an item, a unit, an order number) also holds no control character: the ERPs' codes never do, and
one would break the URL or the XML it travels in. The published JSON Schema says the same
(``minLength``, ``maxLength`` and a ``pattern``), so a value the schema allows is a value the bus
takes, and the other way round.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

#: The characters ``str.strip()`` removes (``str.isspace()``), spelled with escapes that ECMA-262
#: (JSON Schema), Python's ``re`` and Rust's ``regex`` read alike (``\s`` differs between them).
SPACE_CLASS = r"\t-\r\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"

#: A JSON Schema ``pattern`` (unanchored): the text holds a character that is not whitespace.
NOT_BLANK = f"[^{SPACE_CLASS}]"

#: The C0 control characters and DEL.
CONTROL_CLASS = r"\u0000-\u001f\u007f"

#: A JSON Schema ``pattern``: no control character, and one character that is not whitespace.
CODE = f"^[^{CONTROL_CLASS}]*[^{SPACE_CLASS}{CONTROL_CLASS}][^{CONTROL_CLASS}]*$"
# Searched as JSON Schema validators in Python search it (whose ``$`` also matches before a final
# newline, which stripping removes): the bus and the published schema judge alike.
_CODE = re.compile(CODE)


def _stripped(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise PydanticCustomError("string_blank", "String should not be only whitespace")
    return stripped


def _code(value: str) -> str:
    stripped = _stripped(value)
    if _CODE.search(value) is None:
        raise PydanticCustomError(
            "string_control_character", "String should not hold control characters"
        )
    return stripped


class _NotBlank:
    """Field metadata: refuse a text of whitespace only (a code: or with a control character),
    strip the others; publish the rule as the JSON Schema's ``pattern``."""

    def __init__(self, *, code: bool) -> None:
        self._check = _code if code else _stripped
        self._pattern = CODE if code else NOT_BLANK

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        published = handler(schema)
        published["pattern"] = self._pattern
        return published


#: Marks a ``str`` field as a text that must not be blank (see the module's docstring).
NotBlank = _NotBlank(code=False)
#: Marks a ``str`` field as a code: not blank, no control character.
Code = _NotBlank(code=True)

#: Codes: a customer, an item, an ERP key.
CodeText = Annotated[str, StringConstraints(min_length=1, max_length=20), Code]
#: A unit of measure.
UnitText = Annotated[str, StringConstraints(min_length=1, max_length=10), Code]
#: An order's number (the storefront's or the ERP's).
OrderText = Annotated[str, StringConstraints(min_length=1, max_length=35), Code]
#: A status word.
StatusText = Annotated[str, StringConstraints(min_length=1, max_length=40), NotBlank]
#: A person's or a company's name.
NameText = Annotated[str, StringConstraints(min_length=1, max_length=100), NotBlank]
#: A line of free text (an address, a reason).
LineText = Annotated[str, StringConstraints(min_length=1, max_length=250), NotBlank]

#: A key chosen by the caller so that a repeated call is recognised.
IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class Params(BaseModel):
    """Strict, closed params: unknown fields and wrong types are rejected, values are frozen."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


MessageId = Annotated[str, Field(min_length=26, max_length=26, pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")]
