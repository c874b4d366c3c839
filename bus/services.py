"""What request handlers need from the running bus, built once per process by the app."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from bus.journal.group_commit import GroupCommitter
from bus.order_checks import OrderChecks
from bus.order_routing import OrderRouter
from bus.queries.balance import BalanceService
from bus.queries.cart import CartImporter
from bus.queries.prices import PriceService
from bus.settings import Settings


@dataclass(frozen=True)
class Services:
    """The journal engine, the accept pipeline, the real-time queries and the settings, shared by
    every handler."""

    settings: Settings
    engine: AsyncEngine
    committer: GroupCommitter
    prices: PriceService
    cart: CartImporter
    balance: BalanceService
    router: OrderRouter
    checks: OrderChecks
