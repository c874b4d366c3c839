"""A Bitrix24 portal simulator: the CRM REST API over an incoming webhook or an OAuth
application's tokens, in JSON or XML, with the request and operating limits and deal events.

``create_app()`` builds the aiohttp app; see :func:`simulators.bitrix24.app.create_app`.
"""

from __future__ import annotations

from simulators.bitrix24.app import create_app
from simulators.bitrix24.service import B24_KEY, B24Service
from simulators.bitrix24.store import Store

__all__ = ["B24_KEY", "B24Service", "Store", "create_app"]
