"""A B2B storefront simulator (the site's side, e.g. 1C-Bitrix): JSON-RPC 2.0 methods the bus
calls to create users, update and merge orders, import order history, deliver documents and
pass on the ERP's decisions on customers' requests.

``create_app()`` builds the aiohttp app; see :func:`simulators.storefront.app.create_app`.
"""

from __future__ import annotations

from simulators.storefront.app import create_app
from simulators.storefront.service import STOREFRONT_KEY, StorefrontService
from simulators.storefront.store import Store

__all__ = ["STOREFRONT_KEY", "Store", "StorefrontService", "create_app"]
