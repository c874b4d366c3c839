"""The state of one simulated Bitrix24 portal, kept on its aiohttp app."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from simulators.bitrix24.batch import run_batch
from simulators.bitrix24.envelope import Outcome
from simulators.bitrix24.errors import method_not_found
from simulators.bitrix24.events import EventSender
from simulators.bitrix24.limits import LeakyBucket
from simulators.bitrix24.methods import METHODS, MethodContext
from simulators.bitrix24.params import Params
from simulators.bitrix24.store import Store


@dataclass
class B24Service:
    """One portal: its incoming webhook, data, rate limit and event handlers.

    Parameters:
        user_id: the webhook's user, first path segment after ``/rest/``.
        webhook_code: the webhook's secret code, second segment.
        store: the CRM data.
        bucket: the leaky-bucket rate limit.
        events: the outbound event handlers.
    """

    user_id: int
    webhook_code: str
    store: Store
    bucket: LeakyBucket
    events: EventSender = field(default_factory=EventSender)

    def authorized(self, user_id: str, code: str) -> bool:
        """Whether the path carries this portal's webhook."""
        return user_id == str(self.user_id) and code == self.webhook_code

    def call(self, method: str, params: Params) -> Outcome:
        """Run one REST method (lowercase name), ``batch`` included.

        Raises:
            B24Error: the method's error, or ERROR_METHOD_NOT_FOUND.
        """
        if method == "batch":
            return run_batch(self._call_single, params)
        return self._call_single(method, params)

    def _call_single(self, method: str, params: Params) -> Outcome:
        implementation = METHODS.get(method)
        if implementation is None:
            raise method_not_found()
        return implementation(MethodContext(self.store, self.events.deal_updated), params)

    def reset(self) -> None:
        """Reload the seed and empty the rate-limit bucket (event handlers stay registered)."""
        self.store.reset()
        self.bucket.reset()


B24_KEY = web.AppKey("bitrix24", B24Service)
