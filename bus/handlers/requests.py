"""Requests the ERP decides on (a delivery address, an employee's account), its decisions, and
its verdict on merging orders.

A request is journaled for the ERP in one form, ``{customer, kind, details}``, under an ordering
key of its own; the ERP decides later and calls ``request.decided`` with the request's message id.
The decision is journaled as the request's child, so the request shows it, and it is delivered to
the storefront with what was asked, after the request itself: it takes the request's ordering key,
so it waits for its request and for no other message of the customer.

**A request is decided once, after the ERP registered it.** A decision about a request the ERP
has not registered yet (its step not delivered: the ERP has no number of it) is refused, and the
ERP sends it again later; it cannot have decided what it does not hold. The first decision
accepted is the decision: sent again with the same content it is the same message, with other
content it is refused (``-32010`` naming ``request_id`` and the decision it already is). The
decision is journaled under a key derived from the request (:func:`decision_key`), so two
different decisions sent at the same moment cannot both be journaled either.

**A merge names orders of its customer.** Each order the bus journaled (submitted by the
storefront, or made by an accepted merge) must be the merge's customer's, and so must the new
order if the bus knows it; otherwise the merge is refused naming the field (``orders.1``,
``new_order.order_id``) and nothing is journaled. An order id the bus never journaled is one of
the ERP's own orders (taken by phone, entered in the ERP, or older than the bus): the ERP is
the authority on those, and the merge goes on; the storefront, which holds the customer's
orders, changes only that customer's.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bus.db import reading
from bus.errors import IdempotencyConflict, InvalidParams
from bus.handlers.commands import accept_command, journal_command, routed_command
from bus.journal.accept import sent_digest
from bus.journal.known_orders import order_customers
from bus.journal.queries import get_message
from bus.journal.tables import Status
from bus.routing import ROUTES
from bus.rpc import Call, MethodSpec
from bus.services import Services
from schemas.requests import AddressRequest, EmployeeRequest, OrderMerge, RequestDecided

log = logging.getLogger(__name__)

#: The request methods, and the kind each is registered as in the ERP.
KINDS = {"address.request": "delivery_address", "employee.request": "employee"}


def decision_key(request_id: str) -> str:
    """The idempotency key a request's decision is journaled under, whatever key the ERP sent:
    one decision per request."""
    return f"decision:{request_id}"


def methods(services: Services) -> list[MethodSpec]:
    """The request methods, bound to ``services``."""

    async def request(call: Call, params: AddressRequest | EmployeeRequest) -> dict[str, Any]:
        asked = params.model_dump(mode="json", exclude={"idempotency_key"}, exclude_none=True)
        customer = asked.pop("customer")
        normalized = {"customer": customer, "kind": KINDS[call.method], "details": asked}
        return await accept_command(services, call, params, adjusted=normalized)

    async def decided(call: Call, params: RequestDecided) -> dict[str, Any]:
        sent = params.model_dump(mode="json", exclude={"idempotency_key"})
        async with reading(services.engine) as conn:
            request = _awaiting(call, params.request_id, await get_message(conn, params.request_id))
            _require_registered(request, services.settings.erp)
            earlier = await _earlier_decision(conn, request)
        if earlier is not None:
            return _same_decision(call, sent, earlier)
        command = routed_command(
            services,
            call.method,
            source=call.client,
            payload={**request["payload"], **sent},
            idempotency_key=decision_key(request["id"]),
            correlation_id=call.correlation_id,
        )
        # The decision follows its request, and only it (the route's parent_key): it takes the
        # request's key, whatever that is (a request journaled before keys were narrowed has its
        # customer's, and its decision still follows it).
        command = dataclasses.replace(
            command, sent=sent, parent_id=request["id"], ordering_key=request["ordering_key"]
        )
        try:
            return await journal_command(services, command)
        except IdempotencyConflict as conflict:  # another decision was journaled meanwhile
            decision_id = (conflict.data or {}).get("message_id")
            raise _decided_otherwise(request["id"], decision_id) from None

    async def merge(call: Call, params: OrderMerge) -> dict[str, Any]:
        await _require_own_orders(services, call, params)
        return await accept_command(services, call, params)

    return [
        MethodSpec.serving("address.request", request),
        MethodSpec.serving("employee.request", request),
        MethodSpec.serving("request.decided", decided),
        MethodSpec.serving("order.merge", merge),
    ]


def _refused(field: str, kind: str, message: str, **data: Any) -> InvalidParams:
    """``-32602`` naming one ``field``, with ``data``'s further members."""
    return InvalidParams({"fields": [{"field": field, "type": kind, "message": message}], **data})


def _awaiting(call: Call, request_id: str, request: dict[str, Any] | None) -> dict[str, Any]:
    """``request`` when it is a request that awaits a decision by ``call.method``."""
    route = None if request is None else ROUTES.get(request["method"])
    if request is None or route is None or route.reply != call.method:
        raise _refused(
            "request_id", "unknown_request", f"no request awaits a decision under {request_id}"
        )
    return request


def _require_registered(request: dict[str, Any], erp: str) -> None:
    """Refuse a decision about a request the ERP has not registered yet: its ERP step (the
    request's own message, or a later step of it) is not delivered."""
    steps = [request, *request["children"]]
    if any(
        step["target"] == erp and step["status"] == Status.DELIVERED.value
        for step in steps
        if step["method"] == request["method"]
    ):
        return
    raise _refused(
        "request_id",
        "not_registered",
        f"request {request['id']} has not reached the ERP yet (it is {request['status']}):"
        " a request is decided once the ERP registered it; send the decision again then",
        request_id=request["id"],
        status=request["status"],
    )


async def _earlier_decision(
    conn: AsyncConnection, request: dict[str, Any]
) -> dict[str, Any] | None:
    """The decision already journaled about ``request``, if any (its child of the reply
    method), with what it was sent with."""
    route = ROUTES[request["method"]]
    for child in request["children"]:
        if child["method"] == route.reply:
            return await get_message(conn, child["id"])
    return None


def _same_decision(call: Call, sent: dict[str, Any], earlier: dict[str, Any]) -> dict[str, Any]:
    """The answer to a decision sent again: the first one's message when the content is the
    same; refused otherwise."""
    if earlier["payload_hash"] != sent_digest(call.method, sent):
        raise _decided_otherwise(sent["request_id"], earlier["id"])
    return {"message_id": earlier["id"], "status": earlier["status"]}


def _decided_otherwise(request_id: str, decision_id: Any) -> IdempotencyConflict:
    """``-32010``: the request was decided before with other content."""
    return IdempotencyConflict(
        {
            "field": "request_id",
            "request_id": request_id,
            "message_id": decision_id,
            "reason": f"request {request_id} was decided before, otherwise (message"
            f" {decision_id}); a request is decided once",
        }
    )


async def _require_own_orders(services: Services, call: Call, params: OrderMerge) -> None:
    """Refuse a merge naming an order the bus journaled for another customer (see the module's
    docstring), naming each such field."""
    named = {f"orders.{n}": order_id for n, order_id in enumerate(params.orders)}
    if params.new_order is not None:
        named["new_order.order_id"] = params.new_order.order_id
    async with reading(services.engine) as conn:
        customers = await order_customers(conn, list(named.values()))
    foreign = [
        {
            "field": field,
            "type": "foreign_order",
            "message": f"order {order_id} is customer {customers[order_id]}'s, not"
            f" {params.customer}'s: a merge names orders of its customer",
        }
        for field, order_id in named.items()
        if customers.get(order_id, params.customer) != params.customer
    ]
    if foreign:
        log.warning(
            "%s from %s refused: %s",
            call.method,
            call.client,
            "; ".join(f["message"] for f in foreign),
        )
        raise InvalidParams({"fields": foreign, "customer": params.customer})
