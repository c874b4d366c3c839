"""The record of every call that reached a method, for ``GET /_control/storefront/calls``."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call with valid params: its message id, whether it was a repeat, and its outcome.

    ``repeat`` is true when the call was answered from the result of an earlier call with the
    same method and message id (no effect); ``result`` or ``error`` is what the caller got.
    """

    seq: int
    at: float
    message_id: str
    method: str
    params: dict[str, Any]
    repeat: bool
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The call as the control API shows it."""
        return asdict(self)


class CallLog:
    """Calls in the order they arrived, numbered from 1."""

    def __init__(self) -> None:
        self.entries: list[CallRecord] = []

    def record(
        self,
        method: str,
        params: dict[str, Any],
        *,
        message_id: str,
        repeat: bool,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        """Append a call."""
        self.entries.append(
            CallRecord(
                len(self.entries) + 1,
                time.time(),
                message_id,
                method,
                params,
                repeat,
                result,
                error,
            )
        )

    def clear(self) -> None:
        """Forget every call."""
        self.entries.clear()
