"""Adapters to the systems around the bus, one module per system, behind one protocol."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from bus.adapters.base import (
    Adapter,
    Delivery,
    DocumentStore,
    EntityState,
    Receipt,
    SecretStore,
)
from bus.adapters.bitrix24 import Bitrix24Adapter
from bus.adapters.creatio import CreatioAdapter
from bus.adapters.directory import DirectoryAdapter
from bus.adapters.erp_queries import ErpQueries
from bus.adapters.journal import JournalAdapter, OrderBook
from bus.adapters.mail import MailAdapter
from bus.adapters.navision import NavisionAdapter
from bus.adapters.navision_queries import NavisionQueries
from bus.adapters.onec import OnecAdapter
from bus.adapters.onec_queries import OnecQueries
from bus.adapters.shared import SharedRedis
from bus.adapters.storefront import StorefrontAdapter
from bus.redaction import configure
from bus.sealing import Sealer
from bus.settings import Settings

__all__ = [
    "Adapter",
    "Delivery",
    "OPERATIONS",
    "REQUESTLESS",
    "URGENT",
    "DocumentStore",
    "EntityState",
    "OrderBook",
    "Receipt",
    "SecretStore",
    "build_adapters",
    "build_erp_queries",
]


#: The operations each system's adapter performs, by system name (checked against the routes at
#: start: bus.route_check).
OPERATIONS: dict[str, frozenset[str]] = {
    "navision": NavisionAdapter.operations,
    "onec": OnecAdapter.operations,
    "creatio": CreatioAdapter.operations,
    "bitrix24": Bitrix24Adapter.operations,
    "storefront": StorefrontAdapter.operations,
    "mail": MailAdapter.operations,
    "directory": DirectoryAdapter.operations,
    "journal": JournalAdapter.operations,
}

#: The operations a system's adapter answers without a request to the system, by system name:
#: they wait behind none of its backlog (bus.queues.broker.queue_of).
REQUESTLESS: dict[str, frozenset[str]] = {"bitrix24": Bitrix24Adapter.requestless}

#: The operations a person waits on, of a system whose backlog may be long (a paced one), by
#: system name: they go ahead of it, in a queue of their own and in the pace.
URGENT: dict[str, frozenset[str]] = {"bitrix24": Bitrix24Adapter.urgent}


def build_adapters(
    settings: Settings,
    client: httpx.AsyncClient,
    secrets: SecretStore,
    directory: DocumentStore,
    orders: OrderBook | None = None,
) -> dict[str, Adapter]:
    """The adapters of this deployment's systems (its ERP, its CRM, …), by system name.

    Parameters:
        secrets: where adapters keep the credentials their systems rotate.
        directory: the bus's customer directory.
        orders: where the journal's orders are in the ERP and the CRM (the ``journal`` system;
            without it, that system has no adapter).

    The process's redactor learns the deployment's secrets here (:func:`bus.redaction.configure`),
    so whatever the adapters record, raise or log is redacted.
    """
    configure(settings)
    sealer = Sealer.from_settings(settings)
    factories: dict[str, Callable[[], Adapter]] = {
        "navision": lambda: NavisionAdapter(settings.navision, client),
        "onec": lambda: OnecAdapter(settings.onec, client),
        "creatio": lambda: CreatioAdapter(settings.creatio, client),
        "bitrix24": lambda: Bitrix24Adapter(
            settings.bitrix24, client, secrets, SharedRedis.of(settings)
        ),
        "storefront": lambda: StorefrontAdapter(settings.storefront, client, sealer),
        "mail": lambda: MailAdapter(settings.mail, sealer),
        "directory": lambda: DirectoryAdapter(directory),
    }
    systems = {settings.erp, settings.crm, "storefront", "mail", "directory"}
    if orders is not None:
        book = orders
        factories["journal"] = lambda: JournalAdapter(book)
        systems.add("journal")
    return {name: factory() for name, factory in factories.items() if name in systems}


def build_erp_queries(settings: Settings, client: httpx.AsyncClient) -> ErpQueries:
    """The deployment's ERP as a source of real-time personal prices."""
    configure(settings)
    if settings.erp == "onec":
        return OnecQueries(settings.onec, client)
    return NavisionQueries(settings.navision, client)
