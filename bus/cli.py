"""The ``bus`` command: run the bus, its workers and simulators; find and replay messages."""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import getpass
import json
import logging
import multiprocessing
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import tenacity
import typer
from aiohttp import web
from alembic.util.exc import CommandError
from rich.console import Console
from rich.table import Table

from bus import logs, operations, redaction, sandbox
from bus.configuration import ConfigurationError, load
from bus.db import create_engine, journal_unreachable
from bus.journal.deadlines import Deadlines
from bus.journal.ids import utcnow
from bus.journal.queries import MessageFilter
from bus.journal.retention import Retention, find_archived, read_archive
from bus.journal.tables import Status
from bus.migrate import ensure_schema, schema_state, upgrade, upgrade_reporting
from bus.route_check import unserved_steps
from bus.settings import DEV_KEYS, Settings

# Plain tracebacks: rich's "show locals" would print settings, and with them secrets.
app = typer.Typer(
    help="A JSON-RPC 2.0 integration bus for B2B wholesale.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The journal's database schema.", no_args_is_help=True)
messages_app = typer.Typer(help="Find, inspect, replay and cancel messages.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(messages_app, name="messages")
secrets_app = typer.Typer(help="The secrets the journal keeps, encrypted.", no_args_is_help=True)
app.add_typer(secrets_app, name="secrets")
config_app = typer.Typer(help="The bus's configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")
journal_app = typer.Typer(help="The journal's size: retention and archives.", no_args_is_help=True)
app.add_typer(journal_app, name="journal")
console = Console()
T = TypeVar("T")

#: Seconds a worker process may take to exit beyond its grace period (interpreter teardown).
_CHILD_EXIT_MARGIN = 10.0

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ReasonOpt = Annotated[str, typer.Option(help="Why: kept with the message.")]
ByOpt = Annotated[str | None, typer.Option(help="Who (default: the OS user).")]


def main() -> None:
    """Entry point of the ``bus`` console script."""
    app()


def _settings(**values: Any) -> Settings:
    """The deployment's settings (``values`` over what it configures). A mistake in them ends
    the command (exit 2) with one line per mistake, naming the setting or variable, never a
    traceback."""
    try:
        settings = load(Settings, **values)
    except ConfigurationError as error:
        _configuration_failed(error.problems)
    # A route's step no adapter performs would fail at every delivery: it stops the start.
    if unserved := unserved_steps(settings):
        _configuration_failed(unserved)
    redaction.configure(settings)  # what this process logs and prints hides its secrets
    logs.use_format(settings.log_format)
    return settings


def _configuration_failed(problems: Sequence[str]) -> NoReturn:
    """End the command (exit 2) with one line per problem."""
    for problem in problems:
        typer.echo(f"bus: configuration: {problem}", err=True)
    raise typer.Exit(2) from None


def _logging(level: str = "INFO") -> None:
    logs.configure(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    redaction.redact_logging()


def _prepare_schema(settings: Settings, migrate: bool | None) -> None:
    state = asyncio.run(schema_state(settings.database_url))
    if not state.known:
        _refuse_start(f"bus serve refuses to start: {state.unknown()}")
    if not state.behind:
        return
    if migrate or (migrate is None and not settings.is_postgres):
        upgrade(settings.database_url)
    else:
        _refuse_start(
            f"bus serve refuses to start: the journal's schema is at revision"
            f" {state.current or 'none'} and this bus needs {state.head}: run `bus db upgrade`"
            " first (or bus serve --migrate)"
        )


def _refuse_start(line: str) -> NoReturn:
    """End a command at its start (exit 2) with one line saying why: restarting it as it is
    would not help."""
    logging.getLogger("bus").error("%s", line)
    raise typer.Exit(2)


def _when_journal_answers(settings: Settings, work: Callable[[], T]) -> T:
    """Run ``work`` (which needs the journal), again while the journal cannot be reached.

    PostgreSQL starting (or restarting, or not up yet when everything starts together) is not a
    reason to exit: every failure is logged and tried again, for up to ``startup_wait`` seconds in
    all. Past that the command exits 1, saying why. Any other error ends it at once.
    """
    log = logging.getLogger("bus")
    wait = settings.startup_wait

    def report(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        pause = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "the journal cannot be reached (%s); trying again in %.1fs (waiting up to %gs)",
            _first_line(error),
            pause,
            wait,
        )

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(journal_unreachable),
        stop=tenacity.stop_before_delay(wait),
        wait=tenacity.wait_exponential(multiplier=0.25, max=5),
        before_sleep=report,
        reraise=True,
    )
    try:
        result = retrying(work)
    except Exception as error:
        if not journal_unreachable(error):
            raise
        log.error("the journal is still unreachable after %gs: %s", wait, _first_line(error))
        raise typer.Exit(1) from None
    if retrying.statistics.get("attempt_number", 1) > 1:
        log.info("the journal answers")
    return result


def _require_own_secrets(settings: Settings, command: str, *, edge: bool) -> None:
    """Refuse to run with a secret the bus ships with, unless this is a development bus.

    The shipped keys, tokens and passwords are public (they are in the bus's source): a bus that
    listens with them lets anyone in as any client. Outside development (``bus up``, ``bus demo``
    or ``development``) the command exits 2 with one line naming every setting to fill.
    """
    shipped = settings.shipped_secrets(edge=edge)
    if not shipped:
        return
    log = logging.getLogger("bus")
    if settings.development:
        log.warning(
            "development bus: the shipped (public) values of %s are in use", ", ".join(shipped)
        )
        return
    log.error(
        "%s refuses to start: %s still hold the values shipped with the bus, which are public;"
        " set each one (in the BUS_CONFIG file or as BUS_* variables, e.g. navision.password as"
        " BUS_NAVISION__PASSWORD), or set BUS_DEVELOPMENT=true for a development bus",
        command,
        ", ".join(shipped),
    )
    raise typer.Exit(2)


def _first_line(error: BaseException | None) -> str:
    """``Type: first line``; SQLAlchemy's messages go on with the statement and its values."""
    if error is None:
        return "no error"
    return f"{type(error).__name__}: {(str(error).splitlines() or [''])[0][:200]}"


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
) -> None:
    """Serve the JSON-RPC API (with the embedded queue, also deliver)."""
    _logging()
    settings = _settings()
    _require_own_secrets(settings, "bus serve", edge=True)
    _when_journal_answers(settings, lambda: _prepare_schema(settings, migrate))
    from bus.app import create_app, server_options

    address = f"{host or settings.host}:{port or settings.port}"
    listening = threading.Event()

    def started(_: str) -> None:
        # aiohttp calls this once every site listens: the one line saying where.
        listening.set()
        logging.getLogger("bus").info("listening on http://%s (JSON-RPC at /rpc)", address)

    try:
        web.run_app(
            create_app(settings),
            host=host or settings.host,
            port=port or settings.port,
            access_log=None,
            print=started,
            **server_options(settings),
        )
    except OSError as error:
        if listening.is_set() or error.errno not in _BIND_ERRORS:
            raise
        logging.getLogger("bus").error(
            "bus serve cannot listen on %s: %s", address, _BIND_ERRORS[error.errno]
        )
        raise typer.Exit(1) from None


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
) -> None:
    """Deliver messages from the Redis queue (and sweep) until stopped."""
    _logging()
    settings = _settings()
    _require_own_secrets(settings, "bus worker", edge=False)
    if not settings.redis_url:
        _refuse_start(
            "bus worker refuses to start: it takes messages from Redis and redis_url"
            " (BUS_REDIS_URL) is not set; without Redis, bus serve delivers them itself"
        )
    _when_journal_answers(settings, lambda: asyncio.run(_ping(settings.database_url)))
    if processes == 1:
        _run_worker(settings)
        return
    children = [
        multiprocessing.get_context("spawn").Process(target=_worker_process, args=(index,))
        for index in range(processes)
    ]
    for child in children:
        child.start()
    _wait_for_signal()
    _stop_children(children, settings)


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
            logging.getLogger("bus").warning("worker process %s did not stop; killed", child.pid)
            child.kill()
            child.join()


def _worker_process(index: int) -> None:
    _logging()
    _run_worker(_settings(), index)


def _run_worker(settings: Settings, index: int = 0) -> None:
    """Deliver and sweep until a signal; ``index``: the process's number among ``--processes``
    (its metrics port is ``metrics.worker_port + index``)."""
    from bus.queues.broker import build_broker
    from bus.queues.sweeper import Sweeper
    from bus.queues.worker import start_worker

    if settings.metrics.worker_port is not None:
        _serve_worker_metrics(settings.metrics.worker_host, settings.metrics.worker_port + index)
    broker = build_broker(settings)
    delivery = start_worker(settings, broker)
    sweeper = Sweeper(settings, broker)
    sweeper.start()
    logging.getLogger("bus").info("worker started (%d threads)", settings.queue.worker_threads)
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


def _wait_for_signal() -> None:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()


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
    _logging()
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
    _logging()
    from simulators import SIMULATORS

    ports = {name: p for name, p in sandbox.DEFAULT_PORTS.items() if name in SIMULATORS}
    settings = _settings(erp=erp, crm=crm, port=port, **sandbox.settings_for(ports))
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


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Bring the journal's schema up to date, saying from which revision to which."""
    _logging()
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the line printed says what was done
    settings = _settings()
    state = _when_journal_answers(
        settings, lambda: asyncio.run(schema_state(settings.database_url))
    )
    if not state.known:
        _refuse_start(f"bus db upgrade: {state.unknown()}")
    try:
        done = upgrade_reporting(settings.database_url, revision)
    except CommandError as error:  # a revision this bus does not have
        _refuse_start(f"bus db upgrade: {_first_line(error).removeprefix('CommandError: ')}")
    typer.echo(done.describe())


@config_app.command("sample")
def config_sample() -> None:
    """Print a configuration file with every setting at its default, described (secrets as
    comments naming their variables): deploy/bus.example.toml is this."""
    from bus.config_sample import sample

    typer.echo(sample(), nl=False)


@config_app.command("check")
def config_check() -> None:
    """Read the configuration (BUS_CONFIG and BUS_* variables) and say whether bus serve can
    start on it: exit 0 and a summary, or exit 2 and a line per mistake."""
    import os

    settings = _settings()
    _require_own_secrets(settings, "bus serve", edge=True)
    source = os.environ.get("BUS_CONFIG") or "no BUS_CONFIG file"
    queue = "Redis" if settings.redis_url else "embedded"
    journal = "PostgreSQL" if settings.is_postgres else "SQLite"
    typer.echo(
        f"configuration ok ({source}): ERP {settings.erp}, CRM {settings.crm}, journal {journal},"
        f" queue {queue}, listening on {settings.host}:{settings.port}"
    )


@secrets_app.command("reencrypt")
def secrets_reencrypt() -> None:
    """Encrypt every secret the journal keeps under the first journal encryption key (after a
    new key was put first; then the old one can be dropped)."""
    from bus.journal.credentials import reencrypt
    from bus.sealing import Sealer

    sealer = Sealer.from_settings(_settings())
    counts = _with_engine(lambda engine: reencrypt(engine, sealer))
    console.print(
        f"re-encrypted {counts['credentials']} credentials and the sealed values of"
        f" {counts['results']} message results under the first key"
    )


def _with_engine(work: Callable[[Any], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = create_engine(_settings().database_url, null_pool=True)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _filter(
    status: list[str] | None,
    method: str | None,
    target: str | None,
    key: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    error: str | None,
    stuck: bool = False,
) -> MessageFilter | None:
    """The filter the options describe; ``None`` when no option was given."""
    if not any([status, method, target, key, since, until, error, stuck]):
        return None
    valid = {s.value for s in Status}
    for value in status or []:
        if value not in valid:
            raise typer.BadParameter(f"unknown status {value!r}; choose from {sorted(valid)}")
    utc = [
        None if t is None else (t if t.tzinfo else t.replace(tzinfo=dt.UTC)) for t in (since, until)
    ]
    return MessageFilter(
        statuses=tuple(status or ()),
        method=method,
        target=target,
        ordering_key=key,
        since=utc[0],
        until=utc[1],
        error_contains=error,
        condition=Deadlines.of(_settings()).stuck(utcnow()) if stuck else None,
    )


StatusOpt = Annotated[list[str] | None, typer.Option("--status", help="Repeatable.")]
MethodOpt = Annotated[str | None, typer.Option(help="e.g. order.submit")]
TargetOpt = Annotated[str | None, typer.Option(help="e.g. navision")]
KeyOpt = Annotated[str | None, typer.Option("--key", help="Ordering key, e.g. order:A-1007")]
SinceOpt = Annotated[dt.datetime | None, typer.Option(help="Accepted at or after (UTC).")]
UntilOpt = Annotated[dt.datetime | None, typer.Option(help="Accepted before (UTC).")]
ErrorOpt = Annotated[str | None, typer.Option("--error", help="Text in the last error.")]


@messages_app.command("list")
def messages_list(
    status: StatusOpt = None,
    method: MethodOpt = None,
    target: TargetOpt = None,
    key: KeyOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    error: ErrorOpt = None,
    stuck: Annotated[
        bool, typer.Option("--stuck", help="Requests past their deadline, neither done nor failed.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """List messages, newest first."""
    where = _filter(status, method, target, key, since, until, error, stuck) or MessageFilter()
    found = _shown(_with_engine(lambda engine: operations.find(engine, where, limit)))
    if as_json:
        _print_json([_summary(m) for m in found])
        return
    table = Table()
    # Ids and statuses stay whole however narrow the terminal: they are what gets copied.
    table.add_column("id", no_wrap=True, min_width=26)
    table.add_column("status", no_wrap=True)
    for title in ("method", "target", "key", "tries", "accepted (UTC)", "last error"):
        table.add_column(title, overflow="fold")
    for m in found:
        table.add_row(
            m["id"],
            m["status"],
            m["method"],
            m["target"],
            m["ordering_key"] or "",
            str(m["attempts_total"]),
            m["accepted_at"].strftime("%Y-%m-%d %H:%M:%S"),
            (m["last_error"] or "")[:60],
        )
    console.print(table)


@messages_app.command("show")
def messages_show(message_id: str, as_json: JsonOption = False) -> None:
    """Show one message: payload, result, every attempt and operator action."""
    message = _with_engine(lambda engine: operations.show(engine, message_id))
    if message is None:
        archived = find_archived(Path(_settings().retention.archive_dir), message_id)
        if archived is None:
            console.print(f"[red]no message {message_id}[/] (in the journal or its archives)")
            raise typer.Exit(1)
        _print_archived(archived, as_json)
        return
    message = _shown(message)
    if as_json:
        _print_json(message)
        return
    summary = _summary(message)
    for field in (
        "id",
        "status",
        "method",
        "source",
        "target",
        "operation",
        "ordering_key",
        "attempts",
        "accepted_at",
        "updated_at",
        "next_attempt_at",
        "last_error",
    ):
        console.print(f"[bold]{field:>16}[/] {summary.get(field)}")
    if message.get("blocked_by"):
        blocker = message["blocked_by"]
        console.print(
            f"[bold]{'blocked by':>16}[/] {blocker['id']} ({blocker['status']}): replay or cancel"
            " it to move this key on"
        )
    console.print("[bold]         payload[/]", json.dumps(message["payload"], ensure_ascii=False))
    console.print("[bold]          result[/]", json.dumps(message["result"], ensure_ascii=False))
    table = Table("#", "started", "ms", "outcome", "http", "error")
    for a in message["attempts_log"]:
        table.add_row(
            str(a["number"]),
            a["started_at"].strftime("%H:%M:%S.%f")[:-3],
            f"{a['duration_ms']:.0f}",
            a["outcome"],
            str(a["http_status"] or ""),
            a["error"] or "",
        )
    console.print(table)
    for action in message["actions"]:
        console.print(
            f"{action['at']:%Y-%m-%d %H:%M:%S} {action['action']} by {action['actor']} "
            f"(was {action['from_status']}): {action['reason']}"
        )


@messages_app.command("replay")
def messages_replay(
    message_ids: Annotated[list[str] | None, typer.Argument(help="Ids to replay.")] = None,
    reason: ReasonOpt = "",
    by: ByOpt = None,
    status: StatusOpt = None,
    method: MethodOpt = None,
    target: TargetOpt = None,
    key: KeyOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    error: ErrorOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 1000,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show what would be replayed.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Replay a filtered selection.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Replay messages by id, or every message matching filters (``--dry-run`` or ``--yes``)."""
    where = _filter(status, method, target, key, since, until, error)
    ids = _selection(message_ids, where, limit, dry_run, yes, as_json)
    if ids is None:
        return
    _act(operations.replay, ids, reason, by, as_json)


@messages_app.command("release")
def messages_release(
    message_ids: Annotated[list[str], typer.Argument(help="Ids of held messages.")],
    reason: ReasonOpt = "",
    by: ByOpt = None,
    as_json: JsonOption = False,
) -> None:
    """Let held messages through now; an open breaker probes its target with the first."""
    _act(operations.release, message_ids, reason, by, as_json)


@messages_app.command("cancel")
def messages_cancel(
    message_ids: Annotated[list[str], typer.Argument(help="Ids to cancel.")],
    reason: ReasonOpt = "",
    by: ByOpt = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel messages that were not delivered; the next message of their key runs."""
    _act(operations.cancel, message_ids, reason, by, as_json)


def _act(
    action: operations.Action, message_ids: list[str], reason: str, by: str | None, as_json: bool
) -> None:
    """Run an operator action on each message, recorded with who and why; print the results."""
    _require_reason(reason)
    actor = by or getpass.getuser()
    results = _with_engine(
        lambda engine: action(_settings(), engine, message_ids, actor=actor, reason=reason)
    )
    _print_results(results, as_json)


def _selection(
    message_ids: list[str] | None,
    where: MessageFilter | None,
    limit: int,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> list[str] | None:
    """The ids to act on; ``None`` when this was a dry run (already printed)."""
    if message_ids and where:
        raise typer.BadParameter("give message ids or filters, not both")
    if not message_ids and not where:
        raise typer.BadParameter("give message ids, or filters such as --status failed")
    if message_ids and not dry_run:
        return message_ids
    where = where or MessageFilter(ids=tuple(message_ids or ()))
    found = _with_engine(lambda engine: operations.find(engine, where, limit))
    if dry_run or not yes:
        if as_json:
            _print_json({"dry_run": True, "would_replay": [_summary(m) for m in found]})
        else:
            console.print(
                f"{len(found)} message(s) match; nothing replayed "
                f"({'dry run' if dry_run else 'add --yes to replay them'}):"
            )
            for m in found:
                console.print(f"  {m['id']} {m['status']} {m['method']} {m['last_error'] or ''}")
        if not dry_run:
            raise typer.Exit(2)
        return None
    return [m["id"] for m in found]


def _require_reason(reason: str) -> None:
    if not reason.strip():
        raise typer.BadParameter("say why with --reason: it is kept with the message")


def _print_results(results: list[operations.ActionResult], as_json: bool) -> None:
    if as_json:
        _print_json([r.__dict__ for r in results])
    else:
        for r in results:
            mark = "[green]ok[/]" if r.ok else "[red]refused[/]"
            console.print(f"{r.message_id} {mark} {r.status or r.error}")
    if not all(r.ok for r in results):
        raise typer.Exit(1)


def _summary(message: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "id",
        "status",
        "method",
        "source",
        "target",
        "operation",
        "ordering_key",
        "ordering_seq",
        "attempts_total",
        "accepted_at",
        "updated_at",
        "next_attempt_at",
        "last_error",
        "result",
        "correlation_id",
        "parent_id",
    )
    summary = {k: message.get(k) for k in keys}
    summary["attempts"] = summary.pop("attempts_total")
    return summary


def _shown(found: T) -> T:
    """What the journal holds as the CLI may print it: every secret redacted (sealed values
    and fields named as secrets hidden), whatever recorded it."""
    shown: T = redaction.active().json(found)
    return shown


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(_shown(value), default=_jsonable, ensure_ascii=False, indent=2))


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime | dt.date) else str(value)


def _duration(text: str) -> dt.timedelta:
    """``30d``, ``12h``, ``90m``, ``45s`` or plain seconds."""
    units = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
    number, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "s")
    try:
        seconds = float(number) * units[unit]
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a duration such as 30d, 12h, 90m or 45s"
        ) from None
    if seconds <= 0:
        raise typer.BadParameter(f"{text!r}: the age must be more than zero")
    return dt.timedelta(seconds=seconds)


@journal_app.command("prune")
def journal_prune(
    older_than: Annotated[
        str | None,
        typer.Option(help="Age of a finished route, e.g. 30d (default: retention.older_than)."),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, max=10_000, help="Routes per commit.")
    ] = None,
    archive_dir: Annotated[
        Path | None, typer.Option(help="Where archives go (default: retention.archive_dir).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would go; change nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Archive and delete routes whose every message is delivered or cancelled, unchanged for
    the age; nothing of a route with any other message is touched."""
    retention = _settings().retention
    age = _duration(older_than) if older_than else dt.timedelta(seconds=retention.older_than)
    plan = Retention(
        older_than=age,
        batch_size=batch_size or retention.batch_size,
        archive_dir=None if dry_run else (archive_dir or Path(retention.archive_dir)),
    )
    report = _with_engine(plan.prune)
    if as_json:
        _print_json({"dry_run": dry_run, **report.__dict__})
    else:
        typer.echo(report.describe(dry_run=dry_run))
    if report.interrupted:
        raise typer.Exit(1)


@journal_app.command("archive")
def journal_archive(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="An archive file.")],
    message: Annotated[str | None, typer.Option(help="Only this message id.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Show the messages of an archive (``journal-YYYY-MM-DD.jsonl.gz``), or one of them."""
    found = 0
    for entry in read_archive(path, message_id=message):
        found += 1
        _print_archived(entry, as_json)
    if message is not None and not found:
        console.print(f"[red]no message {message} in {path}[/]")
        raise typer.Exit(1)


def _print_archived(entry: dict[str, Any], as_json: bool) -> None:
    """One archived message: JSON, or a line of its own and its attempts."""
    if as_json:
        _print_json(entry)
        return
    entry = _shown(entry)
    m = entry["message"]
    console.print(
        f"{m['id']} {m['status']} {m['method']} -> {m['target']} accepted {m['accepted_at']}"
        f" (archived {entry['archived_at']}, route {entry['route']})"
    )
    for a in entry["attempts"]:
        console.print(
            f"  #{a['number']} {a['started_at']} {a['outcome']} {a['http_status'] or ''}"
            f" {a['error'] or ''}".rstrip()
        )
