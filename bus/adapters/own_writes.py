"""What the bus itself created in a target, remembered for a while where every worker sees it.

A target's change event about an entity the bus created may say nothing the bus does not know
(Bitrix24's ``ONCRMDEALADD`` of a deal the bus added: see :mod:`bus.adapters.bitrix24`); knowing
that without asking the target spares a request of its pace. The record is kept in Redis
(:class:`bus.adapters.shared.SharedRedis`: the worker that takes the event is seldom the one
that created the entity) and in the process. Not found means "ask the target", as before: an
entry missing (expired, Redis unreachable, the event faster than the creator's answer) costs a
request, never a change.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from bus.adapters.shared import UNREACHABLE, SharedRedis

#: How long an entity is remembered, in seconds: events come within seconds, or after a backlog.
KEEP = 86_400.0
#: How many entities the process itself remembers (the oldest go first).
KEPT_IN_PROCESS = 10_000


class OwnWrites:
    """The entities of one kind (``bitrix24-deal:<portal>``) that the bus created.

    Parameters:
        kind: names the target, where it is and the entity; part of every key.
        shared: the deployment's Redis; ``None`` (embedded): this process alone.
    """

    def __init__(self, kind: str, shared: SharedRedis | None) -> None:
        self._kind = kind
        self._shared = shared
        self._local: OrderedDict[str, float] = OrderedDict()

    async def remember(self, entity_id: str) -> None:
        """Note that the bus created ``entity_id`` (for :data:`KEEP` seconds)."""
        self._local[entity_id] = time.monotonic() + KEEP
        self._local.move_to_end(entity_id)
        while len(self._local) > KEPT_IN_PROCESS:
            self._local.popitem(last=False)
        shared = self._shared
        if shared is None or not shared.usable:
            return
        try:
            await shared.client.set(self._key(shared, entity_id), 1, ex=int(KEEP))
        except UNREACHABLE as error:
            shared.failed(f"the record of {self._kind} the bus created", error)
            return
        shared.answered()

    async def made(self, entity_id: str) -> bool:
        """Whether the bus created ``entity_id`` (as far as it remembers)."""
        until = self._local.get(entity_id)
        if until is not None and until > time.monotonic():
            return True
        shared = self._shared
        if shared is None or not shared.usable:
            return False
        try:
            found = bool(await shared.client.exists(self._key(shared, entity_id)))
        except UNREACHABLE as error:
            shared.failed(f"the record of {self._kind} the bus created", error)
            return False
        shared.answered()
        return found

    def _key(self, shared: SharedRedis, entity_id: str) -> str:
        return shared.key("own", self._kind, entity_id)
