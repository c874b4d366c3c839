"""The storefront's data in memory: users (with imported order history), orders, documents,
and the ERP's decisions on customers' requests.

Ids are deterministic (``u-0001``, ``d-0001``, in creation order, the seed first) and
:meth:`Store.reset` brings back exactly the seed.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from simulators.storefront import seed

Json = dict[str, Any]
#: The fields of an order that ``order.update`` may change, as kept in each version.
ORDER_FIELDS = ("status", "lines", "erp_number", "crm_reference", "source", "changed_at")


def now_iso() -> str:
    """The current UTC time, ISO 8601."""
    return datetime.now(UTC).isoformat()


@dataclass
class User:
    """A storefront user of one ERP customer: its profile, the orders imported for it and the
    employees the ERP approved accounts for."""

    user_id: str
    customer: str
    profile: Json
    active: bool
    created_at: str
    updated_at: str
    #: How many times the user was (re-)activated: each activation gets a fresh password link.
    activations: int = 1
    history: dict[str, Json] = field(default_factory=dict)
    employees: list[Json] = field(default_factory=list)

    def set_password_url(self, site_url: str) -> str:
        """The link the customer follows to choose a password (new on every activation)."""
        token = hashlib.sha256(f"{self.user_id}:{self.activations}".encode()).hexdigest()[:24]
        return f"{site_url}/auth/set-password?user={self.user_id}&token={token}"

    def to_json(self, site_url: str) -> Json:
        """The user as the control API shows it."""
        return {
            "user_id": self.user_id,
            "customer": self.customer,
            "active": self.active,
            **self.profile,
            "set_password_url": self.set_password_url(site_url),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "order_history": list(self.history.values()),
            "employees": copy.deepcopy(self.employees),
        }


@dataclass
class Order:
    """An order with every version it went through (the last one is current).

    ``merged_from`` names the orders an accepted ``order.merge`` made this one of;
    ``merge_rejected`` is the ERP's reason for refusing to merge it ("" when it gave none).
    """

    order_id: str
    customer: str | None
    versions: list[Json] = field(default_factory=list)
    merged_from: list[str] | None = None
    merge_rejected: str | None = None
    #: the bus's word that the order waits for an operator (``message.status``), if it did
    failure: Json | None = None
    #: the ERP's number the bus told with a delivered step (``message.status``), if it did
    erp_number_told: str | None = None

    @property
    def version(self) -> int:
        """The current version number (1 for a new order)."""
        return len(self.versions)

    def change(self, changes: Json, message_id: str | None) -> int:
        """Add a version: the current fields overlaid by ``changes``. Return its number."""
        current = {name: None for name in ORDER_FIELDS}
        if self.versions:
            current.update({name: self.versions[-1][name] for name in ORDER_FIELDS})
        current.update(copy.deepcopy(changes))
        self.versions.append(
            {
                "version": self.version + 1,
                **current,
                "message_id": message_id,
                "received_at": now_iso(),
            }
        )
        return self.version

    def to_json(self) -> Json:
        """The current state and the version history, as the control API shows them."""
        last = self.versions[-1]
        return {
            "order_id": self.order_id,
            "customer": self.customer,
            "version": self.version,
            **{name: last[name] for name in ORDER_FIELDS},
            "merged_from": copy.deepcopy(self.merged_from),
            "merge_rejected": self.merge_rejected,
            "failure": copy.deepcopy(self.failure),
            "erp_number_told": self.erp_number_told,
            "history": copy.deepcopy(self.versions),
        }


@dataclass(frozen=True)
class Document:
    """A document delivered to a customer's account."""

    document_id: str
    customer: str
    kind: str
    request_id: str
    number: str
    filename: str
    content_base64: str
    message_id: str
    received_at: str

    def to_json(self) -> Json:
        """The document as the control API shows it, with its decoded size and digest."""
        content = base64.b64decode(self.content_base64)
        return {
            "document_id": self.document_id,
            "customer": self.customer,
            "kind": self.kind,
            "request_id": self.request_id,
            "number": self.number,
            "filename": self.filename,
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
            "content_base64": self.content_base64,
            "message_id": self.message_id,
            "received_at": self.received_at,
        }


@dataclass(frozen=True)
class CustomerRequest:
    """The ERP's decision on a customer's request (a delivery address, an employee account)."""

    request_id: str
    customer: str
    kind: str
    decision: str
    reason: str | None
    details: Json
    erp_request_no: str | None
    message_id: str
    received_at: str

    def to_json(self) -> Json:
        """The request as the control API shows it."""
        return asdict(self)


class Store:
    """All storefront data, seeded on creation and on :meth:`reset`."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.orders: dict[str, Order] = {}
        self.documents: list[Document] = []
        #: Decided requests by (customer, request id); a new decision replaces the old in place.
        self.requests: dict[tuple[str, str], CustomerRequest] = {}
        self.reset()

    def reset(self) -> None:
        """Forget everything and load the seed again."""
        self.users = {}
        self.orders = {}
        self.documents = []
        self.requests = {}
        for profile, active in seed.USERS:
            user = self.add_user(copy.deepcopy(profile))
            user.active = active
        for order in seed.ORDERS:
            fields = {name: order[name] for name in ORDER_FIELDS}
            self.change_order(order["order_id"], order["customer"], fields, None)

    def add_user(self, profile: Json) -> User:
        """Store a new, active user for ``profile["customer"]`` (the caller checked it is new)."""
        stamp = now_iso()
        user = User(
            user_id=f"u-{len(self.users) + 1:04d}",
            customer=profile["customer"],
            profile=profile,
            active=True,
            created_at=stamp,
            updated_at=stamp,
        )
        self.users[user.customer] = user
        return user

    def reactivate_user(self, user: User, profile: Json) -> None:
        """Activate a deactivated user again with a new profile."""
        user.profile = profile
        user.active = True
        user.activations += 1
        user.updated_at = now_iso()

    def update_user(self, user: User, changes: Json) -> list[str]:
        """Overlay the user's profile with ``changes``; the names of the fields that changed."""
        changed = sorted(name for name, value in changes.items() if user.profile.get(name) != value)
        user.profile.update(copy.deepcopy(changes))
        if changed:
            user.updated_at = now_iso()
        return changed

    def deactivate_user(self, user: User) -> None:
        """Stop the user from signing in (its data stays)."""
        user.active = False
        user.updated_at = now_iso()

    def import_history(self, user: User, orders: list[Json]) -> None:
        """Add past orders to the user's history, replacing those with the same ``order_id``."""
        for order in orders:
            user.history[order["order_id"]] = order

    def change_order(
        self, order_id: str, customer: str | None, changes: Json, message_id: str | None
    ) -> Order:
        """Apply ``changes`` as a new version of the order, creating it when unknown."""
        order = self.orders.get(order_id)
        if order is None:
            order = self.orders[order_id] = Order(order_id, customer)
        elif order.customer is None:
            order.customer = customer
        order.change(changes, message_id)
        return order

    def add_document(self, fields: Json, message_id: str) -> Document:
        """Store a delivered document, giving it the next id."""
        document = Document(
            document_id=f"d-{len(self.documents) + 1:04d}",
            message_id=message_id,
            received_at=now_iso(),
            **fields,
        )
        self.documents.append(document)
        return document

    def merge_orders(
        self, customer: str, order_ids: list[str], new_order: Json, message_id: str
    ) -> Order:
        """Replace the customer's orders ``order_ids`` by ``new_order`` (version 1, with
        ``merged_from``); the caller checked the orders are the customer's."""
        for order_id in order_ids:
            del self.orders[order_id]
        order = Order(new_order["order_id"], customer, merged_from=list(order_ids))
        self.orders[order.order_id] = order
        fields = {name: new_order[name] for name in ("status", "lines", "erp_number")}
        order.change({**fields, "source": "erp"}, message_id)
        return order

    def reject_merge(self, orders: list[Order], reason: str | None) -> None:
        """Note on each order that the ERP refused to merge it; nothing else changes."""
        for order in orders:
            order.merge_rejected = reason or ""

    def decide_request(self, fields: Json, message_id: str) -> CustomerRequest:
        """Store a decision, replacing an earlier one on the same customer's request."""
        request = CustomerRequest(message_id=message_id, received_at=now_iso(), **fields)
        self.requests[(request.customer, request.request_id)] = request
        return request

    def add_delivery_address(self, user: User, address: Json) -> None:
        """Add a delivery address to the user's profile unless it has that address already."""
        addresses = user.profile.setdefault("addresses", [])
        if all(known["address"] != address["address"] for known in addresses):
            addresses.append(address)
            user.updated_at = now_iso()

    def add_employee(self, user: User, employee: Json) -> None:
        """Add an employee to the user's list, replacing one with the same email."""
        user.employees = [known for known in user.employees if known["email"] != employee["email"]]
        user.employees.append(employee)
        user.updated_at = now_iso()
