"""The storefront's JSON-RPC methods: what each does to the store and returns.

    user.create            UserCreate          -> {"user_id", "created", "reactivated",
                                                   "set_password_url"}
        A new customer gets a new active user (``created: true``). A deactivated user is
        re-activated with the new data (``created: false, reactivated: true``, a new
        set-password link). An active one: error -32050 "user exists" {"customer"}; its data
        changes with ``user.update``.
    user.update            UserUpdate          -> {"user_id", "active", "updated"}
        Changes the data of the customer's user: each field given replaces the stored one (an
        explicit null clears it), the others stay. An active user stays active with its
        password, a deactivated one stays deactivated. ``updated``: the names of the fields
        whose value changed, sorted. Unknown customer: -32044.
    user.deactivate        UserDeactivate      -> {"user_id", "active": false}
        Unknown customer: error -32044 "unknown customer" {"customer"}. Deactivating a
        deactivated user succeeds.
    order.update           OrderUpdate         -> {"order_id", "version"}
        The given fields become a new version; an unknown order is created (version 1).
    order.history.import   OrderHistoryImport  -> {"imported"}
        Adds the customer's past orders (an order id imported again is replaced). Unknown
        customer: -32044.
    document.deliver       DocumentDeliver     -> {"document_id"}
        Files the document in the customer's account. Unknown customer: -32044.
    order.merge            OrderMerge          -> {"merged", "order_id", "removed"}
        ``accepted``: the customer's ``orders`` are removed and ``new_order`` is added
        (version 1, ``merged_from``: the ids); ``{"merged": true, "order_id": new id,
        "removed": the ids}``. ``rejected``: the orders stay as they are and get
        ``merge_rejected``: the reason; ``{"merged": false, "order_id": null, "removed": []}``.
        Unknown customer: -32044; an order that is not the customer's, or a new order id
        another order has: -32602 naming the field.
    request.update         RequestUpdate       -> {"request_id", "decision"}
        Records the ERP's decision on the customer's request (replacing an earlier one on the
        same ``request_id``). Approved, a ``delivery_address`` adds ``details.address`` to the
        user's addresses and an ``employee`` adds ``details`` to its employees (neither twice;
        a later decline removes nothing). Unknown customer: -32044.

Params are in :mod:`simulators.storefront.params`; idempotency by ``message_id`` is applied
around these functions by :class:`simulators.storefront.service.StorefrontService`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulators.storefront.errors import invalid_params, unknown_customer, user_exists
from simulators.storefront.params import (
    DocumentDeliver,
    MessageStatus,
    MethodParams,
    OrderHistoryImport,
    OrderMerge,
    OrderUpdate,
    RequestUpdate,
    UserCreate,
    UserDeactivate,
    UserUpdate,
)
from simulators.storefront.store import Json, Order, Store, User


@dataclass(frozen=True)
class MethodContext:
    """What a method works with: the data and the site's address (for links)."""

    store: Store
    site_url: str


@dataclass(frozen=True)
class Method:
    """A method's params model and implementation."""

    params: type[MethodParams]
    run: Callable[[MethodContext, Any], Json]


def _user(store: Store, customer: str) -> User:
    user = store.users.get(customer)
    if user is None:
        raise unknown_customer(customer)
    return user


def user_create(ctx: MethodContext, params: UserCreate) -> Json:
    """Create the customer's user, or re-activate a deactivated one."""
    profile = params.model_dump(mode="json", exclude={"message_id"})
    user = ctx.store.users.get(params.customer)
    if user is not None and user.active:
        raise user_exists(params.customer)
    reactivated = user is not None
    if user is None:
        user = ctx.store.add_user(profile)
    else:
        ctx.store.reactivate_user(user, profile)
    return {
        "user_id": user.user_id,
        "created": not reactivated,
        "reactivated": reactivated,
        "set_password_url": user.set_password_url(ctx.site_url),
    }


def user_update(ctx: MethodContext, params: UserUpdate) -> Json:
    """Change the data of the customer's user; its activation and password stay as they are."""
    user = _user(ctx.store, params.customer)
    given = params.model_fields_set - {"message_id", "customer"}
    changed = ctx.store.update_user(user, params.model_dump(mode="json", include=given))
    return {"user_id": user.user_id, "active": user.active, "updated": changed}


def user_deactivate(ctx: MethodContext, params: UserDeactivate) -> Json:
    """Stop the customer's user from signing in."""
    user = _user(ctx.store, params.customer)
    ctx.store.deactivate_user(user)
    return {"user_id": user.user_id, "active": False}


def order_update(ctx: MethodContext, params: OrderUpdate) -> Json:
    """Record the given fields as the order's next version."""
    # Only the fields the caller sent change (an explicit null clears one); nested lines keep
    # their full shape, so this filters the top level only.
    given = params.model_fields_set - {"message_id", "order_id", "customer"}
    changes = params.model_dump(mode="json", include=given)
    order = ctx.store.change_order(params.order_id, params.customer, changes, params.message_id)
    return {"order_id": order.order_id, "version": order.version}


def order_history_import(ctx: MethodContext, params: OrderHistoryImport) -> Json:
    """Add past orders to the customer's history."""
    user = _user(ctx.store, params.customer)
    ctx.store.import_history(user, [order.model_dump(mode="json") for order in params.orders])
    return {"imported": len(params.orders)}


def document_deliver(ctx: MethodContext, params: DocumentDeliver) -> Json:
    """File a document in the customer's account."""
    _user(ctx.store, params.customer)
    fields = params.model_dump(mode="json", exclude={"message_id"})
    document = ctx.store.add_document(fields, params.message_id)
    return {"document_id": document.document_id}


def message_status(ctx: MethodContext, params: MessageStatus) -> Json:
    """Note a status change of a message of the storefront's (the call itself is kept in the
    call record). An order it names that the storefront knows shows a failure until the failed
    step moves on (delivered, replayed or cancelled) and the ERP's number once it is told."""
    order = ctx.store.orders.get(params.order_id or "")
    if order is not None:
        if params.status in ("failed", "unknown_outcome"):
            order.failure = {"status": params.status, "reason": params.reason, "step": params.step}
        elif order.failure is not None and order.failure["step"] == params.step:
            order.failure = None
        if params.erp_number:
            order.erp_number_told = params.erp_number
    return {"message_id": params.about, "noted": True}


def _customer_orders(store: Store, customer: str, order_ids: list[str]) -> list[Order]:
    """The customer's orders with these ids; -32602 naming every id that is not one of them."""
    orders = [store.orders.get(order_id) for order_id in order_ids]
    strangers = [
        {
            "field": f"orders.{index}",
            "type": "unknown_order",
            "message": f"order {order_ids[index]!r} is not an order of customer {customer!r}",
        }
        for index, order in enumerate(orders)
        if order is None or order.customer != customer
    ]
    if strangers:
        raise invalid_params(strangers)
    return [order for order in orders if order is not None]


def _check_new_order_id(store: Store, order_id: str, merged: list[str]) -> None:
    """Refuse a new order id that another order (not one being merged) already has."""
    if order_id in store.orders and order_id not in merged:
        raise invalid_params(
            [
                {
                    "field": "new_order.order_id",
                    "type": "order_exists",
                    "message": f"order {order_id!r} already exists",
                }
            ]
        )


def order_merge(ctx: MethodContext, params: OrderMerge) -> Json:
    """Replace the customer's orders by the merged one, or note that the ERP refused."""
    _user(ctx.store, params.customer)
    orders = _customer_orders(ctx.store, params.customer, params.orders)
    if params.new_order is None:
        ctx.store.reject_merge(orders, params.reason)
        return {"merged": False, "order_id": None, "removed": []}
    new_order = params.new_order.model_dump(mode="json")
    _check_new_order_id(ctx.store, new_order["order_id"], params.orders)
    merged = ctx.store.merge_orders(params.customer, params.orders, new_order, params.message_id)
    return {"merged": True, "order_id": merged.order_id, "removed": list(params.orders)}


def _apply_approved(store: Store, user: User, params: RequestUpdate) -> None:
    """Give the user what an approved request asked for."""
    if params.kind == "delivery_address":
        address = {"code": params.erp_request_no, "address": params.details["address"].strip()}
        store.add_delivery_address(user, address)
    else:
        store.add_employee(user, copy.deepcopy(params.details))


def request_update(ctx: MethodContext, params: RequestUpdate) -> Json:
    """Record the ERP's decision on a customer's request; an approved one takes effect."""
    user = _user(ctx.store, params.customer)
    fields = params.model_dump(mode="json", exclude={"message_id"})
    ctx.store.decide_request(fields, params.message_id)
    if params.decision == "approved":
        _apply_approved(ctx.store, user, params)
    return {"request_id": params.request_id, "decision": params.decision}


#: Method name -> params model and implementation.
METHODS: dict[str, Method] = {
    "user.create": Method(UserCreate, user_create),
    "user.update": Method(UserUpdate, user_update),
    "user.deactivate": Method(UserDeactivate, user_deactivate),
    "order.update": Method(OrderUpdate, order_update),
    "order.history.import": Method(OrderHistoryImport, order_history_import),
    "document.deliver": Method(DocumentDeliver, document_deliver),
    "order.merge": Method(OrderMerge, order_merge),
    "request.update": Method(RequestUpdate, request_update),
    "message.status": Method(MessageStatus, message_status),
}
