"""The Celery peer of the delivery bench: the same job as the bus's worker, written as a Celery
task usually is.

A Celery app on Redis (the broker only: no result backend) with one task that makes one httpx POST
of the same NAV sales order the bus would send, retried on HTTP errors (``autoretry_for``, with
backoff), acknowledged after it ran (``acks_late``: a worker that dies does not lose it); the
worker runs ``--pool threads --concurrency 8``. Each thread keeps one ``httpx.Client``.

Needs the ``bench`` extra: ``pip install -e '.[bench]'`` (Celery is no dependency of the bus).

    python -m bench.celery_peer worker --redis-url URL --namespace NS --nav-url URL
"""

from __future__ import annotations

import argparse
import threading
from typing import Any

import httpx
from celery import Celery

from bus.adapters.navision import sales_order_body
from schemas.steps import RoutedOrder

QUEUE = "bench-celery"
TASK = "post_order"


def build_app(redis_url: str, namespace: str, nav_url: str) -> Celery:
    """The Celery app with the ``post_order`` task, its keys in Redis under ``namespace``."""
    app = Celery("bench_peer", broker=redis_url, set_as_current=False)
    app.conf.update(
        broker_transport_options={"global_keyprefix": f"{namespace}:"},
        broker_connection_retry_on_startup=True,
        task_default_queue=QUEUE,
        task_acks_late=True,
        task_ignore_result=True,
        worker_hijack_root_logger=False,
    )
    local = threading.local()
    url = f"{nav_url}/Company('CRONUS')/SalesOrder"

    @app.task(
        name=TASK,
        autoretry_for=(httpx.HTTPError,),
        retry_backoff=True,
        max_retries=5,
    )
    def post_order(message_id: str, order: dict[str, Any]) -> None:
        client = getattr(local, "client", None)
        if client is None:  # one client per worker thread, built once
            client = local.client = httpx.Client()
        response = client.post(
            url,
            json=sales_order_body(message_id, RoutedOrder.model_validate(order)),
            auth=("bus", "bus-secret"),
        )
        response.raise_for_status()

    return app


def enqueue(app: Celery, orders: list[tuple[str, dict[str, Any]]]) -> None:
    """Send one ``post_order`` task per ``(message_id, order)``, over one broker connection."""
    with app.producer_or_acquire() as producer:
        for message_id, order in orders:
            app.send_task(TASK, args=(message_id, order), producer=producer)


def run_worker(redis_url: str, namespace: str, nav_url: str, threads: int) -> None:
    """The Celery worker, until SIGTERM (Celery's warm shutdown)."""
    app = build_app(redis_url, namespace, nav_url)
    app.worker_main(
        [
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(threads),
            "--queues",
            QUEUE,
            "--loglevel",
            "WARNING",
            # a lone worker: no cluster events to exchange
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("which", choices=["worker"])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--namespace", default="bench-celery")
    parser.add_argument("--nav-url", default="http://127.0.0.1:7048/DynamicsNAV110/ODataV4")
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    run_worker(args.redis_url, args.namespace, args.nav_url, args.threads)


if __name__ == "__main__":
    main()
