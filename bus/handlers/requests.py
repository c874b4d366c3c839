"""Requests the ERP decides on (a delivery address, an employee's account), its decisions, and
its verdict on merging orders.

A request is journaled for the ERP in one form, ``{customer, kind, details}``, under an ordering
key of its own; the ERP decides later and calls ``request.decided`` with the request's message id.
The decision is journaled as the request's child, so the request shows it, and it is delivered to
the storefront with what was asked, after the request itself: it takes the request's ordering key,
so it waits for its request and for no other message of the customer.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bus.db import reading
from bus.errors import InvalidParams
from bus.handlers.commands import accept_command, command_method, journal_command, routed_command
from bus.journal.queries import get_message
from bus.routing import ROUTES
from bus.rpc import Call, MethodSpec
from bus.services import Services
from schemas.requests import AddressRequest, EmployeeRequest, RequestDecided

#: The request methods, and the kind each is registered as in the ERP.
KINDS = {"address.request": "delivery_address", "employee.request": "employee"}


def methods(services: Services) -> list[MethodSpec]:
    """The request methods, bound to ``services``."""

    async def request(call: Call, params: AddressRequest | EmployeeRequest) -> dict[str, Any]:
        asked = params.model_dump(mode="json", exclude={"idempotency_key"}, exclude_none=True)
        customer = asked.pop("customer")
        normalized = {"customer": customer, "kind": KINDS[call.method], "details": asked}
        return await accept_command(services, call, params, adjusted=normalized)

    async def decided(call: Call, params: RequestDecided) -> dict[str, Any]:
        async with reading(services.engine) as conn:
            request = await get_message(conn, params.request_id)
        route = None if request is None else ROUTES.get(request["method"])
        if request is None or route is None or route.reply != call.method:
            raise InvalidParams(
                {
                    "fields": [
                        {
                            "field": "request_id",
                            "type": "unknown_request",
                            "message": f"no request awaits a decision under {params.request_id}",
                        }
                    ]
                }
            )
        sent = params.model_dump(mode="json", exclude={"idempotency_key"})
        command = routed_command(
            services,
            call.method,
            source=call.client,
            payload={**request["payload"], **sent},
            idempotency_key=params.idempotency_key,
            correlation_id=call.correlation_id,
        )
        # The decision follows its request, and only it (the route's parent_key): it takes the
        # request's key, whatever that is (a request journaled before keys were narrowed has its
        # customer's, and its decision still follows it).
        command = dataclasses.replace(
            command, sent=sent, parent_id=request["id"], ordering_key=request["ordering_key"]
        )
        return await journal_command(services, command)

    return [
        MethodSpec.serving("address.request", request),
        MethodSpec.serving("employee.request", request),
        MethodSpec.serving("request.decided", decided),
        command_method(services, "order.merge"),
    ]
