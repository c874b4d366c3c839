"""What an operator's monitoring sees of a running bus: metrics, health and log lines.

Real processes: ``/metrics`` scraped after orders were delivered and failed (with each ERP, in the
embedded mode, and from an API process and a worker process of a Redis deployment), ``/readyz``
answering 503 naming Redis once a Redis of the test's own is stopped, and JSON log lines carrying
the call's correlation id and the message id, one line per permanent failure; and the garbage
collections of a started API and worker process, which no longer walk what they hold.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bus.journal.notices import NOTICE_METHOD
from bus.sandbox import free_port
from bus.settings import DEV_KEYS
from tests.e2e.conftest import ERP_ONLY, production_env, running, wait_until
from tests.e2e.test_ordering_keys import PATHS, _fault
from tests.e2e.test_systems import TIMINGS
from tests.support.processes import Stack, wait_for_http
from tests.support.redisserver import RedisServer
from tests.support.servers import fresh_postgres_database, redis_or_skip

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    """Every sample of ``url``, by name and labels."""
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


#: The storefront's credentials, as its calls carry them.
STOREFRONT = {"Authorization": f"Bearer {DEV_KEYS['storefront']}"}


def submit(stack: Stack, correlation_id: str) -> str:
    """Send one order with ``correlation_id`` as its ``X-Correlation-Id``; its message id."""
    headers = {**STOREFRONT, "X-Correlation-Id": correlation_id}
    reply = httpx.post(
        f"{stack.api_url}/rpc", json=order_call(1), headers=headers, timeout=30
    ).json()
    assert "result" in reply, reply
    message_id: str = reply["result"]["message_id"]
    return message_id


def order_call(call_id: int) -> dict[str, Any]:
    """An ``order.submit`` call of a new order."""
    return {
        "jsonrpc": "2.0",
        "id": call_id,
        "method": "order.submit",
        "params": {
            "order_id": f"M-{uuid.uuid4().hex[:8]}",
            "customer": "10000",
            "lines": [{"item": "1000", "quantity": 2}],
        },
    }


def status(stack: Stack, message_id: str) -> str:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "message.get",
        "params": {"message_id": message_id},
    }
    headers = {"Authorization": f"Bearer {DEV_KEYS['ops']}"}
    reply = httpx.post(f"{stack.api_url}/rpc", json=body, headers=headers, timeout=30).json()
    found: str = reply["result"]["status"]
    return found


@contextmanager
def redis_stack_with_worker_metrics(log_dir: Path) -> Iterator[tuple[Stack, str]]:
    """A PostgreSQL + Redis deployment running one worker, and the worker's metrics URL."""
    redis_or_skip()
    with fresh_postgres_database() as database_url:
        stack = Stack(production_env(database_url, TIMINGS), log_dir)
        stack.env["BUS_ORDER_ROUTES"] = ERP_ONLY
        with started(stack):
            port = free_port()
            stack.env["BUS_METRICS__WORKER_PORT"] = str(port)
            metrics = f"http://127.0.0.1:{port}/metrics"
            wait_for_http(metrics, stack.start_worker())
            yield stack, metrics


@contextmanager
def started(stack: Stack) -> Iterator[Stack]:
    """The stack's simulators and API running inside the block, every process stopped after."""
    yield from running(stack)


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON log lines of a process's output (the lines before its settings were read are
    text)."""
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


@pytest.fixture(params=["navision", "onec"])
def json_stack(request: pytest.FixtureRequest, log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    """The embedded mode with each ERP, logging JSON lines."""
    env = {
        "BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}",
        "BUS_ORDER_ROUTES": ERP_ONLY,
        "BUS_LOG_FORMAT": "json",
        **TIMINGS,
    }
    yield from running(Stack(env, log_dir, erp=request.param, simulators=(request.param,)))


def test_metrics_and_json_logs_of_delivered_and_failed_orders(json_stack: Stack) -> None:
    stack, erp = json_stack, json_stack.erp
    delivered = submit(stack, "obs-delivered")
    wait_until(lambda: status(stack, delivered) == "delivered", stack, 30, "the delivery")
    _fault(stack, erp, mode="status", status=400, match=PATHS[erp]["order"], methods=["POST"])
    failed = submit(stack, "obs-failed")
    wait_until(lambda: status(stack, failed) == "failed", stack, 30, "the failure")

    samples = scrape(f"{stack.api_url}/metrics")
    order = {"method": "order.submit", "target": erp}
    assert value(samples, "bus_messages_accepted_total", **order) == 2
    # and what the failure's finish journaled: the storefront's notice of it
    assert (
        value(samples, "bus_messages_accepted_total", method=NOTICE_METHOD, target="storefront")
        == 1
    )
    assert value(samples, "bus_messages_delivered_total", **order) == 1
    assert value(samples, "bus_messages_failed_total", **order) == 1
    histogram = "bus_delivery_attempt_duration_seconds"
    assert value(samples, f"{histogram}_count", target=erp, outcome="delivered") == 1
    assert value(samples, f"{histogram}_count", target=erp, outcome="permanent") == 1
    assert (value(samples, f"{histogram}_sum", target=erp, outcome="delivered") or 0) > 0
    assert value(samples, f"{histogram}_bucket", target=erp, outcome="permanent", le="+Inf") == 1
    assert value(samples, "bus_journal_up") == 1
    assert value(samples, "bus_messages_awaiting_operator", target=erp) == 1
    for gauge in ("bus_queue_depth", "bus_messages_held", "bus_messages_blocked"):
        assert value(samples, gauge, target=erp) == 0, gauge
    assert value(samples, "bus_breaker_state", target=erp, state="closed") == 1
    assert value(samples, "bus_breaker_state", target=erp, state="open") == 0

    [api] = [process for process in stack.processes if process.name == "api"]
    lines = json_lines(api.output())
    assert lines, "no JSON log line"
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    of_failed = [line for line in lines if line.get("message_id") == failed]
    assert of_failed and all(line["correlation_id"] == "obs-failed" for line in of_failed)
    failures = [line for line in lines if "failed permanently" in line["message"]]
    assert not [line for line in failures if line.get("message_id") == delivered]
    [failure] = [line for line in failures if line.get("message_id") == failed]
    assert failure["level"] == "ERROR"
    assert failure["target"] == erp
    assert failure["method"] == "order.submit"
    assert "400" in failure["error"]


def test_an_api_and_a_worker_process_each_serve_their_metrics(log_dir: Path) -> None:
    """Redis deployment: the API counts the accept and reads the journal's gauges; the worker
    counts the delivery on its own metrics port."""
    with redis_stack_with_worker_metrics(log_dir) as (stack, worker_metrics):
        message_id = submit(stack, "obs-redis")
        wait_until(lambda: status(stack, message_id) == "delivered", stack, 30, "delivery")
        order = {"method": "order.submit", "target": "navision"}
        api = scrape(f"{stack.api_url}/metrics")
        assert value(api, "bus_messages_accepted_total", **order) == 1
        assert value(api, "bus_messages_delivered_total", **order) is None
        assert value(api, "bus_queue_depth", target="navision") == 0
        worker = scrape(worker_metrics)
        assert value(worker, "bus_messages_delivered_total", **order) == 1
        histogram = "bus_delivery_attempt_duration_seconds_count"
        assert value(worker, histogram, target="navision", outcome="delivered") == 1
        assert value(worker, "bus_messages_accepted_total", **order) is None


def test_readyz_names_redis_when_it_is_down(log_dir: Path) -> None:
    with RedisServer() as redis_server, fresh_postgres_database() as database_url:
        env = {**production_env(database_url, TIMINGS), "BUS_REDIS_URL": redis_server.url}
        with started(Stack(env, log_dir)) as stack:
            ready = httpx.get(f"{stack.api_url}/readyz", timeout=10)
            assert ready.status_code == 200
            assert ready.json() == {"status": "ok", "journal": "ok", "redis": "ok"}
            redis_server.stop()
            ready = httpx.get(f"{stack.api_url}/readyz", timeout=10)
            assert ready.status_code == 503
            answer = ready.json()
            assert answer["status"] == "unavailable"
            assert answer["journal"] == "ok"
            assert answer["redis"].startswith("unreachable: ")
            # Liveness checks nothing else: the process answers.
            assert httpx.get(f"{stack.api_url}/healthz", timeout=10).json() == {"status": "ok"}


def test_started_processes_leave_what_they_hold_out_of_collections(log_dir: Path) -> None:
    """An API and a worker process, once started, freeze their start-up heap and collect the
    young generation rarely (bus.heap): 200 orders accepted and delivered cost each process
    three young collections at most (with CPython's default thresholds, about twenty, and now
    and then a full one walking all the process holds)."""
    with redis_stack_with_worker_metrics(log_dir) as (stack, worker_metrics):
        urls = {"api": f"{stack.api_url}/metrics", "worker": worker_metrics}
        before = {name: _collections(url) for name, url in urls.items()}
        last = [submit_many(stack, 100) for _ in range(2)][-1]
        wait_until(lambda: status(stack, last) == "delivered", stack, 60, "the deliveries")
        after = {name: _collections(url) for name, url in urls.items()}
    for name in urls:
        young = after[name]["0"] - before[name]["0"]
        assert young <= 3, f"{name}: {young} young collections ({before[name]} -> {after[name]})"


def _collections(url: str) -> dict[str, float]:
    """A process's garbage collections so far, by generation (prometheus_client's own)."""
    samples = scrape(url)
    return {g: value(samples, "python_gc_collections_total", generation=g) or 0 for g in "012"}


def submit_many(stack: Stack, count: int) -> str:
    """Send ``count`` orders in one batch call; the last one's message id."""
    body = [order_call(n) for n in range(count)]
    replies = httpx.post(f"{stack.api_url}/rpc", json=body, headers=STOREFRONT, timeout=60).json()
    assert all("result" in reply for reply in replies), replies
    return str(replies[-1]["result"]["message_id"])
