"""The base of every params model."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

#: A key chosen by the caller so that a repeated call is recognised.
IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class Params(BaseModel):
    """Strict, closed params: unknown fields and wrong types are rejected, values are frozen."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


MessageId = Annotated[str, Field(min_length=26, max_length=26, pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")]
