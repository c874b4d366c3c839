"""``bus targets``: the systems the bus delivers to; pause one for a maintenance window, resume it.

While a target is paused its messages are held without spending attempts and nothing is sent to
it (:mod:`bus.journal.pauses`); attempts already under way finish. A resume, or the pause's
``--until`` passing, releases what it held.
"""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bus import operations
from bus.adapters import OPERATIONS
from bus.cli.common import (
    ByOpt,
    JsonOption,
    ReasonOpt,
    app,
    load_settings,
    print_json,
    shown,
    with_engine,
)
from bus.cli.render import Column, Screen, status_style, utc
from bus.db import reading, writing
from bus.errors import CallError
from bus.journal import pauses
from bus.journal.ids import utcnow
from bus.journal.tables import Status, circuits, messages
from bus.journal.wakes import Wake
from bus.settings import Settings

T = TypeVar("T")

targets_app = typer.Typer(
    help="The systems the bus delivers to: pause one for maintenance, resume it.",
    no_args_is_help=True,
)
app.add_typer(targets_app, name="targets")

TargetArg = Annotated[str, typer.Argument(help="The system, e.g. navision.")]
UntilOpt = Annotated[
    str | None,
    typer.Option(
        help="When the pause ends by itself: ISO 8601 with its zone, e.g. 2026-12-04T06:00Z"
        " (default: until resumed)."
    ),
]


@targets_app.command("pause")
def targets_pause(
    target: TargetArg,
    reason: ReasonOpt = "",
    until: UntilOpt = None,
    by: ByOpt = None,
    as_json: JsonOption = False,
) -> None:
    """Hold the target's messages, without spending attempts, until resumed (or --until)."""
    _require_reason(reason)
    _require_known(target)
    ends = _until(until)
    actor = by or getpass.getuser()

    async def work(engine: AsyncEngine) -> tuple[pauses.Pause, int]:
        async with writing(engine) as conn:
            window = await pauses.pause(conn, target, actor=actor, reason=reason, until=ends)
        async with reading(engine) as conn:
            running = await conn.scalar(_in_flight(target))
        return window, int(running or 0)

    window, running = _run(work)
    if as_json:
        print_json({**window.as_dict(), "in_flight": running})
        return
    typer.echo(f"paused: {window.describe()}")
    typer.echo(
        f"its messages are held from now on, no attempt spent; {running} attempt(s) under way"
        " finish on their own"
    )


@targets_app.command("resume")
def targets_resume(
    target: TargetArg, reason: ReasonOpt = "", by: ByOpt = None, as_json: JsonOption = False
) -> None:
    """End the target's pause and release the messages it held."""
    _require_reason(reason)
    _require_known(target)
    settings = load_settings()
    actor = by or getpass.getuser()
    waker = operations.Waker(settings)

    async def work(engine: AsyncEngine) -> tuple[pauses.Pause, list[Wake]]:
        async with writing(engine) as conn:
            window, released = await pauses.resume(conn, target, actor=actor, reason=reason)
            await waker.journal(conn, released)
        await waker.wake(engine, released)
        return window, released

    window, released = _run(work)
    if as_json:
        print_json({**window.as_dict(), "released": [wake.message_id for wake in released]})
    else:
        typer.echo(
            f"resumed: {target} (paused by {window.paused_by} since {utc(window.paused_at)}: "
            f"{window.reason}); {len(released)} held message(s) released"
        )
    if (unsent := waker.unsent()) is not None:
        typer.echo(unsent, err=True)


@targets_app.command("list")
def targets_list(
    history: Annotated[
        int, typer.Option(min=0, max=1000, help="Also show this many past pauses.")
    ] = 0,
    as_json: JsonOption = False,
) -> None:
    """Every target: paused or running, its breaker, its held messages.

    A paused target says by whom, until when and why; --history adds the past pauses."""
    settings = load_settings()

    async def work(engine: AsyncEngine) -> tuple[list[dict[str, Any]], list[pauses.Pause]]:
        async with reading(engine) as conn:
            on = {window.target: window for window in await pauses.current(conn)}
            breakers = dict((await conn.execute(select(circuits.c.target, circuits.c.state))).all())
            held = await pauses.held_counts(conn)
            past = await pauses.history(conn, limit=history) if history else []
        names = sorted(_deployed(settings) | set(on) | set(breakers) | set(held))
        rows = [_row(name, on.get(name), breakers.get(name), held.get(name, 0)) for name in names]
        return rows, past

    rows, past = shown(_run(work))
    if as_json:
        print_json({"targets": rows, "history": [window.as_dict() for window in past]})
        return
    screen = Screen.detect()
    screen.table(
        [
            Column("target"),
            Column("state", style=status_style),
            Column("breaker", rank=2, style=status_style),
            Column("held", right=True),
            Column("paused by", rank=3),
            Column("until (UTC)", rank=1),
            Column("reason", rank=1, shrink_to=12),
        ],
        [
            [
                row["target"],
                "paused" if row["paused"] else "running",
                row["breaker"],
                str(row["held"]),
                row["paused_by"] or "",
                _when(row["until"]) or ("until resumed" if row["paused"] else ""),
                row["reason"] or "",
            ]
            for row in rows
        ],
    )
    if past:
        screen.line()
        screen.heading("pauses, newest first")
        for window in past:
            ended = (
                f"ended {utc(window.resumed_at)} by {window.resumed_by}: {window.resume_reason}"
                if window.resumed_at
                else "on"
            )
            screen.wrapped(
                f"{window.target} paused {utc(window.paused_at)} by {window.paused_by}:"
                f" {window.reason}; {ended}",
                indent=4,
            )


def _row(
    target: str, window: pauses.Pause | None, breaker: str | None, held: int
) -> dict[str, Any]:
    return {
        "target": target,
        "paused": window is not None,
        "paused_by": window.paused_by if window else None,
        "since": window.paused_at.isoformat() if window else None,
        "until": window.until.isoformat() if window and window.until else None,
        "reason": window.reason if window else None,
        "breaker": breaker or "closed",
        "held": held,
    }


def _when(iso: str | None) -> str:
    return utc(dt.datetime.fromisoformat(iso)) if iso else ""


def _deployed(settings: Settings) -> set[str]:
    """The targets this deployment delivers to."""
    return {settings.erp, settings.crm, "storefront", "mail", "directory", "journal"}


def _in_flight(target: str) -> Any:
    return (
        select(func.count())
        .select_from(messages)
        .where(messages.c.target == target, messages.c.status == Status.IN_FLIGHT.value)
    )


def _until(text: str | None) -> dt.datetime | None:
    """``--until`` as an aware time; a time without its zone is refused (whose 06:00?)."""
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a time such as 2026-12-04T06:00Z", param_hint="--until"
        ) from None
    if moment.tzinfo is None:
        raise typer.BadParameter(
            f"{text!r} has no zone: add Z (UTC) or an offset such as +03:00",
            param_hint="--until",
        )
    if moment <= utcnow():
        raise typer.BadParameter(f"{text!r} has passed already", param_hint="--until")
    return moment.astimezone(dt.UTC)


def _require_reason(reason: str) -> None:
    if not reason.strip():
        raise typer.BadParameter("say why with --reason: it is kept with the pause")


def _require_known(target: str) -> None:
    if target not in OPERATIONS:
        raise typer.BadParameter(
            f"unknown target {target!r}; choose from {', '.join(sorted(OPERATIONS))}"
        )


def _run(work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run ``work`` on the journal; a refusal ends the command (exit 1) saying why."""
    try:
        return with_engine(work)
    except CallError as refused:
        typer.echo(f"refused: {refused.data.get('reason') or refused.message}", err=True)
        raise typer.Exit(1) from None
