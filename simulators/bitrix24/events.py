"""Outbound deal events: form-encoded POSTs, in the background, never retried.

``ONCRMDEALADD`` fires on ``crm.deal.add``; ``ONCRMDEALUPDATE`` on ``crm.deal.update``, on
``crm.deal.productrows.set`` (the portal saves the deal's recalculated totals after the rows,
which is a deal update) and on a manager's edit (``/_control/bitrix24/edit_deal``). Each
handler gets only the events it subscribed to.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlencode

import aiohttp

_log = logging.getLogger(__name__)
#: A fixed portal member id: receivers may compare it, so it must not change between runs.
MEMBER_ID = "a223c6b3710f85df22e9377d6c4f7553"
_TIMEOUT = aiohttp.ClientTimeout(total=10)
DEAL_ADD = "ONCRMDEALADD"
DEAL_UPDATE = "ONCRMDEALUPDATE"
#: The events the simulator can send.
EVENTS = frozenset({DEAL_ADD, DEAL_UPDATE})


@dataclass(frozen=True, slots=True)
class Subscription:
    """One outgoing-webhook handler: its event, where to POST and the token it checks."""

    handler_id: int
    url: str
    application_token: str
    domain: str
    event: str = DEAL_UPDATE


@dataclass
class EventSender:
    """Registered handlers and the deliveries under way."""

    subscriptions: list[Subscription] = field(default_factory=list)
    session: aiohttp.ClientSession | None = None
    _pending: set[asyncio.Task[None]] = field(default_factory=set)

    def subscribe(
        self, url: str, application_token: str, domain: str, event: str = DEAL_UPDATE
    ) -> Subscription:
        """Register a handler of ``event`` (one of :data:`EVENTS`); handler IDs count from 1."""
        subscription = Subscription(
            len(self.subscriptions) + 1, url, application_token, domain, event
        )
        self.subscriptions.append(subscription)
        return subscription

    def deal_added(self, deal_id: int) -> None:
        """Schedule one ONCRMDEALADD POST per handler of it (needs a running loop)."""
        self.fire(DEAL_ADD, deal_id)

    def deal_updated(self, deal_id: int) -> None:
        """Schedule one ONCRMDEALUPDATE POST per handler of it (needs a running loop)."""
        self.fire(DEAL_UPDATE, deal_id)

    def fire(self, event: str, deal_id: int) -> None:
        """Schedule one POST of ``event`` per handler subscribed to it."""
        for subscription in self.subscriptions:
            if subscription.event != event:
                continue
            task = asyncio.get_running_loop().create_task(
                self._deliver(subscription, event, deal_id)
            )
            # Keep a reference until done, or the task may be garbage-collected mid-flight.
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        """Wait for every delivery under way (tests use it to avoid sleeping)."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def _deliver(self, subscription: Subscription, event: str, deal_id: int) -> None:
        if self.session is None:
            return
        body = urlencode(payload(subscription, event, deal_id, int(time.time())))
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        try:
            async with self.session.post(
                subscription.url, data=body, headers=headers, timeout=_TIMEOUT
            ) as response:
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Bitrix24 does not retry: a lost event stays lost.
            _log.warning("event %s to %s lost: %s", event, subscription.url, exc)


def payload(subscription: Subscription, event: str, deal_id: int, ts: int) -> list[tuple[str, str]]:
    """The flat form fields of one event, in the order the portal sends them."""
    domain = subscription.domain
    return [
        ("event", event),
        ("event_handler_id", str(subscription.handler_id)),
        ("data[FIELDS][ID]", str(deal_id)),
        ("ts", str(ts)),
        ("auth[domain]", domain),
        ("auth[client_endpoint]", f"https://{domain}/rest/"),
        ("auth[server_endpoint]", "https://oauth.bitrix.info/rest/"),
        ("auth[member_id]", MEMBER_ID),
        ("auth[application_token]", subscription.application_token),
    ]


async def session_context(sender: EventSender) -> AsyncIterator[None]:
    """Open the client session for the app's lifetime; finish deliveries before closing it."""
    sender.session = aiohttp.ClientSession()
    try:
        yield
    finally:
        await sender.drain()
        await sender.session.close()
        sender.session = None
