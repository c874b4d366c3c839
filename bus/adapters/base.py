"""The one small protocol every adapter implements.

An adapter translates one of the bus's operations into its system's API. It is handed a shared
``httpx.AsyncClient`` and never builds one; it raises only :class:`bus.errors.DeliveryError`
subclasses and never decides about retries.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol


@dataclass(frozen=True)
class Delivery:
    """One operation to perform in a target system.

    Parameters:
        message_id: the bus's id; sent as the system's external reference so the effect is findable.
        operation: what to do (``sales_order.create``).
        payload: the validated params of the command.
        previous: the stored result of the step before this one in the route, if any (the
            ERP's receipt when the CRM order is created; the deal that was read). Its
            ``context`` holds what the steps before that produced; see :meth:`fact`.
    """

    message_id: str
    operation: str
    payload: dict[str, Any]
    previous: dict[str, Any] | None = None

    def fact(self, name: str) -> Any:
        """What an earlier step of the route produced under ``name`` (the nearest step wins)."""
        previous = self.previous or {}
        if name in previous:
            return previous[name]
        return (previous.get("context") or {}).get(name)


@dataclass(frozen=True)
class EntityState:
    """A system-independent fingerprint of one entity's state (``order:1007``).

    The bus remembers the last state it wrote or forwarded; an event showing that state again is
    its own echo.
    """

    entity: str
    fingerprint: str

    @classmethod
    def of(cls, entity: str, state: Any) -> EntityState:
        """The fingerprint of ``state`` (JSON-serializable, canonicalised by sorting keys)."""
        canonical = json.dumps(state, sort_keys=True, separators=(",", ":"), default=str)
        return cls(entity, hashlib.sha256(canonical.encode()).hexdigest())

    def as_dict(self) -> dict[str, str]:
        """For the message's stored result."""
        return {"entity": self.entity, "fingerprint": self.fingerprint}


@dataclass(frozen=True)
class Receipt:
    """The target's confirmation: its own reference for the effect, and details worth keeping.

    Parameters:
        state: the entity state a read operation observed; if the bus already knows it, the
            route's next step is skipped (an echo or a repeat).
        skip_next: a reason to skip the route's next step (nothing to forward), and the steps
            after it.
        skip_one: a reason to skip the route's next step only: the steps after it run, with
            the facts of the steps before it (a step that does not apply to this change, where
            the next pair of steps carries another flow).
    """

    reference: str
    details: dict[str, Any] = field(default_factory=dict)
    state: EntityState | None = None
    skip_next: str | None = None
    skip_one: str | None = None


class Adapter(Protocol):
    """What the delivery worker needs from a system's adapter."""

    #: The operations it performs: every step a deployment can journal for its system must be
    #: one of them (checked at start, :mod:`bus.route_check`).
    operations: ClassVar[frozenset[str]]

    async def deliver(self, delivery: Delivery) -> Receipt:
        """Perform the operation once.

        Raises:
            TransientError: the system could not take it now (a later attempt may succeed).
            PermanentError: the system refused it for good.
            UnknownOutcome: the request went out but its answer was lost.
        """
        ...

    def intended_state(self, delivery: Delivery) -> EntityState | None:
        """The entity state ``delivery`` will write, remembered before it is sent; or ``None``.

        Remembered first so that the change event the write triggers, which may arrive before
        the write's own answer, is recognised as the bus's echo.
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


class DocumentStore(Protocol):
    """JSON documents by name, shared by every worker process: where adapters keep credentials
    their systems rotate, and the bus's customer directory."""

    async def get(self, name: str) -> dict[str, Any] | None:
        """The value stored under ``name``, if any."""
        ...

    async def put(self, name: str, value: dict[str, Any]) -> None:
        """Store ``value`` under ``name``."""
        ...


#: Where an adapter keeps the credentials its system rotates.
SecretStore = DocumentStore
