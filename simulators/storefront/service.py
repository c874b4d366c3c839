"""One simulated storefront: its token, data, idempotency map and call record."""

from __future__ import annotations

import copy
import hmac
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from simulators.storefront.calls import CallLog
from simulators.storefront.errors import RpcError, invalid_params, method_not_found
from simulators.storefront.methods import METHODS, MethodContext
from simulators.storefront.params import MethodParams
from simulators.storefront.store import Json, Store


class StorefrontService:
    """Runs methods idempotently: the first success per (method, ``message_id``) is kept and
    answered again to a repeat, which has no second effect.

    The key includes the method because one bus message may lead to several calls (a new
    account: ``user.create`` then ``order.history.import``). Errors are not kept: the failed
    call changed nothing, so a repeat (a replay after the cause was fixed) runs again.

    Parameters:
        token: the bearer token callers must present.
        site_url: the storefront's public address, for set-password links.
    """

    def __init__(self, *, token: str, site_url: str) -> None:
        self.token = token
        self.store = Store()
        self.calls = CallLog()
        self._context = MethodContext(self.store, site_url.rstrip("/"))
        self._results: dict[tuple[str, str], Json] = {}

    @property
    def site_url(self) -> str:
        """The storefront's public address."""
        return self._context.site_url

    def authorized(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header carries the bearer token."""
        scheme, _, presented = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), self.token.encode()
        )

    def call(self, method: str, params: Any) -> Json:
        """Run one method with its raw params and return its result.

        Raises:
            RpcError: -32601 for an unknown method, -32602 for bad params, or the method's own.
        """
        spec = METHODS.get(method)
        if spec is None:
            raise method_not_found(method)
        parsed = _parse(spec.params, {} if params is None else params)
        raw: dict[str, Any] = copy.deepcopy(params or {})
        key = (method, parsed.message_id)
        if key in self._results:
            result = copy.deepcopy(self._results[key])
            self.calls.record(method, raw, message_id=parsed.message_id, repeat=True, result=result)
            return result
        try:
            result = spec.run(self._context, parsed)
        except RpcError as error:
            self.calls.record(
                method, raw, message_id=parsed.message_id, repeat=False, error=error.to_json()
            )
            raise
        self._results[key] = copy.deepcopy(result)
        self.calls.record(method, raw, message_id=parsed.message_id, repeat=False, result=result)
        return result

    def reset(self) -> None:
        """Restore the seed and forget every result and call."""
        self.store.reset()
        self.calls.clear()
        self._results.clear()


def _parse(model: type[MethodParams], params: Any) -> MethodParams:
    if not isinstance(params, dict):
        raise invalid_params(
            [
                {
                    "field": "params",
                    "type": "object_expected",
                    "message": "params must be an object (by name)",
                }
            ]
        )
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise invalid_params(
            [
                {
                    "field": ".".join(str(part) for part in error["loc"]) or "params",
                    "type": error["type"],
                    "message": error["msg"],
                }
                for error in exc.errors(
                    include_url=False, include_input=False, include_context=False
                )
            ]
        ) from None


STOREFRONT_KEY = web.AppKey("storefront", StorefrontService)
