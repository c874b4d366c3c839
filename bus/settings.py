"""Typed settings of the bus, read from the environment (``BUS_*``) and an optional TOML file.

Nested values use ``__`` in environment names, e.g. ``BUS_NAVISION__URL``. ``BUS_CONFIG`` names a
TOML file read before the environment (environment wins). Everything is validated at start, so a
typo fails fast instead of at the first delivery.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import functools
import os
import tomllib
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.fernet import Fernet
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bus.configuration import ConfigurationError, unknown_variables

#: Keys that ship with the embedded default so the quick start works; never use them in production.
DEV_KEYS = {
    "storefront": "dev-storefront-key",
    "crm": "dev-crm-key",
    "erp": "dev-erp-key",
    "ops": "dev-ops-key",
}
#: The key that seals the journal's secrets in the embedded default; never use it in production.
DEV_JOURNAL_KEY = "YnVzLWRldmVsb3BtZW50LWpvdXJuYWwta2V5LTAwMDE="


_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


def _http_url(url: str) -> str:
    """``url`` as given, if it is an http(s) URL with a host (kept a ``str``: adapters join paths
    to it, which pydantic's normalised URL would change)."""
    try:
        _HTTP_URL.validate_python(url)
    except ValidationError:
        # The value is not repeated: a URL may carry credentials.
        raise ValueError("is not an http:// or https:// URL with a host") from None
    return url


#: An http(s) URL, checked when the settings are read, kept as the text it was given as.
HttpUrlStr = Annotated[str, AfterValidator(_http_url)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClientSettings(_Model):
    """One caller of the JSON-RPC edge: its bearer key and the methods it may call (globs)."""

    key: SecretStr
    methods: tuple[str, ...]

    def may_call(self, method: str) -> bool:
        """Tell whether this client's method patterns admit ``method``."""
        return _admits(self.methods, method)


@functools.lru_cache(maxsize=4096)
def _admits(patterns: tuple[str, ...], method: str) -> bool:
    # Cached: a permission check runs on every call, and the patterns never change.
    return any(fnmatch.fnmatchcase(method, pattern) for pattern in patterns)


def _default_clients() -> dict[str, ClientSettings]:
    """Each system's client, allowed the methods by which it speaks, and nothing else.

    Methods are named one by one, never by a pattern: a method added later is granted to nobody
    until it is named here. ``ops`` reads (every message, prices, balances, the document of its
    methods) and speaks for no system: it submits no order, decides no request, creates no
    account; operators act through the ``bus`` CLI.
    """
    methods = {
        "storefront": (
            "order.submit",
            "prices.get",
            "balance.get",
            "cart.import_excel",
            "invoice.request",
            "reconciliation.request",
            "address.request",
            "employee.request",
            "message.get",
            "rpc.discover",
        ),
        "crm": (
            "account.create",
            "account.deactivate",
            "creatio.order_changed",
            "message.get",
            "rpc.discover",
        ),
        "erp": (
            "order.status_changed",
            "order.merge",
            "request.decided",
            "message.get",
            "rpc.discover",
        ),
        "ops": ("message.get", "prices.get", "balance.get", "rpc.discover"),
    }
    return {
        name: ClientSettings(key=SecretStr(DEV_KEYS[name]), methods=allowed)
        for name, allowed in methods.items()
    }


class RetryPolicy(_Model):
    """How a target is retried: attempts, exponential backoff bounds with jitter, and a deadline."""

    max_attempts: int = Field(default=10, ge=1)
    backoff_min: float = Field(default=1.0, gt=0, description="seconds before the 2nd attempt")
    backoff_max: float = Field(default=600.0, gt=0, description="cap of one backoff, seconds")
    deadline: float = Field(default=86_400.0, gt=0, description="give up this long after accept")
    attempt_timeout: float = Field(default=30.0, gt=0, description="one attempt's time budget")


class BreakerSettings(_Model):
    """When a target counts as down, and how it is probed while it is.

    After ``failure_threshold`` consecutive failed attempts (unreachable, 5xx, timeouts) the
    breaker opens: messages for the target are *held* without burning attempts. After
    ``cooldown`` seconds one held message is let through as a probe; its success closes the
    breaker and releases the rest, its failure doubles the cooldown up to ``max_cooldown``.
    """

    failure_threshold: int = Field(default=5, ge=1)
    cooldown: float = Field(default=15.0, gt=0)
    max_cooldown: float = Field(default=300.0, gt=0)


class TargetSettings(_Model):
    """What every system the bus delivers to has: a retry policy and a circuit breaker."""

    retry: RetryPolicy = RetryPolicy()
    breaker: BreakerSettings = BreakerSettings()


class NavisionSettings(TargetSettings):
    """Where and how to reach Microsoft Dynamics NAV / Business Central over OData v4."""

    url: HttpUrlStr = "http://127.0.0.1:7048/DynamicsNAV110/ODataV4"
    company: str = "CRONUS"
    pricing_codeunit: str = Field(
        default="B2BPricing",
        description="the SOAP codeunit with GetCustomerPrices ({instance}/WS/{company}/Codeunit/)",
    )
    documents_codeunit: str = Field(
        default="B2BDocuments",
        description="the SOAP codeunit with IssueInvoice and ReconciliationAct",
    )
    username: str = "bus"
    password: SecretStr = SecretStr("bus-secret")
    deep_insert: bool = Field(
        default=True,
        description="post lines inside the order (BC, NAV 2017+ API pages); false posts the"
        " header, then each line to SalesOrderSalesLines (classic NAV page services)",
    )


def _zone(name: str) -> str:
    """``name`` if it is an IANA time zone this machine knows (``Europe/Moscow``)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a known IANA time zone (e.g. 'Europe/Moscow')") from None
    return name


#: An IANA time zone name, checked when the settings are read.
TimeZoneName = Annotated[str, AfterValidator(_zone)]


class OnecSettings(TargetSettings):
    """Where and how to reach a 1C:Enterprise publication (standard OData v3, Basic auth)."""

    url: HttpUrlStr = Field(
        default="http://127.0.0.1:7051/b2b",
        description="the publication: OData at {url}/odata/standard.odata, HTTP services at"
        " {url}/hs/b2b/v1",
    )
    username: str = "bus"
    password: SecretStr = SecretStr("bus-secret")
    post_orders: bool = Field(default=True, description="post (conduct) created orders")
    timezone: TimeZoneName = Field(
        default="Europe/Moscow",
        description="the infobase's zone: 1C's dates are naive local times of it",
    )


class CreatioSettings(TargetSettings):
    """Where and how to reach Creatio (BPM Online): cookie login with BPMCSRF, OData 4."""

    url: HttpUrlStr = "http://127.0.0.1:7049"
    odata_root: str = Field(default="/0/odata", description="/0/odata (.NET Framework) or /odata")
    username: str = "Supervisor"
    password: SecretStr = SecretStr("Supervisor")
    order_statuses: dict[str, str] = Field(
        default_factory=lambda: {
            "created_in_reserve": "In progress",
            "provided": "In progress",
            "shipped": "Completed",
            "cancelled": "Canceled",
            "merged": "Canceled",
        },
        description="the ERP's status word -> the OrderStatus (by Name; numbering, case and"
        " spaces ignored) an order takes when the ERP reports it; a word not here leaves it",
    )


class Bitrix24OAuth(_Model):
    """A Bitrix24 local application's credentials, for OAuth instead of an incoming webhook.

    ``refresh_token`` is the one the installation gave; refresh tokens are single-use, so the bus
    keeps each newer one in its journal and uses this one again only if it changes (a new
    installation).
    """

    portal_url: HttpUrlStr = Field(
        description="https://<portal>.bitrix24.ru; REST at {portal_url}/rest"
    )
    client_id: str
    client_secret: SecretStr
    refresh_token: SecretStr
    server: HttpUrlStr = Field(default="https://oauth.bitrix.info", description="the OAuth server")


class Bitrix24Settings(TargetSettings):
    """Where and how to reach Bitrix24: an incoming webhook (or OAuth), paced under its limit."""

    webhook_url: SecretStr = SecretStr("http://127.0.0.1:7050/rest/1/bus-webhook-code")
    oauth: Bitrix24OAuth | None = Field(default=None, description="use OAuth, not the webhook")
    requests_per_second: float = Field(
        default=2.0,
        gt=0,
        description="the portal's pace, kept by every worker process together through Redis"
        " (the portal drains 2 requests/s)",
    )
    burst: int = Field(
        default=10,
        ge=1,
        le=44,
        description="requests allowed back to back (the portal's bucket: 50, less the 6 that"
        " steps a person waits on may add)",
    )
    application_token: SecretStr = Field(
        default=SecretStr("dev-bitrix24-application-token"),
        description="auth[application_token] that outbound events to /hooks/bitrix24 carry",
    )
    stages: dict[str, str] = Field(
        default_factory=lambda: {
            "created_in_reserve": "PREPARATION",
            "provided": "EXECUTING",
            "shipped": "FINAL_INVOICE",
            "delivered": "WON",
            "cancelled": "LOSE",
            "merged": "LOSE",
        },
        description="the ERP's status word -> the STAGE_ID a deal takes when the ERP reports it;"
        " a word not here leaves the deal's stage as it is",
    )

    @field_validator("webhook_url")
    @classmethod
    def _webhook_is_url(cls, url: SecretStr) -> SecretStr:
        _http_url(url.get_secret_value())
        return url


class StorefrontSettings(TargetSettings):
    """Where the storefront's JSON-RPC endpoint is, and the bearer token the bus presents."""

    url: HttpUrlStr = "http://127.0.0.1:7052/rpc"
    token: SecretStr = SecretStr("dev-storefront-inbound")
    notify: Literal["none", "failures", "all"] = Field(
        default="failures",
        description=(
            "which status changes of its messages the storefront hears (message.status):"
            " failures (a step failed or waits for an operator, and operators' actions), all"
            " (every delivered step too: one more storefront call per step), or none"
        ),
    )


class MailSettings(TargetSettings):
    """The SMTP relay that carries the bus's mail."""

    host: str = "127.0.0.1"
    port: int = 7025
    sender: str = "bus@b2b.example"
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False


class RealtimeSettings(_Model):
    """A real-time query to the ERP (``prices.get``, ``balance.get``): budget, cache, fallback."""

    budget: float = Field(default=2.0, gt=0, description="the most one call may take, seconds")
    attempt_timeout: float = Field(default=0.8, gt=0, description="one request to the ERP")
    cache_ttl: float = Field(default=30.0, ge=0, description="a fresh answer is reused this long")
    stale_for: float = Field(
        default=86_400.0, ge=0, description="how old a last known price may be when the ERP is down"
    )
    cache_size: int = Field(default=50_000, ge=1, description="prices kept per process")
    breaker: BreakerSettings = BreakerSettings(failure_threshold=3, cooldown=10.0)


class PreHolidayCutoff(_Model):
    """An earlier cut-off for some product groups on the last working day before a holiday.

    An order with a line of one of ``categories`` (the ERP item table's category, NAV
    ``Item_Category_Code`` or 1C ``ВидНоменклатуры``, compared without regard to case) placed
    at or after ``cutoff`` on that day counts as placed after the cut-off.
    """

    categories: tuple[str, ...] = Field(min_length=1, description="the product groups it holds for")
    cutoff: dt.time = Field(description="the cut-off of the pre-holiday day for them")


def _default_product_types() -> dict[str, str]:
    # The seeded categories of both ERPs' simulators: NAV's Item_Category_Code, 1C's
    # ВидНоменклатуры.
    return {
        "WINE": "alcohol",
        "WATER": "water",
        "ACCESSORY": "accessories",
        "Алкоголь": "alcohol",
        "Вода": "water",
        "Аксессуары": "accessories",
    }


class CatalogSettings(RealtimeSettings):
    """The ERP's item table and customers as every order and cart is checked against them.

    Kept per process for ``cache_ttl`` seconds, answered from what was last known (up to
    ``stale_for``) while the ERP cannot answer.
    """

    cache_ttl: float = Field(default=300.0, ge=0, description="an entry is reused this long")
    product_types: dict[str, str] = Field(
        default_factory=_default_product_types,
        description="the ERP's item category -> the product type (the contract a line is bought"
        " under); a line's product type is its item's, whatever the storefront said",
    )


class OrderRules(_Model):
    """Rules an ``order.submit`` must meet, as data: pack sizes, minimums, cut-off and holidays."""

    pack_sizes: dict[str, int] = Field(
        default_factory=dict, description="item -> pack size: the item is sold in whole packs"
    )
    minimum_amount: float = Field(default=0.0, ge=0, description="the smallest order, by value")
    customer_minimums: dict[str, float] = Field(
        default_factory=dict, description="customer -> its own minimum order value"
    )
    cutoff: dt.time = Field(default=dt.time(18, 0), description="orders after it ship later")
    lead_days: int = Field(default=1, ge=0, description="working days to the earliest delivery")
    after_cutoff_lead_days: int = Field(default=2, ge=0)
    holidays: tuple[dt.date, ...] = Field(default=(), description="no deliveries on these days")
    non_working_days: Literal["move", "refuse"] = Field(
        default="move",
        description="a requested delivery on a weekend or holiday: moved to the next working day"
        " (listed in adjusted) or refused",
    )
    pre_holiday_cutoffs: tuple[PreHolidayCutoff, ...] = Field(
        default=(), description="earlier cut-offs of product groups before a holiday"
    )
    timezone: TimeZoneName = Field(
        default="Europe/Moscow", description="where the cut-off is read, unless set below"
    )
    warehouse_timezones: dict[str, TimeZoneName] = Field(
        default_factory=dict,
        description="the customer's warehouse (its ERP code) -> the zone of its customers",
    )
    customer_timezones: dict[str, TimeZoneName] = Field(
        default_factory=dict, description="customer -> its zone (wins over its warehouse's)"
    )


#: The roles a route's step may name; ``directory`` is the bus's own customer directory.
ROLES = ("erp", "crm", "storefront", "mail", "directory")


class OrderRoute(_Model):
    """One rule of order routing (DESIGN.md §3.2): which customers it takes, where orders go.

    The first rule whose conditions the customer meets decides. The customer's facts (licence,
    contracts) come from the bus's customer directory, which provisioning fills; a customer the
    directory does not know meets only rules without conditions.
    """

    name: str = Field(min_length=1, max_length=40)
    licensed: bool | None = Field(
        default=None, description="the customer holds an alcohol licence (unset: either way)"
    )
    min_contracts: int = Field(default=0, ge=0, description="the customer has this many contracts")
    split_by_contract: bool = Field(
        default=False, description="one order per contract of the lines' product types"
    )
    delivery: Literal["as_ordered", "licence_address", "pickup"] = Field(
        default="as_ordered", description="where the goods go"
    )
    steps: tuple[str, ...] = Field(
        min_length=1, description='"role:operation", delivered one after the other'
    )

    @field_validator("steps")
    @classmethod
    def _known_roles(cls, steps: tuple[str, ...]) -> tuple[str, ...]:
        for step in steps:
            role, _, operation = step.partition(":")
            if role not in ROLES or not operation:
                raise ValueError(f"{step!r} is not role:operation with a role of {ROLES}")
        return steps

    @property
    def conditional(self) -> bool:
        """Whether the rule needs the customer's facts."""
        return self.licensed is not None or self.min_contracts > 0


def _default_order_routes() -> tuple[OrderRoute, ...]:
    notify = "mail:mail.order_waiting"
    return (
        OrderRoute(
            name="licensed",
            licensed=True,
            delivery="licence_address",
            steps=("erp:sales_order.create", "crm:order.create", notify),
        ),
        OrderRoute(
            name="by_contract",
            licensed=False,
            min_contracts=2,
            split_by_contract=True,
            delivery="pickup",
            # No ERP order: the ERP prices the lines (the customer's personal prices, in each
            # line's unit) for the CRM order, which carries them.
            steps=("erp:order.quote", "crm:order.create", notify),
        ),
        OrderRoute(name="default", steps=("erp:sales_order.create", "crm:order.create", notify)),
    )


class OwnershipSettings(_Model):
    """Which system owns what of an order once it was created, and so which changes the bus
    carries between the ERP and the CRM (the storefront hears every change either way)."""

    erp_status_to_crm: bool = Field(
        default=True,
        description="the ERP's status changes (order.status_changed) also set the status of the"
        " order's CRM deal or order (bitrix24.stages, creatio.order_statuses)",
    )
    crm_cancel_to_erp: bool = Field(
        default=True,
        description="an order the CRM cancelled (a Bitrix24 deal lost, a Creatio order"
        " cancelled) is cancelled in the ERP: NAV deletes the sales order, 1C marks it deleted",
    )
    crm_lines_to_erp: bool = Field(
        default=True,
        description="the order's lines as the CRM shows them (a deal's product rows, a Creatio"
        " order's rows: item, quantity, unit) become the ERP order's lines, which the ERP"
        " prices; an order the CRM cancelled keeps its lines, and matching lines change nothing",
    )
    merges_to_crm: bool = Field(
        default=True,
        description="an accepted order.merge reaches the CRM: the new order's CRM order is made"
        " (priced by the ERP's quote) and each merged order's takes the status 'merged'",
    )

    def enabled(self, flow: str | None) -> bool:
        """Whether the flow named ``flow`` (a field of this section) is carried; ``None``:
        always."""
        return flow is None or bool(getattr(self, flow))


class Limits(_Model):
    """Limits of the JSON-RPC edge."""

    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_batch: int = Field(default=100, ge=1)
    call_timeout: float = Field(default=10.0, gt=0)
    batch_concurrency: int = Field(default=16, ge=1)
    journal_retry_after: float = Field(
        default=2.0,
        gt=0,
        description="seconds a caller is told to wait (data.retry_after) while the journal is"
        " unreachable",
    )
    header_timeout: float = Field(
        default=15.0,
        gt=0,
        description="seconds a connection may take to send a request's headers, and stay idle"
        " between requests, before it is closed",
    )
    body_timeout: float = Field(
        default=30.0, gt=0, description="seconds a request may take to send its whole body"
    )
    client_rate: float = Field(
        default=2000.0,
        gt=0,
        description="calls per second one client may send, on average (a batch counts each call)",
    )
    client_burst: int = Field(
        default=4000, ge=1, description="calls one client may send at once above its rate"
    )
    client_concurrency: int = Field(
        default=128, ge=1, description="HTTP requests of one client the edge serves at once"
    )


class QueueSettings(_Model):
    """Delivery workers, leases and the sweeper."""

    lease: float = Field(default=120.0, gt=0, description="a claim's lease, seconds")
    sweep_interval: float = Field(default=5.0, gt=0)
    requeue_after: float = Field(
        default=60.0, gt=0, description="re-enqueue a message queued but not claimed this long"
    )
    worker_threads: int = Field(
        default=8,
        ge=1,
        description="attempts at once of each target's queue in a worker process (its lane)",
    )
    target_threads: dict[str, Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict,
        description="attempts at once of a target's queue, where not worker_threads (each target"
        " has a queue and a lane of its own: a paced or slow one never delays the others),"
        " e.g. { bitrix24 = 2 }",
    )
    worker_timeout_ms: int = Field(
        default=100,
        ge=1,
        description="how often a worker polls each idle queue, ms: the longest a message waits in"
        " a queue that was idle (a queue with messages is read at once)",
    )
    accept_batch: int = Field(default=500, ge=1, description="most accepts in one commit")
    accept_writers: int = Field(default=2, ge=1, description="concurrent accept commits")

    @field_validator("target_threads")
    @classmethod
    def _known_targets(cls, threads: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(threads) - set(TARGETS))
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not a target (one of {', '.join(TARGETS)})")
        return threads

    def threads_for(self, target: str) -> int:
        """How many threads of a worker process serve ``target``'s queue."""
        return self.target_threads.get(target, self.worker_threads)


class RetentionSettings(_Model):
    """How long the journal keeps finished messages, where it archives them, and how much of a
    successful attempt it stores."""

    older_than: float = Field(
        default=30 * 86_400.0,
        gt=0,
        description="a route whose every message is delivered or cancelled, none changed for"
        " this many seconds, is archived and deleted",
    )
    interval: float = Field(
        default=0.0,
        ge=0,
        description="the sweeper prunes every this many seconds; 0: only `bus journal prune`",
    )
    batch_size: int = Field(
        default=500, ge=1, le=10_000, description="most routes archived and deleted per commit"
    )
    archive_dir: str = Field(
        default="journal-archive",
        description="where archives go: one gzip file of JSON lines per day (UTC)",
    )
    keep_exchange: Literal["all", "sent", "failed"] = Field(
        default="sent",
        description="the request and response bodies an attempt keeps: every one (all); what"
        " every attempt sent, and what an attempt that did not deliver got back (sent: a"
        " delivered one's answer is in its result); only those of attempts that did not deliver"
        " (failed). Each keeps its outcome, timing and HTTP status",
    )


class MetricsSettings(_Model):
    """Where a bus worker process serves its Prometheus metrics (an API process serves them at
    /metrics on its own port)."""

    worker_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="bus worker serves its metrics at http://worker_host:worker_port/metrics;"
        " with --processes N, process i (from 0) at worker_port + i; unset: none",
    )
    worker_host: str = Field(
        default="127.0.0.1", description="the address of the workers' metrics endpoint"
    )


class Settings(BaseSettings):
    """All settings of one bus deployment."""

    model_config = SettingsConfigDict(
        env_prefix="BUS_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    database_url: str = "sqlite+aiosqlite:///bus.db"
    redis_url: str | None = None
    redis_namespace: str = "bus"
    host: str = "127.0.0.1"
    port: int = 8080
    startup_wait: float = Field(
        default=60.0,
        ge=0,
        description="how long bus serve and bus worker wait at start for a journal that cannot be"
        " reached yet (PostgreSQL starting), seconds; then they give up",
    )
    development: bool = Field(
        default=False,
        description="a development bus: bus serve and bus worker start with the secrets the bus"
        " ships with (public keys, tokens and passwords), which they otherwise refuse",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="text: one readable line per record; json: one JSON object per line (time,"
        " level, logger, message, correlation_id and message_id when known)",
    )
    metrics: MetricsSettings = MetricsSettings()
    erp: Literal["navision", "onec"] = "navision"
    crm: Literal["creatio", "bitrix24"] = "bitrix24"
    clients: dict[str, ClientSettings] = Field(default_factory=_default_clients)
    navision: NavisionSettings = NavisionSettings()
    onec: OnecSettings = OnecSettings()
    creatio: CreatioSettings = CreatioSettings()
    bitrix24: Bitrix24Settings = Bitrix24Settings()
    storefront: StorefrontSettings = StorefrontSettings()
    mail: MailSettings = MailSettings()
    directory: TargetSettings = TargetSettings()
    journal: TargetSettings = TargetSettings()
    directory_ttl: float = Field(
        default=5.0,
        gt=0,
        description="how long a process reuses a customer's profile when routing its orders"
        " (a new profile written by a worker drops it at once; this bounds it when Redis is"
        " unreachable)",
    )
    order_routes: tuple[OrderRoute, ...] = Field(
        default_factory=_default_order_routes,
        description="order routing by customer segment; the first matching rule decides",
    )
    order_rules: OrderRules = OrderRules()
    ownership: OwnershipSettings = OwnershipSettings()
    catalog: CatalogSettings = CatalogSettings()
    deadlines: dict[str, float] = Field(
        default_factory=lambda: {
            "invoice.request": 900.0,
            "reconciliation.request": 900.0,
            "address.request": 172_800.0,
            "employee.request": 172_800.0,
        },
        description="method -> seconds after acceptance by which it must be done (delivered"
        " and, for a request, decided); past it, it is reported stuck",
    )
    prices: RealtimeSettings = RealtimeSettings()
    balance: RealtimeSettings = RealtimeSettings(cache_ttl=60.0)
    limits: Limits = Limits()
    queue: QueueSettings = QueueSettings()
    retention: RetentionSettings = RetentionSettings()
    journal_encryption_keys: tuple[SecretStr, ...] = Field(
        default=(SecretStr(DEV_JOURNAL_KEY),),
        min_length=1,
        description="Fernet keys (32 url-safe base64-encoded bytes each) that encrypt the secrets"
        " the journal keeps (OAuth tokens, set-password links): the first encrypts, every one"
        " decrypts; rotate by putting a new key first, running `bus secrets reencrypt`, then"
        " dropping the old one",
    )

    @field_validator("journal_encryption_keys")
    @classmethod
    def _fernet_keys(cls, keys: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for number, key in enumerate(keys):
            try:
                Fernet(key.get_secret_value())
            except ValueError:
                raise ValueError(
                    f"key {number} is not 32 url-safe base64-encoded bytes: make one with"
                    ' python -c "from cryptography.fernet import Fernet;'
                    ' print(Fernet.generate_key().decode())"'
                ) from None
        return keys

    @field_validator("order_routes")
    @classmethod
    def _catch_all_last(cls, routes: tuple[OrderRoute, ...]) -> tuple[OrderRoute, ...]:
        # Every order must find a route: the last rule takes whoever the others did not.
        if not routes or routes[-1].conditional or routes[-1].split_by_contract:
            raise ValueError("the last order route must take every customer (no conditions)")
        return routes

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which we do not ship.
        if url.startswith(("postgresql://", "postgres://")):
            url = "postgresql+asyncpg://" + url.split("://", 1)[1]
        elif url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
            url = "sqlite+aiosqlite://" + url.split("://", 1)[1]
        try:
            driver = make_url(url).drivername
        except ArgumentError:
            driver = ""
        if driver not in ("postgresql+asyncpg", "sqlite+aiosqlite"):
            # The value is not repeated: it may carry the journal's password.
            raise ValueError(
                "is not a journal URL: postgresql://user:password@host/db (PostgreSQL) or"
                " sqlite:///path/bus.db (SQLite)"
            )
        return url

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, url: str | None) -> str | None:
        if url is not None and (
            urlsplit(url).scheme not in ("redis", "rediss", "unix") or url.find("://") < 0
        ):
            raise ValueError("is not a Redis URL: redis://host:6379/0 (rediss:// with TLS)")
        return url

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Refused rather than ignored: a misspelt variable would leave its setting at the default.
        unknown = unknown_variables(settings_cls, os.environ)
        if unknown:
            raise ConfigurationError(unknown)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("BUS_CONFIG")
        if config_file:
            sources.append(_toml_source(settings_cls, Path(config_file)))
        return tuple(sources)

    @property
    def is_postgres(self) -> bool:
        """True when the journal lives in PostgreSQL."""
        return self.database_url.startswith("postgresql")

    def shipped_secrets(self, *, edge: bool = True) -> list[str]:
        """The secret settings this deployment uses that still hold the value the bus ships
        with (public, in its source), by their dotted names (``navision.password``).

        Only the systems the deployment talks to count (its ERP and CRM, not the others), and
        the Bitrix24 webhook only without OAuth. ``edge``: with the secrets only the JSON-RPC
        edge needs (the clients' keys, the token of Bitrix24's events); a worker has none of
        them.
        """
        found: list[str] = []
        if edge:
            dev = set(DEV_KEYS.values())
            found += [
                f"clients.{name}.key"
                for name, client in self.clients.items()
                if client.key.get_secret_value() in dev
            ]
        for section in (self.erp, self.crm, "storefront", "mail"):
            found += [f"{section}.{name}" for name in _shipped(getattr(self, section))]
        if any(key.get_secret_value() == DEV_JOURNAL_KEY for key in self.journal_encryption_keys):
            found.append("journal_encryption_keys")
        unused = {"bitrix24.webhook_url"} if self.bitrix24.oauth is not None else set()
        if not edge:
            unused.add("bitrix24.application_token")
        return [name for name in found if name not in unused]

    def system(self, role: str) -> str:
        """The system that plays ``role`` (``erp``, ``crm``, ``storefront``, ``mail``, …)."""
        return {"erp": self.erp, "crm": self.crm}.get(role, role)

    def target(self, system: str) -> TargetSettings:
        """The settings of the system named ``system``."""
        if system not in TARGETS:
            raise KeyError(system)
        settings: TargetSettings = getattr(self, system)
        return settings

    def retry_policy(self, target: str) -> RetryPolicy:
        """Return the retry policy configured for ``target``."""
        return self.target(target).retry


def _toml_source(settings_cls: type[BaseSettings], path: Path) -> PydanticBaseSettingsSource:
    """The file ``BUS_CONFIG`` names; a file that is not there, or not TOML, is a mistake (read
    as no file, the bus would start on every default)."""
    if not path.is_file():
        raise ConfigurationError([f"BUS_CONFIG names {path}, which is not a file"])
    try:
        return TomlConfigSettingsSource(settings_cls, toml_file=path)
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError([f"BUS_CONFIG {path} is not valid TOML: {error}"]) from None
    except OSError as error:
        raise ConfigurationError([f"BUS_CONFIG {path} cannot be read: {error.strerror}"]) from None


def _shipped(section: BaseModel) -> list[str]:
    """The fields of ``section`` holding a secret that equals the field's shipped default."""
    shipped = []
    for name, field in type(section).model_fields.items():
        value, default = getattr(section, name), field.get_default(call_default_factory=True)
        if isinstance(value, SecretStr) and isinstance(default, SecretStr):
            if value.get_secret_value() == default.get_secret_value():
                shipped.append(name)
    return shipped


#: Every system the bus delivers to; each has a settings section of that name.
TARGETS = ("navision", "onec", "creatio", "bitrix24", "storefront", "mail", "directory", "journal")
