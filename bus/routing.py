"""Declarative routes: which command goes to which systems, as which operations, in which order.

A route is a chain of steps. Each step names a *role* (``erp``, ``crm``, ``storefront``, ``mail``);
the deployment's settings say which system plays it (``erp = "navision"``), so the same routes serve
every ERP/CRM pair. Every step is journaled at accept, in one transaction, as its own message: the
first is the message the caller gets back, the later ones are its children. They share an ordering
key, so a step starts only after the step before it was delivered, and it sees that step's result
(the ERP's order number, the deal that was read); a route without a key of its own gets one per
message (``message:<id>``) for that.

Ordering keys are as narrow as the business needs (DESIGN.md §4): a message waits only for the
messages it really depends on, because a permanent failure holds every later message of its key
until an operator acts. Two messages share a key only when the later one would be wrong or refused
if it overtook the earlier one (a deactivate before its create, a status change of an order the
storefront does not have yet). The README lists every method's key and why.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: An ordering key: a ``str.format`` template over the params, or a function of them when the key
#: depends on which params were sent.
KeyTemplate = str | Callable[[Mapping[str, Any]], str | None]


@dataclass(frozen=True)
class Step:
    """One delivery of a route: the role of the system that receives it, and the operation.

    Parameters:
        when: the flow of ``[ownership]`` (bus.settings.OwnershipSettings) the step carries; the
            step is in the route only when the deployment carries that flow. ``None``: always.
        only: the step is in the route only for params this is true of (an accepted merge);
            ``None``: for any.
    """

    role: str
    operation: str
    when: str | None = None
    only: Callable[[Mapping[str, Any]], bool] | None = None

    def applies(self, params: Mapping[str, Any]) -> bool:
        """Whether the step is in the route for ``params`` (its flow aside)."""
        return self.only is None or self.only(params)


@dataclass(frozen=True)
class FanOut:
    """Chains journaled beside a route's own steps, one per entity the params name (each merged
    order of a merge), each with a payload of its own and its own ordering key.

    Parameters:
        branches: the params -> ``(name, payload)`` of each chain; the name is unique in them.
        steps: every chain's steps.
    """

    branches: Callable[[Mapping[str, Any]], list[tuple[str, dict[str, Any]]]]
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Route:
    """Where one command method goes.

    Parameters:
        steps: delivered one after the other; each later step sees the result of the one before.
        ordering_key: a ``str.format`` template over the params, or a function of them; messages
            that render the same key are delivered one at a time, in acceptance order. ``None``:
            no ordering beyond the route's own steps.
        reply: see the attribute.
        parent_key: see the attribute.
        known_order: see the attribute.
        journaled: see the attribute.
        fan_out: see the attribute.
    """

    steps: tuple[Step, ...]
    ordering_key: KeyTemplate | None = None
    #: the method by which the target answers later, correlated by this message's id: until
    #: that reply arrives the request is not done (and past its deadline it is stuck)
    reply: str | None = None
    #: the message answers an earlier one, is journaled as its child and takes its ordering key,
    #: so it follows that message (and what that message follows) and nothing else; the handler,
    #: which finds the earlier message, applies it (``ordering_key`` is then unused)
    parent_key: bool = False
    #: the param naming an order the message is about, which the bus must know (journaled by
    #: ``order.submit`` or an accepted ``order.merge``): a call about another order is refused
    #: at accept, naming the param, and nothing is journaled (bus.handlers.commands)
    known_order: str | None = None
    #: the payload the steps take, made from the params (what was sent still recognises a
    #: repeated call); ``None``: the params as sent
    journaled: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    #: chains beside the route's own steps, one per entity the params name
    fan_out: FanOut | None = None
    #: the CRM whose event the route carries: only a deployment with that CRM journals it
    #: (its steps are checked at start against that CRM's adapter, bus.route_check)
    crm: str | None = None

    def key_for(self, params: Mapping[str, Any]) -> str | None:
        """Render this route's ordering key for ``params``."""
        if self.ordering_key is None:
            return None
        if isinstance(self.ordering_key, str):
            return self.ordering_key.format(**params)
        return self.ordering_key(params)


def _own_request_key(params: Mapping[str, Any]) -> str:
    """A key no other message has: only the request's decision, which takes it, follows it.

    The journal gives the request its message id only at accept, so the key cannot name that id;
    a repeated call gets the first call's message and key, and this one is dropped unused.
    """
    return f"request:{uuid.uuid4().hex}"


def _accepted(params: Mapping[str, Any]) -> bool:
    """An accepted merge (a rejected one changes no order)."""
    return params.get("new_order") is not None


def _merge_payload(params: Mapping[str, Any]) -> dict[str, Any]:
    """An accepted merge as its steps take it: the merge, and the new order as an order (its
    ``order_id``, the customer, its ``lines``, a comment naming what it was merged from), which
    the ERP prices and the CRM creates."""
    payload = dict(params)
    new_order = params.get("new_order")
    if new_order is None:
        return payload
    number = f" ({new_order['erp_number']})" if new_order.get("erp_number") else ""
    payload.update(
        order_id=new_order["order_id"],
        # A routed order's line says its unit, None for the ERP's default (schemas.steps).
        lines=[
            {"item": line["item"], "quantity": line["quantity"], "unit": line.get("unit")}
            for line in new_order["lines"]
        ],
        comment=f"Merged by the ERP{number} from {', '.join(params['orders'])}.",
    )
    return payload


def _merged_orders(params: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """One chain per merged order of an accepted merge: its CRM order takes the status
    ``merged``."""
    new_order = params.get("new_order")
    if new_order is None:
        return []
    return [
        (
            f"merged:{order_id}",
            {"order_id": order_id, "status": MERGED, "merged_into": new_order["order_id"]},
        )
        for order_id in params["orders"]
    ]


def _merge_key(params: Mapping[str, Any]) -> str | None:
    """The new order's key for an accepted merge; none for a rejected one."""
    new_order = params.get("new_order")
    return None if new_order is None else f"order:{new_order['order_id']}"


#: The flow that carries the ERP's status changes to the CRM (bus.settings.OwnershipSettings).
_STATUS_TO_CRM = "erp_status_to_crm"
#: The flow that carries the ERP's merges to the CRM.
_MERGES_TO_CRM = "merges_to_crm"
#: The status word a merged order's CRM order takes (bitrix24.stages, creatio.order_statuses).
MERGED = "merged"
#: The flow that carries the CRM's cancellation of an order to the ERP.
_CANCEL_TO_ERP = "crm_cancel_to_erp"
#: After a CRM's change of an order reached the storefront: an order the CRM cancelled is
#: cancelled in the ERP (the journal finds its ERP order, and skips the ERP for any other change).
_CANCEL_IN_ERP = (
    Step("journal", "order.locate_cancelled", when=_CANCEL_TO_ERP),
    Step("erp", "order.cancel", when=_CANCEL_TO_ERP),
)
#: The flow that carries the CRM's edit of an order's lines to the ERP.
_LINES_TO_ERP = "crm_lines_to_erp"
#: After the cancellation's steps: the ERP order's lines become the CRM's (the journal finds the
#: ERP order, and skips the ERP for a cancelled order; the ERP changes nothing when its lines
#: already match).
_LINES_IN_ERP = (
    Step("journal", "order.locate_edited", when=_LINES_TO_ERP),
    Step("erp", "order.lines", when=_LINES_TO_ERP),
)

#: A request of a customer that the ERP registers now and decides on later.
_CUSTOMER_REQUEST = Route(
    steps=(Step("erp", "account.request"),),
    # Each request has a key of its own, which its decision takes: the decision reaches the
    # storefront after the request, and nothing else waits for either. Requests do not depend
    # on each other (the ERP registers each on its own) nor on the account's lifecycle (the
    # customer is the ERP's before the CRM provisions it).
    ordering_key=_own_request_key,
    reply="request.decided",
)

#: The command routes of the bus.
ROUTES: dict[str, Route] = {
    # order.submit is routed by customer segment: see bus.order_routing and
    # settings.order_routes. Its key is order:<order_id> (bus.handlers.orders), each order of a
    # split cart order:<order_id>/<contract>, which is that order's own order_id.
    # The ERP reports an order's progress: the storefront shows it after the order's submit and
    # earlier changes (a status must not land before the order, nor an older one after a newer),
    # and after the merge that made the order; never behind another order of the customer.
    # Only an order the bus knows: the storefront would make a status change of any other order
    # a new, phantom order. The ERP's change of an order it made itself (or whose merge it has
    # not sent yet) is refused, and accepted once the merge is.
    # When the ERP owns the order's status ([ownership] erp_status_to_crm), the CRM hears it
    # too: the journal finds the order's CRM deal or order (the order's own CRM step made it),
    # the CRM reads its rows (so the change event the update causes is known as the bus's own
    # echo), then takes the status the ERP's word maps to.
    "order.status_changed": Route(
        steps=(
            Step("storefront", "order.update"),
            Step("journal", "order.locate", when=_STATUS_TO_CRM),
            Step("crm", "order.snapshot", when=_STATUS_TO_CRM),
            Step("crm", "order.status", when=_STATUS_TO_CRM),
        ),
        ordering_key="order:{order_id}",
        known_order="order_id",
    ),
    # Provisioning, an upsert (a manager re-saving the account sends it again): what the CRM
    # keeps on the account (the manager, the greeting, the menu), the ERP's data about the
    # customer, the storefront user (created, re-activated or updated), the customer's order
    # history (6 months), the mail with the set-password link (skipped, saying so, for a user
    # that keeps its password), the outcome back to the CRM.
    # The account's lifecycle is ordered per customer (a deactivate must not overtake its create,
    # a re-create its deactivate); nothing else of the customer shares the key, so a failed
    # document or request never holds an account.
    "account.create": Route(
        steps=(
            # Creatio's Owner and storefront settings, which its business process does not send;
            # Bitrix24's robot sends them in the call (bus.adapters.creatio, bitrix24).
            Step("crm", "account.read"),
            Step("erp", "customer.read"),
            # What order routing needs of the customer, kept in the bus's directory.
            Step("directory", "customer.remember"),
            Step("storefront", "user.create"),
            Step("erp", "orders.history"),
            Step("storefront", "order.history.import"),
            Step("mail", "mail.set_password_link"),
            # The CRM hears the outcome: a note on the Creatio account, a comment on the
            # Bitrix24 company's timeline.
            Step("crm", "account.report"),
        ),
        ordering_key="customer:{erp_key}",
    ),
    # The storefront user is disabled (a customer without one has nothing to deactivate: done,
    # not a failure that would hold the customer's next create), and the CRM hears which.
    # The directory first: the customer's orders are refused from then on, on every route.
    "account.deactivate": Route(
        steps=(
            Step("directory", "customer.deactivate"),
            Step("storefront", "user.deactivate"),
            Step("crm", "account.report"),
        ),
        ordering_key="customer:{erp_key}",
    ),
    # Documents: the ERP issues them, the storefront receives the PDF. No key beyond the route's
    # own (message:<id>): the PDF follows its ERP step, and a document depends on no other
    # message; the customer asks for it from the storefront, where the account already is.
    "invoice.request": Route(
        steps=(Step("erp", "invoice.create"), Step("storefront", "document.deliver")),
    ),
    "reconciliation.request": Route(
        steps=(Step("erp", "reconciliation.create"), Step("storefront", "document.deliver")),
    ),
    # A customer's requests: the ERP registers them, decides later and says so with
    # request.decided.
    "address.request": _CUSTOMER_REQUEST,
    "employee.request": _CUSTOMER_REQUEST,
    # The decision is the request's child and takes the request's key (bus.handlers.requests):
    # it reaches the storefront after its request was delivered, and waits for nothing else.
    "request.decided": Route(steps=(Step("storefront", "request.update"),), parent_key=True),
    # The ERP's verdict on merging orders: the storefront removes them and shows the new one,
    # or leaves them as they were. An accepted merge is keyed by the new order: the ERP's status
    # changes of that order come right after it (a preorder: created in reserve, provided) and
    # must not reach the storefront before the order exists there. A rejection changes no order
    # and nothing later depends on it: no key.
    # When the CRM hears of merges ([ownership] merges_to_crm), an accepted merge also makes the
    # new order's CRM order, after the ERP priced its lines (order.quote), in the new order's key
    # (its later status changes find it there); and each merged order's CRM order takes the
    # status "merged" (a lost deal, a cancelled Creatio order), each in a chain of its own, as
    # an ERP status change would set it (the CRM's event about it is the bus's echo).
    "order.merge": Route(
        steps=(
            Step("storefront", "order.merge"),
            Step("erp", "order.quote", when=_MERGES_TO_CRM, only=_accepted),
            Step("crm", "order.create", when=_MERGES_TO_CRM, only=_accepted),
        ),
        ordering_key=_merge_key,
        journaled=_merge_payload,
        fan_out=FanOut(
            _merged_orders,
            (
                Step("journal", "order.locate", when=_MERGES_TO_CRM),
                Step("crm", "order.snapshot", when=_MERGES_TO_CRM),
                Step("crm", "order.status", when=_MERGES_TO_CRM),
            ),
        ),
    ),
    # Creatio's business process reports a saved order: read it, then bring the storefront's
    # order up to date (skipped when it shows what the bus itself last wrote or forwarded), and
    # an order cancelled in Creatio is cancelled in the ERP ([ownership] crm_cancel_to_erp),
    # and the ERP order of any other takes the Creatio order's rows ([ownership]
    # crm_lines_to_erp).
    # Keyed by the Creatio order, the only id the event carries: its changes land in order.
    # The ERP's cancellation and lines follow in this key too (the order's own ERP and CRM steps
    # made what they read, so they are done), not in the order's: an ERP status change of the
    # same order may pass them (the README's ordering keys say so).
    "creatio.order_changed": Route(
        steps=(
            Step("crm", "order.read"),
            Step("storefront", "order.update"),
            *_CANCEL_IN_ERP,
            *_LINES_IN_ERP,
        ),
        ordering_key="creatio-order:{order_id}",
        crm="creatio",
    ),
    # An outbound Bitrix24 event about a deal: read the deal, then bring the storefront's order
    # up to date (skipped when the deal shows what the bus itself last wrote or forwarded), and
    # a lost deal's order is cancelled in the ERP ([ownership] crm_cancel_to_erp), and the ERP
    # order of any other takes the deal's product rows ([ownership] crm_lines_to_erp).
    # Keyed by the deal, the only id the event carries: its changes land in order.
    # The ERP's cancellation and lines follow in this key too (the order's own ERP and CRM steps
    # made what they read, so they are done), not in the order's: an ERP status change of the
    # same order may pass them (the README's ordering keys say so).
    "bitrix24.deal_changed": Route(
        steps=(
            Step("crm", "deal.read"),
            Step("storefront", "order.update"),
            *_CANCEL_IN_ERP,
            *_LINES_IN_ERP,
        ),
        ordering_key="bitrix24-deal:{deal_id}",
        crm="bitrix24",
    ),
}
