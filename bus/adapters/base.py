"""The one small protocol every adapter implements.

An adapter translates one of the bus's operations into its system's API. It is handed a shared
``httpx.AsyncClient`` and never builds one; it raises only :class:`bus.errors.DeliveryError`
subclasses and never decides about retries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Delivery:
    """One operation to perform in a target system.

    Parameters:
        message_id: the bus's id; sent as the system's external reference so the effect is findable.
        operation: what to do (``sales_order.create``).
        payload: the validated params of the command.
    """

    message_id: str
    operation: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Receipt:
    """The target's confirmation: its own reference for the effect, and details worth keeping."""

    reference: str
    details: dict[str, Any] = field(default_factory=dict)


class Adapter(Protocol):
    """What the delivery worker needs from a system's adapter."""

    async def deliver(self, delivery: Delivery) -> Receipt:
        """Perform the operation once.

        Raises:
            TransientError: the system could not take it now (a later attempt may succeed).
            PermanentError: the system refused it for good.
            UnknownOutcome: the request went out but its answer was lost.
        """
        ...

    async def lookup(self, delivery: Delivery) -> Receipt | None:
        """Find the effect of an earlier attempt by the external reference; ``None`` if absent.

        Called before repeating an attempt that may have landed, so the effect lands once.
        """
        ...

    async def aclose(self) -> None:
        """Release what the adapter holds (sessions); the shared HTTP client is not its to close."""
        ...
