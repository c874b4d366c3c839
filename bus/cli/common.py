"""What every ``bus`` command shares: the command tree, settings that end the command with one
line per mistake, logging, the journal's engine, and printing what the journal holds redacted."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, NoReturn, TypeVar

import tenacity
import typer
from rich.console import Console

from bus import logs, redaction
from bus.configuration import ConfigurationError, load
from bus.db import create_engine, journal_unreachable
from bus.route_check import unserved_steps
from bus.settings import Settings

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

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ReasonOpt = Annotated[str, typer.Option(help="Why: kept with the message.")]
ByOpt = Annotated[str | None, typer.Option(help="Who (default: the OS user).")]


def load_settings(**values: Any) -> Settings:
    """The deployment's settings (``values`` over what it configures). A mistake in them ends
    the command (exit 2) with one line per mistake, naming the setting or variable, never a
    traceback."""
    try:
        return read_settings(**values)
    except ConfigurationError as error:
        configuration_failed(error.problems)


def read_settings(**values: Any) -> Settings:
    """The deployment's settings, as :func:`load_settings` reads them, for a command that
    reports the mistakes itself (``bus config check --json``).

    Raises:
        ConfigurationError: one line per mistake.
    """
    settings = load(Settings, **values)
    # A route's step no adapter performs would fail at every delivery: it stops the start.
    if unserved := unserved_steps(settings):
        raise ConfigurationError(unserved)
    redaction.configure(settings)  # what this process logs and prints hides its secrets
    logs.use_format(settings.log_format)
    return settings


def configuration_failed(problems: Sequence[str]) -> NoReturn:
    """End the command (exit 2) with one line per problem."""
    for problem in problems:
        typer.echo(f"bus: configuration: {problem}", err=True)
    raise typer.Exit(2) from None


def setup_logging(level: str = "INFO") -> None:
    logs.configure(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    redaction.redact_logging()


def refuse_start(line: str) -> NoReturn:
    """End a command at its start (exit 2) with one line saying why: restarting it as it is
    would not help."""
    logging.getLogger("bus").error("%s", line)
    raise typer.Exit(2)


def when_journal_answers(settings: Settings, work: Callable[[], T]) -> T:
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
            first_line(error),
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
        log.error("the journal is still unreachable after %gs: %s", wait, first_line(error))
        raise typer.Exit(1) from None
    if retrying.statistics.get("attempt_number", 1) > 1:
        log.info("the journal answers")
    return result


def require_own_secrets(settings: Settings, command: str, *, edge: bool) -> None:
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
    log.error("%s", shipped_refusal(settings, command, edge=edge))
    raise typer.Exit(2)


def shipped_refusal(settings: Settings, command: str, *, edge: bool) -> str | None:
    """The line ``command`` refuses to start with because of the shipped secrets it would use
    (see :func:`require_own_secrets`); ``None`` when it would start."""
    shipped = settings.shipped_secrets(edge=edge)
    if not shipped or settings.development:
        return None
    return (
        f"{command} refuses to start: {', '.join(shipped)} still hold the values shipped with"
        " the bus, which are public; set each one (in the BUS_CONFIG file or as BUS_* variables,"
        " e.g. navision.password as BUS_NAVISION__PASSWORD), or set BUS_DEVELOPMENT=true for a"
        " development bus"
    )


def first_line(error: BaseException | None) -> str:
    """``Type: first line``; SQLAlchemy's messages go on with the statement and its values."""
    if error is None:
        return "no error"
    return f"{type(error).__name__}: {(str(error).splitlines() or [''])[0][:200]}"


def with_engine(work: Callable[[Any], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = create_engine(load_settings().database_url, null_pool=True)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def shown(found: T) -> T:
    """What the journal holds as the CLI may print it: every secret redacted (sealed values
    and fields named as secrets hidden), whatever recorded it."""
    shown: T = redaction.active().json(found)
    return shown


def print_json(value: Any) -> None:
    typer.echo(json.dumps(shown(value), default=_jsonable, ensure_ascii=False, indent=2))


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime | dt.date) else str(value)
