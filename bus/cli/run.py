"""Running the bus: ``serve``, ``worker``, ``simulate``, ``up`` and ``demo``."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import multiprocessing
import signal
import socket
import threading
import time
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from typing import Annotated

import typer
from aiohttp import web

from bus import redaction, sandbox
from bus.cli.common import (
    app,
    console,
    load_settings,
    refuse_start,
    require_own_secrets,
    setup_logging,
    when_journal_answers,
)
from bus.db import create_engine
from bus.event_loops import new_event_loop
from bus.heap import settle
from bus.migrate import ensure_schema, schema_state, upgrade
from bus.settings import DEV_KEYS, Settings

#: Seconds a worker process may take to exit beyond its grace period (interpreter teardown).
_CHILD_EXIT_MARGIN = 10.0


def _prepare_schema(settings: Settings, migrate: bool | None) -> None:
    state = asyncio.run(schema_state(settings.database_url))
    if not state.known:
        refuse_start(f"bus serve refuses to start: {state.unknown()}")
    if not state.behind:
        return
    if migrate or (migrate is None and not settings.is_postgres):
        upgrade(settings.database_url)
    else:
        refuse_start(
            f"bus serve refuses to start: the journal's schema is at revision"
            f" {state.current or 'none'} and this bus needs {state.head}: run `bus db upgrade`"
            " first (or bus serve --migrate)"
        )


async def _ping(database_url: str) -> None:
    engine = create_engine(database_url, null_pool=True)
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")
    finally:
        await engine.dispose()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    migrate: Annotated[
        bool | None,
        typer.Option(
            "--migrate/--no-migrate", help="Upgrade the schema first (default: SQLite only)."
        ),
    ] = None,
    processes: Annotated[
        int,
        typer.Option(
            min=1,
            help="API processes sharing the port (SO_REUSEPORT); more than one needs Redis.",
        ),
    ] = 1,
) -> None:
    """Serve the JSON-RPC API (with the embedded queue, also deliver)."""
    setup_logging()
    settings = load_settings()
    require_own_secrets(settings, "bus serve", edge=True)
    if processes > 1 and not settings.redis_url:
        refuse_start(
            "bus serve refuses to start: --processes needs Redis (BUS_REDIS_URL); with the"
            " embedded queue each process would deliver only what it accepted itself"
        )
    if processes == 1:
        # the port first: one taken ends the start before the schema or the worker is touched
        sockets = _listen(settings, host, port)
        when_journal_answers(settings, lambda: _prepare_schema(settings, migrate))
        _serve(settings, sockets)
        return
    when_journal_answers(settings, lambda: _prepare_schema(settings, migrate))
    # Each process binds the same address with SO_REUSEPORT: the kernel spreads connections
    # over them. They share nothing but the journal and Redis, as processes on several
    # machines behind one load balancer do.
    spawn = multiprocessing.get_context("spawn")
    _supervise(
        [spawn.Process(target=_serve_process, args=(host, port)) for _ in range(processes)],
        settings,
    )


def _serve_process(host: str | None, port: int | None) -> None:
    setup_logging()
    settings = load_settings()
    _serve(settings, _listen(settings, host, port, reuse_port=True))


def _listen(
    settings: Settings, host: str | None, port: int | None, reuse_port: bool = False
) -> list[socket.socket]:
    """The sockets ``bus serve`` listens on, bound now: an address it cannot have ends the
    process (exit 1) with one line saying why, before anything else starts."""
    host, port = host or settings.host, port or settings.port
    bound: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        ):
            listener = socket.socket(family, kind, proto)
            bound.append(listener)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:  # as asyncio does: the IPv4 address is bound apart
                listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            listener.bind(address)
    except OSError as error:
        for listener in bound:
            listener.close()
        if error.errno not in _BIND_ERRORS:
            raise
        logging.getLogger("bus").error(
            "bus serve cannot listen on %s:%s: %s", host, port, _BIND_ERRORS[error.errno]
        )
        raise typer.Exit(1) from None
    return bound


def _serve(settings: Settings, sockets: list[socket.socket]) -> None:
    """Serve the API in this process on ``sockets`` (:func:`_listen`) until a signal."""
    from bus.app import create_app, server_options

    def started(_: str) -> None:
        # aiohttp calls this once every site listens: the one line saying where; what the
        # started process holds is kept from now on (bus.heap).
        settle()
        for listener in sockets:
            host, port = listener.getsockname()[:2]
            shown = f"[{host}]" if listener.family == socket.AF_INET6 else host
            logging.getLogger("bus").info(
                "listening on http://%s:%s (JSON-RPC at /rpc)", shown, port
            )

    web.run_app(
        create_app(settings),
        sock=sockets,
        access_log=None,
        print=started,
        loop=new_event_loop(),
        **server_options(settings),
    )


#: Why a port cannot be listened on, by errno, as ``bus serve`` says it.
_BIND_ERRORS = {
    errno.EADDRINUSE: "the address is already in use (another process listens there)",
    errno.EACCES: "permission denied (ports below 1024 need privileges)",
    errno.EADDRNOTAVAIL: "no interface of this machine has that address",
    socket.EAI_NONAME: "the host name is not known",
}


@app.command()
def worker(
    processes: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    targets: Annotated[
        str | None,
        typer.Option(
            help="Serve only these targets' queues, comma-separated (navision,onec)."
            " Default: every target's, and the shared queue."
        ),
    ] = None,
) -> None:
    """Deliver messages from the Redis queues (and sweep) until stopped."""
    setup_logging()
    settings = load_settings()
    require_own_secrets(settings, "bus worker", edge=False)
    if not settings.redis_url:
        refuse_start(
            "bus worker refuses to start: it takes messages from Redis and redis_url"
            " (BUS_REDIS_URL) is not set; without Redis, bus serve delivers them itself"
        )
    served = _served_targets(settings, targets)
    when_journal_answers(settings, lambda: asyncio.run(_ping(settings.database_url)))
    if processes == 1:
        _run_worker(settings, targets=served)
        return
    spawn = multiprocessing.get_context("spawn")
    _supervise(
        [spawn.Process(target=_worker_process, args=(i, served)) for i in range(processes)],
        settings,
    )


def _supervise(children: Sequence[BaseProcess], settings: Settings) -> None:
    """Start ``children`` and run until a signal, or until one of them ends by itself; then
    stop the others. Exit 1 when one ended by itself or failed to stop, so that a supervisor
    (systemd's Restart=on-failure) starts the command again."""
    for child in children:
        child.start()
    a_child_ended = _wait_for_signal(children)
    _stop_children(children, settings)
    failed = [child for child in children if child.exitcode not in (0, -signal.SIGTERM)]
    if a_child_ended or failed:
        raise typer.Exit(1)


def _stop_children(children: Sequence[BaseProcess], settings: Settings) -> None:
    """Pass the stop on (SIGTERM): each child finishes its attempts under way and puts its
    prefetched messages back; one still running past the grace period is killed."""
    from bus.queues.worker import stop_grace

    for child in children:
        child.terminate()
    deadline = time.monotonic() + stop_grace(settings) + _CHILD_EXIT_MARGIN
    for child in children:
        child.join(max(0.0, deadline - time.monotonic()))
    for child in children:
        if child.is_alive():  # its leases expire and the sweeper hands its messages on
            logging.getLogger("bus").warning("process %s did not stop; killed", child.pid)
            child.kill()
            child.join()


def _served_targets(settings: Settings, targets: str | None) -> list[str] | None:
    """The targets of ``--targets``; ``None`` (all) without it. One the deployment does not
    have ends the start, naming those it has."""
    from bus.queues.broker import delivery_targets

    if targets is None:
        return None
    named = [target.strip() for target in targets.split(",") if target.strip()]
    known = delivery_targets(settings)
    unknown = [target for target in named if target not in known]
    if unknown or not named:
        refuse_start(
            f"bus worker refuses to start: --targets {targets!r} names"
            f" {', '.join(unknown) or 'no target'}; this deployment's targets are"
            f" {', '.join(known)}"
        )
    return named


def _worker_process(index: int, targets: list[str] | None) -> None:
    setup_logging()
    _run_worker(load_settings(), index, targets)


def _run_worker(settings: Settings, index: int = 0, targets: list[str] | None = None) -> None:
    """Deliver and sweep until a signal; ``index``: the process's number among ``--processes``
    (its metrics port is ``metrics.worker_port + index``); ``targets``: the queues it serves
    (``None``: all)."""
    from bus.queues.broker import build_broker
    from bus.queues.sweeper import Sweeper
    from bus.queues.worker import start_worker

    if settings.metrics.worker_port is not None:
        _serve_worker_metrics(settings.metrics.worker_host, settings.metrics.worker_port + index)
    broker = build_broker(settings)
    delivery = start_worker(settings, broker, targets)
    sweeper = Sweeper(settings, broker)
    sweeper.start()
    settle()
    logging.getLogger("bus").info("worker started")
    _wait_for_signal()
    sweeper.stop()
    delivery.stop()  # lets the attempts under way finish: see bus.queues.worker
    logging.getLogger("bus").info("worker stopped")


def _serve_worker_metrics(host: str, port: int) -> None:
    """Serve the worker's metrics; a port that cannot be listened on ends the start (exit 1)."""
    from bus.metrics import serve_worker_metrics

    try:
        serve_worker_metrics(host, port)
    except OSError as error:
        reason = _BIND_ERRORS.get(error.errno or 0, error.strerror or str(error))
        logging.getLogger("bus").error(
            "bus worker cannot serve its metrics on %s:%d: %s", host, port, reason
        )
        raise typer.Exit(1) from None


def _wait_for_signal(children: Sequence[BaseProcess] = ()) -> bool:
    """Wait for SIGINT or SIGTERM, or for one of ``children`` to end by itself (it could not
    start, or died): the others are then stopped too, rather than serving on short-handed.
    True when a child ended."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(0.5 if children else None):
        if ended := [child for child in children if not child.is_alive()]:
            logging.getLogger("bus").error(
                "process %s ended (exit code %s): stopping the others",
                ended[0].pid,
                ended[0].exitcode,
            )
            return True
    return False


@app.command()
def simulate(
    name: Annotated[str, typer.Argument(help="A simulator name, or 'all'.")] = "all",
    host: str = "127.0.0.1",
    port: Annotated[
        int | None,
        typer.Option(
            help="Port of the first simulator; the others follow it. Default: each its own."
        ),
    ] = None,
    smtp_port: Annotated[int, typer.Option(help="SMTP port of the mail simulator.")] = (
        sandbox.DEFAULT_SMTP_PORT
    ),
) -> None:
    """Run the bundled simulators of the ERP, CRM, storefront and mail."""
    setup_logging()
    from simulators import SIMULATORS

    names = list(SIMULATORS) if name == "all" else [name]
    unknown = [n for n in names if n not in SIMULATORS]
    if unknown:
        raise typer.BadParameter(
            f"unknown simulator {unknown[0]!r}; choose from {sorted(SIMULATORS)}"
        )
    ports = {
        n: sandbox.DEFAULT_PORTS[n] if port is None else port + offset
        for offset, n in enumerate(names)
    }
    asyncio.run(_run_simulators(ports, host, smtp_port))


async def _run_simulators(ports: dict[str, int], host: str, smtp_port: int) -> None:
    runners = await sandbox.start_simulators(ports, host, smtp_port, echo=console.print)
    try:
        await asyncio.Event().wait()
    finally:
        for runner in runners:
            await runner.cleanup()


ERPS = ("navision", "onec")
CRMS = ("bitrix24", "creatio")


@app.command()
def up(
    port: Annotated[int, typer.Option(help="Port of the bus.")] = 8080,
    erp: Annotated[str, typer.Option(help="The ERP: navision or onec.")] = "navision",
    crm: Annotated[str, typer.Option(help="The CRM: bitrix24 or creatio.")] = "bitrix24",
) -> None:
    """Run the bus with every simulator on the embedded default: one command, a working bus."""
    for option, value, allowed in (("--erp", erp, ERPS), ("--crm", crm, CRMS)):
        if value not in allowed:
            raise typer.BadParameter(
                f"{value!r}: choose from {', '.join(allowed)}", param_hint=option
            )
    setup_logging()
    from simulators import SIMULATORS

    ports = {name: p for name, p in sandbox.DEFAULT_PORTS.items() if name in SIMULATORS}
    settings = load_settings(erp=erp, crm=crm, port=port, **sandbox.settings_for(ports))
    ensure_schema(settings.database_url)
    example = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "order.submit",
            "params": {
                "order_id": "A-1",
                "customer": "10000",
                "lines": [{"item": "1000", "quantity": 2}],
            },
        }
    )
    typer.echo(
        f"bus on http://127.0.0.1:{port}/rpc  (ERP {erp}, CRM {crm}; {settings.database_url})"
    )
    typer.echo(
        f"try:  curl -s http://127.0.0.1:{port}/rpc -H 'Authorization: Bearer "
        f"{DEV_KEYS['storefront']}' -d '{example}'"
    )
    asyncio.run(_up(settings, ports))


async def _up(settings: Settings, ports: dict[str, int]) -> None:
    from bus.app import create_app, server_options

    runner = web.AppRunner(create_app(settings), access_log=None, **server_options(settings))
    await runner.setup()
    await web.TCPSite(runner, settings.host, settings.port).start()
    simulators = await sandbox.start_simulators(
        ports, "127.0.0.1", settings.mail.port, echo=console.print
    )
    try:
        if "bitrix24" in ports:
            await asyncio.to_thread(
                sandbox.subscribe_bitrix24,
                f"http://127.0.0.1:{ports['bitrix24']}",
                f"http://{settings.host}:{settings.port}",
                settings.bitrix24.application_token.get_secret_value(),
            )
        await asyncio.Event().wait()
    finally:
        for sim in simulators:
            await sim.cleanup()
        await runner.cleanup()


@app.command()
def demo() -> None:
    """Show every flow once against the simulators (fresh journal, free ports), then stop."""
    from bus.demo import run

    logging.basicConfig(level=logging.WARNING)
    redaction.redact_logging()
    asyncio.run(run(console))
