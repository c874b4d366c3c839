"""The state of one simulated Bitrix24 portal, kept on its aiohttp app."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from simulators.bitrix24.batch import run_batch
from simulators.bitrix24.envelope import Outcome
from simulators.bitrix24.errors import method_not_found, operation_time_limit
from simulators.bitrix24.events import EventSender
from simulators.bitrix24.limits import LeakyBucket
from simulators.bitrix24.methods import METHODS, MethodContext
from simulators.bitrix24.oauth import TokenStore
from simulators.bitrix24.operating import OperatingMeter
from simulators.bitrix24.params import Params
from simulators.bitrix24.store import Store


@dataclass
class B24Service:
    """One portal: its incoming webhook, OAuth app, data, limits and event handlers.

    Parameters:
        user_id: the webhook's user, first path segment after ``/rest/``.
        webhook_code: the webhook's secret code, second segment.
        store: the CRM data.
        bucket: the leaky-bucket rate limit.
        operating: the per-method operating budget.
        oauth: the tokens of the OAuth application (``/rest/{method}?auth=``).
        events: the outbound event handlers.
    """

    user_id: int
    webhook_code: str
    store: Store
    bucket: LeakyBucket
    operating: OperatingMeter
    oauth: TokenStore
    events: EventSender = field(default_factory=EventSender)

    def authorized(self, user_id: str, code: str) -> bool:
        """Whether the path carries this portal's webhook."""
        return user_id == str(self.user_id) and code == self.webhook_code

    def call(self, method: str, params: Params) -> Outcome:
        """Run one REST method (lowercase name), ``batch`` included.

        Raises:
            B24Error: the method's error, ERROR_METHOD_NOT_FOUND or OPERATION_TIME_LIMIT.
        """
        if method == "batch":
            return run_batch(self._call_single, params)
        return self._call_single(method, params)

    def _call_single(self, method: str, params: Params) -> Outcome:
        implementation = METHODS.get(method)
        if implementation is None:
            raise method_not_found()
        meter = self.operating
        if meter.blocked(method):
            raise operation_time_limit()
        context = MethodContext(self.store, self.events.deal_updated, self.events.deal_added)
        started = meter.clock()
        try:
            return implementation(context, params)
        finally:
            # Failed calls cost time too.
            meter.record(method, meter.clock() - started)

    def reset(self) -> None:
        """Reload the seed, empty the rate-limit bucket and the operating budget.

        Event handlers and OAuth tokens stay.
        """
        self.store.reset()
        self.bucket.reset()
        self.operating.reset()


B24_KEY = web.AppKey("bitrix24", B24Service)
