"""Benchmark the bus against bare baselines, side by side in one run.

    python -m bench [accept|deliver|latency|all] [--repeat 3] [--seconds 10] [--orders 2000]

- accept: ``order.submit`` calls/s and caller latency p50/p99 (wrk) on PostgreSQL + Redis, next to
  a bare aiohttp + jsonrpcserver server returning a constant.
- deliver: orders delivered/s by one worker process (8 threads), next to a bare dramatiq actor
  doing one httpx POST of the same order to the same Navision simulator, and to a Celery task
  doing the same (Redis broker, retries, ``--pool threads --concurrency 8``: bench.celery_peer);
  and the CPU each process spends per delivered order: the worker, the simulator, PostgreSQL,
  Redis (bench.cpu). On one machine they share the cores: the sum bounds the throughput.
- latency: accept → simulator at low load (20 orders/s), next to a direct POST to the simulator.
- prices: ``prices.get`` caller latency p50/p99, passing through to NAV's pricing codeunit (every
  call a new quantity, so no cache hit), next to the same SOAP call made directly; and the longest
  call while NAV hangs, next to the configured budget.
- listings: the operators' listings (``bus messages list``) and ``message.get``'s read on a journal
  of ``--listing-messages`` messages the bench fills itself (bench.journal_listings), next to the
  same on an empty journal.
- isolation: a NAV order behind a Bitrix24 backlog and provisioning during a Bitrix24 burst, next
  to both on an idle bus (bench.isolation).

``all`` runs each, then prints the issue's table: every figure next to its baseline, with the
ratio. The delivery bench also reports what the journal keeps per delivered message.

Needs PostgreSQL and Redis on 127.0.0.1, ``wrk`` (``apt-get install wrk``) and the ``bench`` extra
(``pip install -e '.[bench]'``: Celery, psutil). Prints medians of ``--repeat`` runs and writes
every figure to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import re
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dramatiq
import httpx
import redis
from sqlalchemy import text

from bench.baselines import BASELINE_QUEUE, build_baseline_broker
from bench.cpu import CpuMeter
from bus.db import create_engine
from bus.journal.customers import CustomerDirectory
from bus.migrate import upgrade
from bus.sandbox import free_port
from bus.settings import DEV_KEYS
from tests.support.processes import Process, Stack, wait_for_http
from tests.support.servers import REDIS_URL, fresh_postgres_database

LUA = Path(__file__).with_name("order_submit.lua")
RESULTS = Path(__file__).with_name("results")
Figures = dict[str, float]
#: The customer of the bench's orders (NAV's simulator knows it; order_submit.lua sends it too).
CUSTOMER = "10000"


def order(n: int, tag: str) -> dict[str, Any]:
    return {
        "order_id": f"{tag}-{n}",
        "customer": CUSTOMER,
        "idempotency_key": f"{tag}-{n}",
        "lines": [
            {"item": "1000", "quantity": 2, "unit": None},
            {"item": "1100", "quantity": 1, "unit": None},
        ],
    }


def wrk(url: str, seconds: int, connections: int) -> Figures:
    """Run wrk against ``url`` (one thread: the machine has two cores to share)."""
    done = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(LUA),
            url,
            "--",
            DEV_KEYS["storefront"],
            uuid.uuid4().hex[:12],  # a fresh run id: every order of the run is new
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(
        r"RESULT requests=(\d+) seconds=([\d.]+) p50_ms=([\d.]+) p99_ms=([\d.]+) errors=(\d+)",
        done.stdout,
    )
    if not match or "Non-2xx" in done.stdout or int(match.group(5)):
        raise RuntimeError(f"wrk run failed (or answered errors):\n{done.stdout}\n{done.stderr}")
    requests, elapsed, p50, p99 = (float(g) for g in match.groups()[:4])
    return {"per_s": requests / elapsed, "p50_ms": p50, "p99_ms": p99}


def bench_accept(stack: Stack, args: argparse.Namespace) -> dict[str, Figures]:
    """Accepted calls/s and latency: the bus (journal + enqueue) against the bare server, for
    orders of a customer the bus provisioned (its profile in the directory, as
    ``account.create`` leaves it)."""
    asyncio.run(provision(stack.env["BUS_DATABASE_URL"], CUSTOMER))
    port = free_port()
    bare = stack.spawn("baseline-rpc", ["rpc", "--port", str(port)], module="bench.baselines")
    wait_for_http(f"http://127.0.0.1:{port}/health", bare)
    wrk(f"http://127.0.0.1:{port}/rpc", 2, args.connections)  # warm-up
    wrk(f"{stack.api_url}/rpc", 2, args.connections)
    runs: dict[str, list[Figures]] = {"bus": [], "baseline": []}
    for _ in range(args.repeat):
        runs["bus"].append(wrk(f"{stack.api_url}/rpc", args.seconds, args.connections))
        runs["baseline"].append(wrk(f"http://127.0.0.1:{port}/rpc", args.seconds, args.connections))
    api = next(p for p in stack.processes if p.name == "api")
    result = {name: medians(figures) for name, figures in runs.items()}
    result["bus"]["rss_mib"] = api.rss_mib()
    result["baseline"]["rss_mib"] = bare.rss_mib()
    bare.stop()
    result["bus"]["per_s_2_processes"] = accept_on_processes(stack, args, 2)
    return result


def accept_on_processes(stack: Stack, args: argparse.Namespace, processes: int) -> float:
    """Accepted calls/s of ``bus serve --processes N``: N API processes on one port."""
    port = free_port()
    serve = stack.spawn(
        f"api-{processes}-processes", ["serve", "--processes", str(processes), "--port", str(port)]
    )
    wait_for_http(f"http://127.0.0.1:{port}/health", serve)
    wrk(f"http://127.0.0.1:{port}/rpc", 2, args.connections)  # warm-up: every process
    runs = [
        wrk(f"http://127.0.0.1:{port}/rpc", args.seconds, args.connections)
        for _ in range(args.repeat)
    ]
    serve.stop()
    return medians(runs)["per_s"]


async def provision(database_url: str, customer: str) -> None:
    """Put ``customer``'s profile in the bus's directory, as provisioning does: an order of a
    customer the directory does not know reads the journal on every call (see the README)."""
    engine = create_engine(database_url, null_pool=True)
    try:
        await CustomerDirectory(engine).put(customer, {"name": "The Cannon Group PLC"})
    finally:
        await engine.dispose()


def bench_deliver(stack: Stack, args: argparse.Namespace) -> dict[str, Figures]:
    """Orders delivered per second by one worker process, against a bare dramatiq actor and a
    Celery task doing the same POST."""
    celery_peer = _celery_peer()
    runs: dict[str, list[Figures]] = {"bus": [], "baseline": [], "celery": []}
    sim = httpx.Client(base_url=stack.sim_url, timeout=30)
    for run in range(args.repeat):
        sim.post("/_control/reset")
        tag = f"D{run}-{uuid.uuid4().hex[:6]}"
        accept_in_batches(stack, args.orders, tag)
        worker = stack.start_worker(f"worker-{run}")
        figures = delivery_rate(sim, args.orders, cpu_meter(stack, worker))
        runs["bus"].append(figures | {"rss_mib": worker.rss_mib()})
        worker.stop()

        sim.post("/_control/reset")
        namespace = f"bench-{uuid.uuid4().hex[:8]}"
        broker = build_baseline_broker(REDIS_URL, namespace, stack.env["BUS_NAVISION__URL"])
        for n in range(args.orders):
            broker.enqueue(
                dramatiq.Message(
                    queue_name=BASELINE_QUEUE,
                    actor_name="post_order",
                    args=(f"{tag}-{n}", order(n, tag)),
                    kwargs={},
                    options={},
                )
            )
        bare = stack.spawn(
            f"baseline-worker-{run}",
            [
                "worker",
                "--redis-url",
                REDIS_URL,
                "--namespace",
                namespace,
                "--nav-url",
                stack.env["BUS_NAVISION__URL"],
            ],
            module="bench.baselines",
        )
        figures = delivery_rate(sim, args.orders, cpu_meter(stack, bare))
        runs["baseline"].append(figures | {"rss_mib": bare.rss_mib()})
        bare.stop()
        clear_namespace(namespace)  # the bare actor's queue and heartbeats

        sim.post("/_control/reset")
        runs["celery"].append(deliver_with_celery(celery_peer, stack, args.orders, tag))
    sim.close()
    result = {name: medians(figures) for name, figures in runs.items()}
    result["bus"] |= asyncio.run(journal_per_message(stack.env["BUS_DATABASE_URL"]))
    return result


async def journal_per_message(database_url: str) -> Figures:
    """What the journal keeps per delivered message: its rows and its attempts' rows as stored
    (``pg_column_size``; indexes and dead rows not counted), and the share of the attempts'
    request and response bodies in it."""
    engine = create_engine(database_url, null_pool=True)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM messages WHERE status = 'delivered') AS n,"
                        " (SELECT sum(pg_column_size(m.*)) FROM messages AS m) AS messages,"
                        " (SELECT sum(pg_column_size(a.*)) FROM attempts AS a) AS attempts,"
                        " (SELECT sum(coalesce(pg_column_size(request), 0)"
                        " + coalesce(pg_column_size(response), 0)) FROM attempts) AS bodies"
                    )
                )
            ).one()
    finally:
        await engine.dispose()
    kept = float(row.messages + row.attempts)
    return {"journal_kb_per_msg": kept / row.n / 1024, "bodies_pct": 100 * float(row.bodies) / kept}


def _celery_peer() -> Any:
    """:mod:`bench.celery_peer`, or a clear stop when Celery is not installed."""
    try:
        import bench.celery_peer
    except ImportError as missing:
        raise SystemExit(
            f"the delivery bench's Celery peer needs Celery ({missing}): pip install -e '.[bench]'"
        ) from None
    return bench.celery_peer


def deliver_with_celery(peer: Any, stack: Stack, count: int, tag: str) -> Figures:
    """The same orders as Celery tasks (queued first, as the bus's are), drained by one
    ``--pool threads --concurrency 8`` worker process."""
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    nav_url = stack.env["BUS_NAVISION__URL"]
    app = peer.build_app(REDIS_URL, namespace, nav_url)
    peer.enqueue(app, [(f"{tag}-{n}", order(n, tag)) for n in range(count)])
    worker = stack.spawn(
        f"celery-worker-{tag}",
        ["worker", "--redis-url", REDIS_URL, "--namespace", namespace, "--nav-url", nav_url],
        module="bench.celery_peer",
    )
    sim = httpx.Client(base_url=stack.sim_url, timeout=30)
    try:
        return delivery_rate(sim, count, cpu_meter(stack, worker)) | {"rss_mib": worker.rss_mib()}
    finally:
        sim.close()
        worker.stop()
        clear_namespace(namespace)


def accept_in_batches(stack: Stack, count: int, tag: str) -> None:
    headers = {"Authorization": f"Bearer {DEV_KEYS['storefront']}"}
    with httpx.Client(timeout=60, headers=headers) as client:
        for start in range(0, count, 100):
            batch = [
                {"jsonrpc": "2.0", "id": n, "method": "order.submit", "params": order(n, tag)}
                for n in range(start, min(count, start + 100))
            ]
            assert all(
                "result" in r for r in client.post(f"{stack.api_url}/rpc", json=batch).json()
            )


def delivery_rate(sim: httpx.Client, count: int, meter: CpuMeter | None = None) -> Figures:
    """Wait until the simulator created ``count`` orders; rate between the first and the last.
    With a ``meter``, the CPU per order of each process, from the first order seen on."""
    created: list[float] = []
    for request in received(sim, until=lambda: len(created) >= count, timeout=600):
        if request["method"] == "POST" and request["status"] == 201:
            created.append(request["at"])
            if meter is not None and len(created) == 1:
                meter.start()
    if len(created) < count:
        raise RuntimeError(f"only {len(created)} of {count} orders arrived")
    figures = {"per_s": (count - 1) / (max(created) - min(created))}
    if meter is not None:  # the orders created after the first reading: the simulator's clock
        figures |= meter.per_order(sum(1 for at in created if at > meter.started_at))
    return figures


def cpu_meter(stack: Stack, worker: Process) -> CpuMeter:
    """A :class:`bench.cpu.CpuMeter` of ``worker`` delivering to the stack's ERP simulator."""
    simulator = next(process for process in stack.processes if process.name == stack.erp)
    return CpuMeter(worker.popen.pid, simulator.popen.pid)


def received(
    sim: httpx.Client, until: Callable[[], bool], timeout: float
) -> Iterator[dict[str, Any]]:
    """The simulator's record, read incrementally (the whole record is heavy to serialize, and
    reading it repeatedly would slow the simulator being measured)."""
    seen, deadline = 0, time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        batch = sim.get("/_control/received", params={"since": seen}).json()["requests"]
        for request in batch:
            seen = request["seq"]
            yield request
        if not batch:
            time.sleep(0.5)


def bench_latency(stack: Stack, args: argparse.Namespace) -> dict[str, Figures]:
    """Accept → simulator latency at low load, and a direct POST to the simulator as the floor."""
    worker = stack.start_worker("worker-latency")
    sim = httpx.Client(base_url=stack.sim_url, timeout=30)
    headers = {"Authorization": f"Bearer {DEV_KEYS['storefront']}"}
    sent: dict[str, float] = {}
    with httpx.Client(timeout=30, headers=headers) as client:
        time.sleep(2)
        for n in range(args.latency_orders):
            started = time.time()
            body = {
                "jsonrpc": "2.0",
                "id": n,
                "method": "order.submit",
                "params": order(n, f"L-{uuid.uuid4().hex[:6]}"),
            }
            sent[client.post(f"{stack.api_url}/rpc", json=body).json()["result"]["message_id"]] = (
                started
            )
            time.sleep(0.05)
        time.sleep(2)
    arrivals = {
        r["body"]["External_Document_No"]: r["at"]
        for r in sim.get("/_control/received").json()["requests"]
        if r["method"] == "POST" and isinstance(r.get("body"), dict)
    }
    bus_ms = [(arrivals[m] - t) * 1000 for m, t in sent.items() if m in arrivals]
    direct_ms = direct_post_latency(sim, stack, args.latency_orders)
    worker.stop()
    sim.close()
    return {"bus": percentiles(bus_ms, len(sent)), "baseline": percentiles(direct_ms, len(sent))}


def direct_post_latency(sim: httpx.Client, stack: Stack, count: int) -> list[float]:
    from bus.adapters.navision import sales_order_body
    from schemas.steps import RoutedOrder

    url = f"{stack.env['BUS_NAVISION__URL']}/Company('CRONUS')/SalesOrder"
    latencies = []
    for n in range(count):
        message_id = f"DIRECT-{uuid.uuid4().hex[:10]}"
        started = time.time()
        body = sales_order_body(message_id, RoutedOrder.model_validate(order(n, "DIRECT")))
        sim.post(url, json=body, auth=("bus", "bus-secret"))
        arrivals = sim.get("/_control/received", params={"since": 0}).json()["requests"]
        arrived = next(r["at"] for r in reversed(arrivals) if r["method"] == "POST")
        latencies.append((arrived - started) * 1000)
        time.sleep(0.05)
    return latencies


def percentiles(samples_ms: list[float], expected: int) -> Figures:
    if len(samples_ms) < expected:
        raise RuntimeError(f"only {len(samples_ms)} of {expected} orders arrived")
    ordered = sorted(samples_ms)
    return {"p50_ms": statistics.median(ordered), "p99_ms": ordered[int(len(ordered) * 0.99) - 1]}


def medians(runs: list[Figures]) -> Figures:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


PRICE_CALLS = 300
HANG_CALLS = 10


def bench_prices(stack: Stack, args: argparse.Namespace) -> dict[str, Figures]:
    """``prices.get`` through the bus against the same SOAP call straight to the simulator."""
    sim = httpx.Client(base_url=stack.sim_url, timeout=30)
    headers = {"Authorization": f"Bearer {DEV_KEYS['storefront']}"}
    soap_url = "/DynamicsNAV110/WS/CRONUS/Codeunit/B2BPricing"
    namespace = "urn:microsoft-dynamics-schemas/codeunit/B2BPricing"
    with httpx.Client(timeout=30, headers=headers) as client:

        def via_bus(n: int) -> float:
            params = {"customer": "10000", "items": [{"item": "1000", "quantity": n + 1}]}
            body = {"jsonrpc": "2.0", "id": n, "method": "prices.get", "params": params}
            started = time.perf_counter()
            client.post(f"{stack.api_url}/rpc", json=body).raise_for_status()
            return (time.perf_counter() - started) * 1000

        def direct(n: int) -> float:
            envelope = (
                '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
                f'<soap:Body><GetCustomerPrices xmlns="{namespace}"><customerNo>10000</customerNo>'
                f"<lines>1000:{n + 1}</lines></GetCustomerPrices></soap:Body></soap:Envelope>"
            )
            started = time.perf_counter()
            sim.post(
                soap_url,
                content=envelope,
                auth=("bus", "bus-secret"),
                headers={
                    "Content-Type": "text/xml; charset=utf-8",
                    "SOAPAction": f'"{namespace}:GetCustomerPrices"',
                },
            ).raise_for_status()
            return (time.perf_counter() - started) * 1000

        via_bus(0)  # the first call opens connections
        bus_ms = [via_bus(n) for n in range(1, PRICE_CALLS)]
        direct_ms = [direct(n) for n in range(1, PRICE_CALLS)]
        sim.post("/_control/faults", json={"mode": "slow", "delay": 30}).raise_for_status()
        hang_ms = [via_bus(100_000 + n) for n in range(HANG_CALLS)]
        sim.delete("/_control/faults")
    sim.close()
    budget_ms = float(stack.env.get("BUS_PRICES__BUDGET", "2.0")) * 1000
    return {
        "bus": {**percentiles(bus_ms, len(bus_ms)), "hang_max_ms": max(hang_ms)},
        "baseline": {**percentiles(direct_ms, len(direct_ms)), "hang_max_ms": budget_ms},
    }


BENCHES: dict[str, Callable[[Stack, argparse.Namespace], dict[str, Figures]]] = {
    "accept": bench_accept,
    "deliver": bench_deliver,
    "latency": bench_latency,
    "prices": bench_prices,
}


def bench_listings(args: argparse.Namespace) -> dict[str, Figures]:
    """Each listing on a journal of ``--listing-messages`` messages, next to an empty journal."""
    return {
        "bus": _listings(args.listing_messages, args.repeat),
        "baseline": _listings(0, args.repeat),
    }


def _listings(count: int, repeat: int) -> Figures:
    with fresh_postgres_database() as database_url:
        upgrade(database_url)
        return asyncio.run(_fill_and_list(database_url, count, repeat))


async def _fill_and_list(database_url: str, count: int, repeat: int) -> Figures:
    from bench import journal_listings

    engine = create_engine(database_url)
    try:
        if count:
            await journal_listings._fill(engine, count)
        figures = await journal_listings._measure(engine, count, repeat)
    finally:
        await engine.dispose()
    return {f"{name} ms": ms for name, ms, _ in figures}


def bench_isolation(args: argparse.Namespace) -> dict[str, Figures]:
    """A NAV order behind a Bitrix24 backlog, and provisioning during a Bitrix24 burst of
    ``--burst-orders``, next to both on an idle bus."""
    if importlib.util.find_spec("bench.isolation") is None:
        print("\nisolation: not measured here (this tree has no bench.isolation)")
        return {}
    from bench import isolation

    burst = argparse.Namespace(orders=args.burst_orders, workers=1, bitrix24_threads=0)
    figures = isolation.run(burst)
    return {
        "bus": {
            "nav_order_s": figures["nav_behind_backlog_s"],
            "provisioning_s": figures["provisioning_burst_s"],
            "provisioning_facing_s": figures["provisioning_burst_facing_s"],
        },
        "baseline": {
            "nav_order_s": figures["nav_idle_s"],
            "provisioning_s": figures["provisioning_idle_s"],
            "provisioning_facing_s": figures["provisioning_idle_facing_s"],
        },
    }


#: Benches that make their own journal and processes.
STANDALONE: dict[str, Callable[[argparse.Namespace], dict[str, Figures]]] = {
    "listings": bench_listings,
    "isolation": bench_isolation,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("which", nargs="?", default="all", choices=[*BENCHES, *STANDALONE, "all"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--latency-orders", type=int, default=200)
    parser.add_argument("--listing-messages", type=int, default=1_000_000)
    parser.add_argument("--burst-orders", type=int, default=100)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for name in [*BENCHES, *STANDALONE] if args.which == "all" else [args.which]:
        if name in STANDALONE:
            if figures := STANDALONE[name](args):
                results[name] = figures
                report(name, figures)
            continue
        with fresh_postgres_database() as database_url, tempfile.TemporaryDirectory() as logs:
            namespace = f"bench-{uuid.uuid4().hex[:8]}"
            stack = Stack(
                {
                    "BUS_DATABASE_URL": database_url,
                    "BUS_REDIS_URL": REDIS_URL,
                    "BUS_REDIS_NAMESPACE": namespace,
                    # The benchmarks measure delivery to the ERP; a CRM step would pace it.
                    "BUS_ORDER_ROUTES": '[{"name": "erp", "steps": ["erp:sales_order.create"]}]',
                    # Every prices.get call passes through (the bench varies the quantity too).
                    "BUS_PRICES__CACHE_TTL": "0",
                    # One client sends everything here, as fast as it can: the edge's per-client
                    # limits would measure themselves, not the bus.
                    "BUS_LIMITS__CLIENT_RATE": "1000000",
                    "BUS_LIMITS__CLIENT_BURST": "1000000",
                    "BUS_LIMITS__CLIENT_CONCURRENCY": "100000",
                },
                Path(logs),
            )
            try:
                stack.start_simulator()
                stack.start_api()
                results[name] = BENCHES[name](stack, args)
            finally:
                stack.stop()
                clear_namespace(namespace)
        report(name, results[name])
    if args.which == "all":
        print_table(results)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    print(f"\nfigures written to {out}")


def clear_namespace(namespace: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{namespace}*"):
        client.delete(key)
    client.close()


def report(name: str, figures: dict[str, Figures]) -> None:
    """Each figure of the bus next to each peer's (``baseline``, ``celery``), with the ratio."""
    print(f"\n{name}: median of runs")
    bus = figures["bus"]
    peers = [peer for peer in figures if peer != "bus"]
    width = max(len(key) for key in bus)
    for key in bus:
        line = f"  {key:>{width}}  bus {bus[key]:10.1f}"
        for peer in peers:
            base = figures[peer].get(key, float("nan"))
            ratio = bus[key] / base if base else float("nan")
            line += f"   {peer} {base:10.1f}  ratio {ratio:5.2f}"
        print(line)


#: The rows of issue 13's table: (figure, bench, the bus's key, peer, the peer's key, baseline).
TABLE = [
    (
        "accepted order.submit/s per API process",
        "accept",
        "per_s",
        "baseline",
        "per_s",
        "aiohttp + jsonrpcserver, constant",
    ),
    (
        "accepted order.submit/s, bus serve --processes 2 (one port)",
        "accept",
        "per_s_2_processes",
        "bus",
        "per_s",
        "one API process",
    ),
    (
        "delivered/s per worker process",
        "deliver",
        "per_s",
        "baseline",
        "per_s",
        "bare dramatiq actor, one httpx POST",
    ),
    (
        "delivered/s per worker process, vs Celery",
        "deliver",
        "per_s",
        "celery",
        "per_s",
        "Celery task: Redis, retries, 8 threads, one POST",
    ),
    (
        "NAV order behind a Bitrix24 backlog (s)",
        "isolation",
        "nav_order_s",
        "baseline",
        "nav_order_s",
        "NAV idle",
    ),
    (
        "provisioning during a Bitrix24 burst: user and mail (s)",
        "isolation",
        "provisioning_facing_s",
        "baseline",
        "provisioning_facing_s",
        "idle",
    ),
    (
        "  every step, its Bitrix24 comment included (s)",
        "isolation",
        "provisioning_s",
        "baseline",
        "provisioning_s",
        "idle",
    ),
    (
        "messages list --stuck at N messages (ms)",
        "listings",
        "--stuck ms",
        "baseline",
        "--stuck ms",
        "empty journal",
    ),
    (
        "messages list --method, no match (ms)",
        "listings",
        "--method (no match) ms",
        "baseline",
        "--method (no match) ms",
        "empty journal",
    ),
    (
        "messages list --error, no match (ms)",
        "listings",
        "--error (no match) ms",
        "baseline",
        "--error (no match) ms",
        "empty journal",
    ),
    (
        "worker process CPU per delivered order (µs)",
        "deliver",
        "worker_cpu_us",
        "baseline",
        "worker_cpu_us",
        "bare dramatiq actor",
    ),
    (
        "  as a multiple of the simulator's",
        "deliver",
        "worker_per_simulator",
        "baseline",
        "worker_per_simulator",
        "bare dramatiq actor",
    ),
    ("journal's PostgreSQL CPU per delivered order (µs)", "deliver", "journal_cpu_us", "", "", ""),
    (
        "CPU of every process per delivered order (µs)",
        "deliver",
        "all_cpu_us",
        "baseline",
        "all_cpu_us",
        "bare dramatiq actor",
    ),
    ("journal per delivered message (KB)", "deliver", "journal_kb_per_msg", "", "", ""),
    ("  of which attempt bodies (%)", "deliver", "bodies_pct", "", "", ""),
]


def print_table(results: dict[str, dict[str, Figures]]) -> None:
    """Issue 13's table: each figure the run measured next to its baseline, with the ratio."""
    print("\n| figure | bus | baseline | ratio |\n|---|---|---|---|")
    for figure, bench, key, peer, peer_key, baseline in TABLE:
        if bench not in results:
            continue
        bus = results[bench]["bus"][key]
        if not peer:
            print(f"| {figure} | {_figure(bus)} | | |")
            continue
        base = results[bench][peer][peer_key]
        ratio = f"{bus / base:.2f}×" if base else ""
        print(f"| {figure} | {_figure(bus)} | {_figure(base)} ({baseline}) | {ratio} |")


def _figure(value: float) -> str:
    """Three significant digits or more: 1,234 / 98.7 / 0.039."""
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2g}" if value < 1 else f"{value:.2f}"


if __name__ == "__main__":
    main()
