"""The aiohttp application: routes and the lifecycle of the journal, the queue and the edge.

With a Redis URL the API only journals and enqueues; ``bus worker`` processes deliver. Without one
(the embedded default) the in-process queue has no other consumer, so the API process also runs the
delivery worker threads and the sweeper.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from sqlalchemy import text

from bus import console, logs, metrics
from bus.adapters import build_erp_queries
from bus.adapters.http import cookieless_jar
from bus.adapters.transport import http_client
from bus.db import create_engine, reading
from bus.directory_changes import DirectoryListener
from bus.handlers import all_methods
from bus.handlers.hooks import bitrix24_event
from bus.health import ReadinessProbe
from bus.journal.customers import CustomerDirectory
from bus.journal.group_commit import GroupCommitter
from bus.order_checks import OrderChecks
from bus.order_routing import OrderRouter
from bus.queries.balance import BalanceService
from bus.queries.cart import CartImporter
from bus.queries.catalog import Catalog
from bus.queries.prices import PriceService
from bus.queues.broker import PipelinedRedisBroker, build_broker
from bus.queues.enqueue import Enqueuer
from bus.queues.redis_queues import RedisQueues
from bus.queues.sweeper import Sweeper
from bus.queues.worker import start_worker
from bus.rpc import RpcEdge
from bus.services import Services
from bus.settings import ROLES, Settings

log = logging.getLogger(__name__)

EDGE = web.AppKey("edge", RpcEdge)
SERVICES = web.AppKey("services", Services)
READINESS = web.AppKey("readiness", ReadinessProbe)


def create_app(settings: Settings) -> web.Application:
    """Build the bus's web application for ``settings``."""
    app = web.Application(client_max_size=settings.limits.max_body_bytes)
    app.cleanup_ctx.append(_lifecycle(settings))
    app.router.add_post("/rpc", _rpc)
    app.router.add_post("/hooks/bitrix24", _bitrix24_hook)
    app.router.add_get("/health", _health)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    console.install(app, settings, lambda request: request.config_dict[SERVICES].engine)
    return app


def server_options(settings: Settings) -> dict[str, Any]:
    """Options of the aiohttp server that runs the application (``run_app``, ``AppRunner``).

    aiohttp closes a connection whose request has not arrived within its keep-alive timeout, from
    the moment it opens as after each answer: with ``limits.header_timeout`` as that timeout,
    idle connections and headers sent a byte at a time are closed in seconds, not held for ever.
    The body has its own ``limits.body_timeout``, applied where a body is read. Compressed bodies
    are decoded by the edge (``bus.content_encoding``), not by aiohttp's parser, so that a broken
    one is answered in JSON.
    """
    return {"keepalive_timeout": settings.limits.header_timeout, "auto_decompress": False}


def _lifecycle(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url, pool_size=settings.queue.accept_writers + 4)
        broker = build_broker(settings)
        queues = (
            RedisQueues.of(broker, settings.redis_url)
            if isinstance(broker, PipelinedRedisBroker) and settings.redis_url
            else None
        )
        enqueuer = Enqueuer(broker, engine, queues)
        committer = GroupCommitter(
            engine,
            enqueuer.submit,
            max_batch=settings.queue.accept_batch,
            writers=settings.queue.accept_writers,
        )
        committer.start()
        # Real-time queries get a client of their own: a slow ERP must not take the pool
        # connections of deliveries (in the embedded mode they share the process).
        queries = http_client(max_connections=100, cookies=cookieless_jar())
        source = build_erp_queries(settings, queries)
        prices = PriceService(settings.prices, source, settings.erp)
        catalog = Catalog(settings.catalog, source, settings.erp)
        checks = OrderChecks(catalog, settings.catalog, settings.order_rules)
        cart = CartImporter(checks, prices, settings.erp)
        balance = BalanceService(settings.balance, source, settings.erp)
        router = OrderRouter(settings, CustomerDirectory(engine))
        changes = DirectoryListener(settings, router.forget, router.forget_all)
        changes.start()
        services = Services(settings, engine, committer, prices, cart, balance, router, checks)
        app[SERVICES] = services
        app[EDGE] = RpcEdge(all_methods(services), settings.clients, settings.limits)
        app[READINESS] = ReadinessProbe(engine, settings.redis_url)
        embedded = _start_embedded_delivery(settings, broker) if not settings.redis_url else []
        try:
            yield
        finally:
            await changes.stop()
            await committer.stop()
            await enqueuer.drain()
            if queues is not None:
                await queues.aclose()
            for stop in embedded:  # blocking: the delivery threads finish their attempts
                await asyncio.to_thread(stop)
            await queries.aclose()
            await app[READINESS].aclose()
            await engine.dispose()

    return lifecycle


def _start_embedded_delivery(settings: Settings, broker: Any) -> list[Callable[[], None]]:
    log.info(
        "embedded queue: delivering in this process (%d threads)", settings.queue.worker_threads
    )
    worker = start_worker(settings, broker)
    sweeper = Sweeper(settings, broker)
    sweeper.start()
    return [sweeper.stop, worker.stop]


async def _rpc(request: web.Request) -> web.Response:
    with logs.call_scope():  # the edge binds the call's correlation id inside
        return await request.app[EDGE].handle(request)


async def _bitrix24_hook(request: web.Request) -> web.Response:
    return await bitrix24_event(request.app[SERVICES], request)


async def _health(request: web.Request) -> web.Response:
    try:
        async with reading(request.app[SERVICES].engine) as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        log.warning("health check: journal unreachable", exc_info=True)
        return web.json_response({"status": "unavailable", "journal": "unreachable"}, status=503)
    return web.json_response({"status": "ok"})


async def _healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers (it checks nothing else, so it is never restarted for an
    outage of the journal or Redis)."""
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    """Readiness: the journal and the broker answer; 503 naming what is down."""
    readiness = await request.app[READINESS].check()
    if not readiness.ready:
        log.warning("not ready: %s", readiness.checks)
    return web.json_response(readiness.as_dict(), status=200 if readiness.ready else 503)


async def _metrics(request: web.Request) -> web.Response:
    """This process's counters and the journal's gauges, in Prometheus's text format."""
    services = request.app[SERVICES]
    targets = {services.settings.system(role) for role in ROLES}
    snapshot = await metrics.read_journal(services.engine, targets)
    body = metrics.exposition(snapshot)
    return web.Response(body=body, headers={"Content-Type": metrics.CONTENT_TYPE})
