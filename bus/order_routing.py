"""Order routing by customer segment (DESIGN.md §3.2), by the rules in ``settings.order_routes``.

The first rule whose conditions the customer's profile meets decides where the order goes:

- a licensed customer's order goes to the ERP (to the licence address), then to the CRM with the
  ERP's number, then the manager is mailed;
- an unlicensed customer with separate contracts gets one pick-up order per contract, each
  straight to the CRM with its own manager mail; the order the storefront sent becomes the parent
  of those orders, so the storefront follows one message and its children;
- a customer the directory does not know takes the last rule (it has no conditions).

Every step of the rule is journaled, the manager's mail too: an order of a customer without a
manager (the CRM named none, or the directory does not know the customer) carries the reason as
``no_manager``, and its mail step is done saying it mailed nobody, and why, rather than vanishing
from the route.

The profile is the customer directory's (:mod:`bus.journal.customers`), so routing asks no other
system while the order waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cachetools import TTLCache

from bus.adapters.base import DocumentStore
from bus.errors import InvalidParams
from bus.journal.accept import Branch
from bus.settings import OrderRoute, Settings
from schemas.steps import Contract, CustomerProfile, RoutedDelivery, RoutedLine, RoutedOrder

Steps = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class OrderPlan:
    """Where one order goes.

    Parameters:
        route: the name of the rule that decided.
        order: the order as its steps receive it (its delivery as the rule says).
        steps: ``(system, operation)`` of an order delivered as one; empty for a split.
        branches: the orders of a split, one per contract.
    """

    route: str
    order: RoutedOrder
    steps: Steps
    branches: tuple[Branch, ...] = ()

    @cached_property
    def payload(self) -> dict[str, Any]:
        """The order as journaled: the JSON of :attr:`order` (made once: it is read for the
        journal's row and for the order's ordering key)."""
        return self.order.model_dump(mode="json")

    def summary(self) -> dict[str, Any]:
        """What the caller is told: the route and, for a split, the orders it became."""
        answer: dict[str, Any] = {"route": self.route}
        if self.branches:
            answer["orders"] = [
                {
                    "order_id": branch.payload["order_id"],
                    "contract": branch.payload["contract"],
                    "lines": len(branch.payload["lines"]),
                }
                for branch in self.branches
            ]
        return answer


class OrderRouter:
    """Plans each order by the deployment's rules and the customer's profile in the directory.

    Profiles are read once per ``settings.directory_ttl`` seconds per customer and process (an
    order's accept must not wait on the journal for what rarely changes), and dropped as soon as
    a change of the customer's is announced (:mod:`bus.directory_changes`); a customer the
    directory does not know is asked again each time, so it is routed by its profile as soon as
    it is provisioned. The profile is read on every route: it also says whether the customer was
    deactivated (:mod:`bus.order_checks`).
    """

    def __init__(self, settings: Settings, directory: DocumentStore) -> None:
        self._settings = settings
        self._directory = directory
        self._profiles: TTLCache[str, CustomerProfile] = TTLCache(
            maxsize=50_000, ttl=settings.directory_ttl
        )

    async def profile(self, customer: str) -> CustomerProfile | None:
        """The customer's profile in the directory; ``None`` if it was never provisioned.

        Raises:
            pydantic.ValidationError: the directory keeps something that is not a profile.
        """
        profile = self._profiles.get(customer)
        if profile is None:
            kept = await self._directory.get(customer)
            if kept is not None:
                profile = self._profiles[customer] = CustomerProfile.model_validate(kept)
        return profile

    def forget(self, customer: str) -> None:
        """Drop ``customer``'s profile: its next order reads the directory."""
        self._profiles.pop(customer, None)

    def forget_all(self) -> None:
        """Drop every profile."""
        self._profiles.clear()

    def plan(self, order: dict[str, Any], profile: CustomerProfile | None) -> OrderPlan:
        """The plan for ``order`` of a customer with ``profile`` (see :func:`plan_order`)."""
        return plan_order(order, profile, self._settings)


def plan_order(
    order: dict[str, Any], profile: CustomerProfile | None, settings: Settings
) -> OrderPlan:
    """The plan for ``order`` (``order.submit``'s params as JSON) of a customer with ``profile``.

    Raises:
        InvalidParams: the order must be split by contract and a line has no product type, or
            one the customer has no contract for.
    """
    rule = next(rule for rule in settings.order_routes if _matches(rule, profile))
    manager = profile.manager if profile is not None else None
    steps = tuple(
        (settings.system(role), operation)
        for role, _, operation in (step.partition(":") for step in rule.steps)
    )
    sent = RoutedOrder.model_validate(order)
    routed: dict[str, Any] = {"delivery": _delivery(sent.delivery, rule, profile)}
    if manager is not None:
        routed["manager"] = manager
    elif any(system == settings.system("mail") for system, _ in steps):
        routed["no_manager"] = _no_manager(sent.customer, profile)
    whole = sent.model_copy(update=routed)
    if not rule.split_by_contract:
        return OrderPlan(rule.name, whole, steps)
    assert profile is not None  # a splitting rule has conditions, so the profile matched them
    branches = tuple(
        Branch(contract.number, part.model_dump(mode="json"), steps)
        for contract, part in _split(whole, profile.contracts)
    )
    return OrderPlan(rule.name, whole, (), branches)


def _no_manager(customer: str, profile: CustomerProfile | None) -> str:
    """Why the order's mail step has no manager to mail."""
    if profile is None:
        return f"customer {customer} is not in the bus's directory (not provisioned by the CRM)"
    why = profile.no_manager or "the CRM named none"
    return f"customer {customer} has no manager ({why})"


def _matches(rule: OrderRoute, profile: CustomerProfile | None) -> bool:
    if not rule.conditional:
        return True
    if profile is None:
        return False
    if rule.licensed is not None and rule.licensed != profile.licensed:
        return False
    return len(profile.contracts) >= rule.min_contracts


def _delivery(
    sent: RoutedDelivery, rule: OrderRoute, profile: CustomerProfile | None
) -> RoutedDelivery:
    """The delivery the rule decides: a pick-up, or to the licence's address, or as sent."""
    if rule.delivery == "as_ordered":
        return sent
    delivery = sent.model_dump(mode="json")
    if rule.delivery == "pickup":
        delivery["pickup"] = True
    licence = profile.licence if profile is not None else None
    licence_address = licence.address if licence is not None else None
    if rule.delivery == "licence_address" and licence_address:
        # Alcohol may only be delivered where the licence says: the storefront's choice yields.
        delivery.pop("address_code", None)
        delivery["address"] = licence_address
    return RoutedDelivery.model_validate(delivery)


def _split(order: RoutedOrder, contracts: list[Contract]) -> list[tuple[Contract, RoutedOrder]]:
    """One order per contract, each with the lines of the contract's product type."""
    by_type = {contract.product_type: contract for contract in contracts}
    parts: dict[str | None, list[RoutedLine]] = {}
    wrong = []
    for number, line in enumerate(order.lines):
        kind = line.product_type
        if kind in by_type:
            parts.setdefault(kind, []).append(line)
            continue
        reason = (
            f"customer {order.customer} buys under one contract per product type; say the"
            " line's product type"
            if kind is None
            else f"customer {order.customer} has no contract for {kind!r}"
            f" (its contracts cover {', '.join(sorted(k for k in by_type if k))})"
        )
        wrong.append(
            {"field": f"lines.{number}.product_type", "type": "contract", "message": reason}
        )
    if wrong:
        raise InvalidParams({"fields": wrong})
    return [
        (
            by_type[kind],
            order.model_copy(
                update={
                    "order_id": f"{order.order_id}/{by_type[kind].number}",
                    "parent_order_id": order.order_id,
                    "contract": by_type[kind],
                    "lines": lines,
                }
            ),
        )
        for kind, lines in parts.items()
    ]
