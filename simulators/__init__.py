"""Faithful in-process fakes of the systems the bus talks to, with fault injection.

Each simulator is an aiohttp app factory that speaks the real system's wire format closely
enough for a third-party client of that system to work against it, keeps its data in memory,
and shares :mod:`simulators.faults` for fault injection and request recording under
``/_control/``. :data:`SIMULATORS` names every factory, e.g.
``web.run_app(SIMULATORS["navision"]())``.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from simulators import bitrix24, creatio, mail, navision, onec, storefront

#: Simulator name -> app factory (keyword-only configuration, sensible defaults).
SIMULATORS: dict[str, Callable[..., web.Application]] = {
    "navision": navision.create_app,
    "creatio": creatio.create_app,
    "bitrix24": bitrix24.create_app,
    "onec": onec.create_app,
    "storefront": storefront.create_app,
    "mail": mail.create_app,
}

__all__ = ["SIMULATORS"]
