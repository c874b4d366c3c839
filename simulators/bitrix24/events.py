"""Outbound ONCRMDEALUPDATE events: form-encoded POSTs, in the background, never retried."""

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


@dataclass(frozen=True, slots=True)
class Subscription:
    """One outgoing-webhook handler: where to POST and the token it checks."""

    handler_id: int
    url: str
    application_token: str
    domain: str


@dataclass
class EventSender:
    """Registered handlers and the deliveries under way."""

    subscriptions: list[Subscription] = field(default_factory=list)
    session: aiohttp.ClientSession | None = None
    _pending: set[asyncio.Task[None]] = field(default_factory=set)

    def subscribe(self, url: str, application_token: str, domain: str) -> Subscription:
        """Register a handler; handler IDs count from 1."""
        subscription = Subscription(len(self.subscriptions) + 1, url, application_token, domain)
        self.subscriptions.append(subscription)
        return subscription

    def deal_updated(self, deal_id: int) -> None:
        """Schedule one ONCRMDEALUPDATE POST per handler (needs a running loop)."""
        for subscription in self.subscriptions:
            task = asyncio.get_running_loop().create_task(
                self._deliver(subscription, "ONCRMDEALUPDATE", deal_id)
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
