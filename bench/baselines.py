"""The baselines the bus is measured against, each the bare minimum of the same job.

- ``rpc``: aiohttp + jsonrpcserver answering ``order.submit`` with a constant (no journal, queue),
  on the event loop the bus runs on.
- ``worker``: a dramatiq worker (Redis, AsyncIO, same threads) whose actor makes one httpx POST of
  the same NAV sales order the bus would send with the bus's HTTP client, and nothing else.

Both run as the bus's processes do: on its event loop, with its collector settings
(:func:`bus.heap.settle` once started).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import threading
from typing import Any

import dramatiq
import httpx
from aiohttp import web
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AsyncIO
from jsonrpcserver import Success, async_dispatch
from uvloop import EventLoopPolicy

from bus.adapters.navision import sales_order_body
from bus.adapters.transport import http_client
from bus.event_loops import new_event_loop
from bus.heap import settle
from schemas.steps import RoutedOrder

BASELINE_QUEUE = "baseline"


async def _submit(**_params: Any) -> Any:
    return Success({"message_id": "01M81CZA5PRBW5YNXYBG64HDFF", "status": "accepted"})


async def _handle(request: web.Request) -> web.Response:
    response = await async_dispatch(await request.text(), methods={"order.submit": _submit})
    return web.Response(text=response, content_type="application/json")


async def _health(_: web.Request) -> web.Response:
    return web.Response(text="ok")


def serve_rpc(port: int) -> None:
    """The bare JSON-RPC server, on the bus's event loop (``GET /health`` says it is up)."""
    app = web.Application()
    app.router.add_post("/rpc", _handle)
    app.router.add_get("/health", _health)
    web.run_app(
        app,
        host="127.0.0.1",
        port=port,
        access_log=None,
        print=lambda _: settle(),  # once it listens, as bus serve does
        loop=new_event_loop(),
    )


def build_baseline_broker(redis_url: str, namespace: str, nav_url: str) -> dramatiq.Broker:
    """A Redis broker with the bare ``post_order`` actor declared."""
    broker = RedisBroker(url=redis_url, namespace=namespace)
    broker.add_middleware(AsyncIO())
    clients: dict[int, httpx.AsyncClient] = {}

    async def post_order(message_id: str, order: dict[str, Any]) -> None:
        loop_id = id(asyncio.get_running_loop())
        if loop_id not in clients:  # one client per event loop, built once
            clients[loop_id] = http_client()  # the bus's client: the same cost per request
        client = clients[loop_id]
        response = await client.post(
            f"{nav_url}/Company('CRONUS')/SalesOrder",
            json=sales_order_body(message_id, RoutedOrder.model_validate(order)),
            auth=("bus", "bus-secret"),
        )
        response.raise_for_status()

    dramatiq.actor(
        post_order, broker=broker, actor_name="post_order", queue_name=BASELINE_QUEUE, max_retries=0
    )
    return broker


def run_worker(redis_url: str, namespace: str, nav_url: str, threads: int, timeout_ms: int) -> None:
    """The bare dramatiq worker, until SIGTERM."""
    # The bus's worker runs its attempts on uvloop; so does this one (dramatiq's AsyncIO
    # middleware makes its loop with asyncio.new_event_loop()).
    asyncio.set_event_loop_policy(EventLoopPolicy())
    broker = build_baseline_broker(redis_url, namespace, nav_url)
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=timeout_ms)
    worker.start()
    settle()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    worker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("which", choices=["rpc", "worker"])
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--namespace", default="bench-baseline")
    parser.add_argument("--nav-url", default="http://127.0.0.1:7048/DynamicsNAV110/ODataV4")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--worker-timeout-ms", type=int, default=20)
    args = parser.parse_args()
    if args.which == "rpc":
        serve_rpc(args.port)
    else:
        run_worker(
            args.redis_url, args.namespace, args.nav_url, args.threads, args.worker_timeout_ms
        )


if __name__ == "__main__":
    main()
