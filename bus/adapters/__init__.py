"""Adapters to the systems around the bus, one module per system, behind one protocol."""

from __future__ import annotations

import httpx

from bus.adapters.base import Adapter, Delivery, Receipt
from bus.adapters.navision import NavisionAdapter
from bus.settings import Settings

__all__ = ["Adapter", "Delivery", "Receipt", "build_adapters"]


def build_adapters(settings: Settings, client: httpx.AsyncClient) -> dict[str, Adapter]:
    """The adapters of this deployment's systems, by system name."""
    return {"navision": NavisionAdapter(settings.navision, client)}
