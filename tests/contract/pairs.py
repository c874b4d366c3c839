"""Every (adapter, simulator) pair of the contract suite: how to build it and how to check it.

A pair knows how to configure its adapter against a simulator at a base URL, which deliveries
succeed and which the system refuses for good, and how to count the effect of a delivery in the
simulator through the system's own API (independently of the adapter's lookup).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web

from bus.adapters import Adapter, Delivery
from bus.adapters.bitrix24 import Bitrix24Adapter
from bus.adapters.creatio import CreatioAdapter, entity_id
from bus.adapters.http import cookieless_jar
from bus.adapters.mail import MailAdapter
from bus.adapters.navision import NavisionAdapter
from bus.adapters.onec import OnecAdapter
from bus.adapters.storefront import StorefrontAdapter
from bus.adapters.transport import http_client
from bus.settings import (
    Bitrix24OAuth,
    Bitrix24Settings,
    BreakerSettings,
    CreatioSettings,
    MailSettings,
    NavisionSettings,
    OnecSettings,
    RetryPolicy,
    StorefrontSettings,
    TargetSettings,
)
from schemas.steps import OrderReceipt, ReceiptLine
from simulators import SIMULATORS
from simulators.bitrix24 import B24_KEY
from simulators.mail import MAIL_KEY
from tests.support.documents import MemoryDocuments

#: One attempt's budget in the suite: short, so the ``slow`` fault turns into a timeout quickly.
ATTEMPT_TIMEOUT = 1.5
RETRY = RetryPolicy(attempt_timeout=ATTEMPT_TIMEOUT, backoff_min=0.01, backoff_max=0.05)
BREAKER = BreakerSettings(failure_threshold=2, cooldown=0.3, max_cooldown=1.0)

#: A pair's settings, and how to make its adapter from the shared HTTP client.
Built = tuple[TargetSettings, Callable[[httpx.AsyncClient], Adapter]]
Count = Callable[[httpx.AsyncClient, str, Delivery], Awaitable[int]]


def new_order(**overrides: Any) -> dict[str, Any]:
    """An ``order.submit`` payload for a customer every simulator knows, unique per call."""
    order = {
        "order_id": f"SO-{uuid.uuid4().hex[:10]}",
        "customer": "10000",
        "lines": [
            {"item": "1000", "quantity": 30.0, "unit": None},
            {"item": "1002", "quantity": 2.0, "unit": None},
        ],
        "delivery": {"date": None, "address_code": None},
        "comment": "contract suite",
    }
    return {**order, **overrides}


def new_id() -> str:
    """A message id of the bus's shape (26 characters)."""
    return uuid.uuid4().hex[:26].upper()


#: What the ERP's receipt says of the items of :func:`new_order`: the unit, the unit price.
ERP_PRICES = {"1000": ("BOTTLE", 13.5), "1002": ("BOX", 67.2), "1100": ("BOX", 10.4)}


def erp_result(order: dict[str, Any], number: str | None = "101001") -> dict[str, Any]:
    """The stored result of the ERP step before a CRM's ``order.create``: its receipt of
    ``order`` at :data:`ERP_PRICES` (a quote when ``number`` is ``None``)."""
    lines = [
        ReceiptLine(
            item=line["item"],
            quantity=line["quantity"],
            unit=ERP_PRICES[line["item"]][0],
            price=ERP_PRICES[line["item"]][1],
            amount=round(line["quantity"] * ERP_PRICES[line["item"]][1], 2),
        )
        for line in order["lines"]
    ]
    total = round(sum(line.amount for line in lines), 2)
    receipt = OrderReceipt(
        system="navision", number=number, currency="LCY", lines=lines, total=total
    )
    stored = {"reference": number or order["customer"], **receipt.as_fact()}
    if number is not None:
        stored["erp_order_no"] = number
    return stored


def crm_order(**overrides: Any) -> Delivery:
    """A CRM's ``order.create`` after the ERP's step (see :func:`erp_result`)."""
    order = new_order(**overrides)
    return Delivery(new_id(), "order.create", order, previous=erp_result(order))


#: A failure a simulator is told to produce: the control path and the fault's description.
FaultSpec = tuple[str, dict[str, Any]]
#: The HTTP simulators' failures, through the shared fault layer (simulators/faults.py).
HTTP_FAULTS: dict[str, FaultSpec] = {
    "server_error": ("/_control/faults", {"mode": "status", "status": 500, "times": 1}),
    "slow": ("/_control/faults", {"mode": "slow", "delay": ATTEMPT_TIMEOUT + 1.0, "times": 1}),
    "down": ("/_control/faults", {"mode": "down"}),
    "answer_lost": ("/_control/faults", {"mode": "drop_after_commit", "times": 1}),
    "html_error_page": (
        "/_control/faults",
        {
            "mode": "status",
            "status": 502,
            "body": "<html><body><h1>502 Bad Gateway</h1></body></html>",
            "headers": {"Content-Type": "text/html"},
            "times": 1,
        },
    ),
    "truncated_json": (
        "/_control/faults",
        {
            "mode": "status",
            "status": 200,
            "body": '{"value": [{"No": "1010',
            "headers": {"Content-Type": "application/json"},
            "times": 1,
        },
    ),
    "rate_limit": ("/_control/faults", {"mode": "rate_limit", "retry_after": 1, "times": 1}),
}


@dataclass(frozen=True)
class Pair:
    """One adapter against its simulator."""

    name: str
    simulator: str
    build: Callable[[str, web.Application], Built]
    create: Callable[[], Delivery]
    refused: Callable[[], Delivery]
    count: Count
    simulator_options: dict[str, Any] = field(default_factory=dict)
    faults: dict[str, FaultSpec] = field(default_factory=lambda: dict(HTTP_FAULTS))
    #: A fault that makes the system refuse ``refused`` for good, when the payload cannot.
    refusing_fault: FaultSpec | None = None
    #: A repeated call is deduplicated by the system: a lost answer is transient, not unknown.
    idempotent_calls: bool = False
    #: The system can be asked whether an effect landed (SMTP cannot).
    findable: bool = True
    #: A path fragment of the request that writes, to aim a fault past reads and logins.
    write_path: str | None = None
    #: The control call that expires the system's sessions, if it keeps any.
    expire_session: str | None = None
    #: The path of its login, to count logins in the simulator's request record.
    login_path: str | None = None

    def __str__(self) -> str:
        return self.name


def _order_delivery(operation: str) -> Callable[[], Delivery]:
    return lambda: Delivery(new_id(), operation, new_order())


# --- Navision -----------------------------------------------------------------------------------

_NAV_ROOT = "DynamicsNAV110/ODataV4"


def _navision(deep_insert: bool) -> Callable[[str, web.Application], Built]:
    def build(base: str, app: web.Application) -> Built:
        settings = NavisionSettings(
            url=f"{base}/{_NAV_ROOT}", deep_insert=deep_insert, retry=RETRY, breaker=BREAKER
        )
        return settings, lambda client: NavisionAdapter(settings, client)

    return build


async def _count_nav(client: httpx.AsyncClient, base: str, delivery: Delivery) -> int:
    response = await client.get(
        f"{base}/{_NAV_ROOT}/Company('CRONUS')/SalesOrder",
        params={
            "$filter": f"External_Document_No eq '{delivery.message_id}'",
            "$expand": "SalesOrderSalesLines",
        },
        auth=("bus", "bus-secret"),
    )
    orders = response.raise_for_status().json()["value"]
    # An order counts once it has all its lines: half an order is not the effect.
    return sum(len(o["SalesOrderSalesLines"]) == len(delivery.payload["lines"]) for o in orders)


# --- 1C:Enterprise ------------------------------------------------------------------------------


def _onec(base: str, app: web.Application) -> Built:
    settings = OnecSettings(url=f"{base}/b2b", retry=RETRY, breaker=BREAKER)
    return settings, lambda client: OnecAdapter(settings, client)


async def _count_onec(client: httpx.AsyncClient, base: str, delivery: Delivery) -> int:
    response = await client.get(
        f"{base}/b2b/odata/standard.odata/Document_ЗаказКлиента",
        params={
            "$filter": f"НомерПоДаннымКлиента eq '{delivery.message_id}'",
            "$format": "json",
        },
        auth=("bus", "bus-secret"),
    )
    orders = response.raise_for_status().json()["value"]
    lines = len(delivery.payload["lines"])
    return sum(bool(o["Posted"]) and len(o["Товары"]) == lines for o in orders)


# --- Creatio ------------------------------------------------------------------------------------


def _creatio(base: str, app: web.Application) -> Built:
    settings = CreatioSettings(url=base, retry=RETRY, breaker=BREAKER)
    return settings, lambda client: CreatioAdapter(settings, client)


async def _count_creatio(client: httpx.AsyncClient, base: str, delivery: Delivery) -> int:
    login = await client.post(
        f"{base}/ServiceModel/AuthService.svc/Login",
        json={"UserName": "Supervisor", "UserPassword": "Supervisor"},
    )
    csrf = login.cookies["BPMCSRF"]
    cookie = "; ".join(f"{k}={v}" for k, v in login.cookies.items())
    headers = {"BPMCSRF": csrf, "Cookie": cookie, "Accept": "application/json"}
    # By the Id derived from the message: another message's order for the same storefront
    # order (the same Number) is not this delivery's effect.
    order_id = entity_id(delivery.message_id)
    orders = await client.get(
        f"{base}/0/odata/Order",
        params={"$filter": f"Id eq {order_id}", "$select": "Id,Number"},
        headers=headers,
    )
    number = delivery.payload["order_id"]
    found = [o for o in orders.raise_for_status().json()["value"] if o["Number"] == number]
    rows = await client.get(
        f"{base}/0/odata/OrderProduct",
        params={"$filter": f"OrderId eq {order_id}"},
        headers=headers,
    )
    complete = len(rows.raise_for_status().json()["value"]) == len(delivery.payload["lines"])
    return len(found) if complete else 0


# --- Bitrix24 -----------------------------------------------------------------------------------

_WEBHOOK = "rest/1/bus-webhook-code"


def _bitrix24(base: str, app: web.Application) -> Built:
    settings = Bitrix24Settings(
        webhook_url=f"{base}/{_WEBHOOK}",  # type: ignore[arg-type]  # pydantic coerces str
        requests_per_second=50.0,
        burst=5,
        retry=RETRY,
        breaker=BREAKER,
    )
    return settings, lambda client: Bitrix24Adapter(settings, client)


def installed_oauth(base: str, app: web.Application) -> Bitrix24OAuth:
    """The simulated portal's local application, installed now (its first refresh token)."""
    _, refresh_token = app[B24_KEY].oauth.issue()
    return Bitrix24OAuth(
        portal_url=base,
        server=base,
        client_id="local.bus-app",
        client_secret="bus-app-secret",  # type: ignore[arg-type]  # pydantic coerces str
        refresh_token=refresh_token,  # type: ignore[arg-type]
    )


def _bitrix24_oauth(base: str, app: web.Application) -> Built:
    settings = Bitrix24Settings(
        oauth=installed_oauth(base, app),
        requests_per_second=50.0,
        burst=5,
        retry=RETRY,
        breaker=BREAKER,
    )
    secrets = MemoryDocuments()
    return settings, lambda client: Bitrix24Adapter(settings, client, secrets)


def deal_origin(delivery: Delivery) -> str:
    """The ``ORIGIN_ID`` of the deal ``delivery`` creates: the storefront's order id and the
    message id (the deal's ``ORIGINATOR_ID`` is ``bus``)."""
    return f"{delivery.payload['order_id']}/{delivery.message_id}"


async def _count_bitrix24(client: httpx.AsyncClient, base: str, delivery: Delivery) -> int:
    listed = await client.post(
        f"{base}/{_WEBHOOK}/crm.deal.list.json",
        json={
            "filter": {"=ORIGINATOR_ID": "bus", "=ORIGIN_ID": deal_origin(delivery)},
            "select": ["ID"],
        },
    )
    deals = listed.raise_for_status().json()["result"]
    complete = 0
    for deal in deals:
        rows = await client.post(
            f"{base}/{_WEBHOOK}/crm.deal.productrows.get.json", json={"id": deal["ID"]}
        )
        complete += len(rows.json()["result"]) == len(delivery.payload["lines"])
    return complete


# --- Storefront ---------------------------------------------------------------------------------


def _storefront(base: str, app: web.Application) -> Built:
    settings = StorefrontSettings(url=f"{base}/rpc", retry=RETRY, breaker=BREAKER)
    return settings, lambda client: StorefrontAdapter(settings, client)


def _order_update() -> Delivery:
    order = new_order()
    payload = {"order_id": order["order_id"], "status": "accepted", "lines": order["lines"]}
    payload["lines"] = [{"item": li["item"], "quantity": li["quantity"]} for li in order["lines"]]
    return Delivery(new_id(), "order.update", payload)


async def _count_storefront(client: httpx.AsyncClient, base: str, delivery: Delivery) -> int:
    orders = (await client.get(f"{base}/_control/storefront/orders")).raise_for_status().json()
    listed = orders["orders"] if isinstance(orders, dict) else orders
    versions = [
        version
        for order in listed
        if order["order_id"] == delivery.payload["order_id"]
        for version in order["history"]
        if version.get("message_id") == delivery.message_id
    ]
    return len(versions)


async def _count_storefront_calls(client: httpx.AsyncClient, base: str, delivery: Delivery) -> int:
    """Calls of this message that took effect (not answered as repeats, not refused)."""
    calls = await client.get(
        f"{base}/_control/storefront/calls",
        params={"method": delivery.operation, "message_id": delivery.message_id},
    )
    listed = calls.raise_for_status().json()["calls"]
    return sum(not c["repeat"] and c.get("error") is None for c in listed)


def _user_create() -> Delivery:
    customer = f"C{uuid.uuid4().hex[:8]}"
    payload = {
        "customer": customer,
        "email": f"{customer.lower()}@customer.example",
        "name": "Gamma Supply",
        "settings": {"greeting": "Добрый день", "menu": ["orders", "prices"]},
    }
    return Delivery(new_id(), "user.create", payload)


def _document_deliver() -> Delivery:
    payload = {
        "customer": "20000",
        "kind": "invoice",
        "request_id": uuid.uuid4().hex,
        "number": "СЧ-000001",
        "filename": "invoice.pdf",
        "content_base64": "JVBERi0xLjQKJSVFT0YK",
    }
    return Delivery(new_id(), "document.deliver", payload)


# --- Mail ---------------------------------------------------------------------------------------


def _mail(base: str, app: web.Application) -> Built:
    service = app[MAIL_KEY]
    settings = MailSettings(host="127.0.0.1", port=service.smtp_port, retry=RETRY, breaker=BREAKER)
    return settings, lambda client: MailAdapter(settings)


def _mail_delivery() -> Delivery:
    subject = f"New order {uuid.uuid4().hex[:8]}"
    payload = {"to": ["manager@b2b.example"], "subject": subject, "text": "An order waits."}
    return Delivery(new_id(), "mail.send", payload)


async def _count_mail(client: httpx.AsyncClient, base: str, delivery: Delivery) -> int:
    listed = await client.get(
        f"{base}/_control/mail/messages", params={"subject": delivery.payload["subject"]}
    )
    return len(listed.raise_for_status().json()["messages"])


_SMTP = "/_control/mail/smtp-faults"
MAIL_FAULTS: dict[str, FaultSpec] = {
    "server_error": (_SMTP, {"mode": "reject", "code": 451, "stage": "data", "times": 1}),
    "slow": (_SMTP, {"mode": "slow", "delay": ATTEMPT_TIMEOUT + 1.0, "stage": "data", "times": 1}),
    "down": (_SMTP, {"mode": "reject", "code": 421, "stage": "rcpt"}),
}

#: Bitrix24's leaky bucket overflowing: 503 QUERY_LIMIT_EXCEEDED, twice in a row.
_QUERY_LIMIT: FaultSpec = (
    "/_control/faults",
    {
        "mode": "status",
        "status": 503,
        "body": {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"},
        "times": 2,
        "match": "/rest/",
    },
)

PAIRS: tuple[Pair, ...] = (
    Pair(
        name="navision",
        write_path="/SalesOrder",
        simulator="navision",
        build=_navision(deep_insert=True),
        create=_order_delivery("sales_order.create"),
        refused=lambda: Delivery(new_id(), "sales_order.create", new_order(customer="99999")),
        count=_count_nav,
    ),
    Pair(
        name="navision-line-by-line",
        write_path="/SalesOrder",
        simulator="navision",
        build=_navision(deep_insert=False),
        create=_order_delivery("sales_order.create"),
        refused=lambda: Delivery(new_id(), "sales_order.create", new_order(customer="99999")),
        count=_count_nav,
    ),
    Pair(
        name="onec",
        write_path="/Document_",
        simulator="onec",
        build=_onec,
        create=_order_delivery("sales_order.create"),
        refused=lambda: Delivery(new_id(), "sales_order.create", new_order(customer="40000")),
        count=_count_onec,
    ),
    Pair(
        name="creatio",
        write_path="$batch",
        simulator="creatio",
        build=_creatio,
        create=crm_order,
        refused=lambda: Delivery(new_id(), "order.create", new_order(customer="99999")),
        count=_count_creatio,
        expire_session="/_control/creatio/expire_sessions",
        login_path="/ServiceModel/AuthService.svc/Login",
    ),
    Pair(
        name="bitrix24",
        write_path="/batch",
        simulator="bitrix24",
        build=_bitrix24,
        create=crm_order,
        refused=lambda: Delivery(new_id(), "deal.read", {"deal_id": 999999}),
        count=_count_bitrix24,
        faults={**HTTP_FAULTS, "query_limit": _QUERY_LIMIT},
    ),
    Pair(
        name="bitrix24-oauth",
        write_path="/batch",
        simulator="bitrix24",
        build=_bitrix24_oauth,
        create=crm_order,
        refused=lambda: Delivery(new_id(), "deal.read", {"deal_id": 999999}),
        count=_count_bitrix24,
        faults={**HTTP_FAULTS, "query_limit": _QUERY_LIMIT},
        expire_session="/_control/bitrix24/oauth/expire",
        login_path="/oauth/token/",
    ),
    Pair(
        name="storefront",
        write_path="/rpc",
        simulator="storefront",
        build=_storefront,
        create=_order_update,
        # An unknown customer's merge (user.deactivate of one is "nothing to deactivate").
        refused=lambda: Delivery(
            new_id(),
            "order.merge",
            {"customer": "99999", "orders": ["A-1", "A-2"], "outcome": "rejected"},
        ),
        count=_count_storefront,
        idempotent_calls=True,
    ),
    Pair(
        name="storefront-user.create",
        write_path="/rpc",
        simulator="storefront",
        build=_storefront,
        create=_user_create,
        refused=lambda: Delivery(new_id(), "user.create", {"customer": "20000"}),
        count=_count_storefront_calls,
        idempotent_calls=True,
    ),
    Pair(
        name="storefront-document.deliver",
        write_path="/rpc",
        simulator="storefront",
        build=_storefront,
        create=_document_deliver,
        refused=lambda: Delivery(new_id(), "document.deliver", {"customer": "99999"}),
        count=_count_storefront_calls,
        idempotent_calls=True,
    ),
    Pair(
        name="mail",
        simulator="mail",
        build=_mail,
        create=_mail_delivery,
        refused=_mail_delivery,
        count=_count_mail,
        simulator_options={"smtp_port": 0},
        faults=MAIL_FAULTS,
        refusing_fault=(_SMTP, {"mode": "reject", "code": 550, "stage": "rcpt", "times": 1}),
        findable=False,
    ),
)


@dataclass
class Running:
    """A pair's simulator serving, the adapter against it, and a client that looks inside."""

    base: str
    settings: Any
    adapter: Adapter
    control: httpx.AsyncClient


@asynccontextmanager
async def running(pair: Pair, aiohttp_server: Any) -> AsyncIterator[Running]:
    """Serve ``pair``'s simulator (``aiohttp_server``: pytest-aiohttp's fixture) and build its
    adapter on a shared client as the bus makes it (its transport and cookie jar); close both
    afterwards."""
    app = SIMULATORS[pair.simulator](**pair.simulator_options)
    server = await aiohttp_server(app)
    base = str(server.make_url("")).rstrip("/")
    settings, make_adapter = pair.build(base, app)
    async with (
        http_client(cookies=cookieless_jar()) as shared,
        httpx.AsyncClient(timeout=10) as control,
    ):
        adapter = make_adapter(shared)
        yield Running(base, settings, adapter, control)
        await adapter.aclose()
