"""``bus status``: the bus at a glance (:mod:`bus.journal.overview`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from bus import operations
from bus.cli.common import JsonOption, app, load_settings, print_json, with_engine
from bus.cli.render import Column, Screen, age, number, since, status_style
from bus.journal.overview import Minute, Overview


@app.command("status")
def status(
    minutes: Annotated[
        int, typer.Option(min=1, max=120, help="Minutes of throughput to show.")
    ] = 15,
    as_json: JsonOption = False,
) -> None:
    """Messages by target and status, the oldest waiting ones, breakers, paused targets,
    throughput of the last minutes and the Redis queues' depth."""
    settings = load_settings()
    found = with_engine(lambda engine: operations.status(settings, engine, minutes=minutes))
    if as_json:
        print_json(found.as_dict())
        return
    screen = Screen.detect()
    for section in (_counts, _oldest, _breakers, _paused, _throughput, _queues):
        section(screen, found)


def _counts(screen: Screen, found: Overview) -> None:
    """A status per row, a target per column; a target per row and status when that is too
    wide."""
    screen.heading(f"messages by status and target ({found.at:%Y-%m-%d %H:%M:%S} UTC)")
    if not found.counts:
        screen.line("the journal holds no message")
        return
    targets = found.targets
    matrix = [Column("status", style=status_style)]
    matrix += [Column(target, right=True) for target in targets]
    matrix.append(Column("total", right=True))
    rows = [
        [s, *(_n(found.count(target=t, status=s)) for t in targets), number(found.count(status=s))]
        for s in found.statuses
    ]
    rows.append(["total", *(number(found.count(target=t)) for t in targets), number(found.count())])
    widths = [max(len(c.title), *(len(r[n]) for r in rows)) for n, c in enumerate(matrix)]
    if screen.width is None or sum(widths) + 2 * (len(widths) - 1) <= screen.width:
        screen.table(matrix, rows)
    else:
        screen.table(
            [Column("target"), Column("status", style=status_style), Column("count", right=True)],
            [[c.target, c.status, number(c.count)] for c in found.counts],
        )
    screen.line()


def _n(count: int) -> str:
    return number(count) if count else "-"


def _oldest(screen: Screen, found: Overview) -> None:
    if not found.oldest:
        return
    screen.heading("oldest waiting message per status")
    screen.table(
        [Column("status", style=status_style), Column("age", right=True), Column("id")],
        [[o.status, age(o.age_seconds), o.message_id] for o in found.oldest],
    )
    screen.line()


def _breakers(screen: Screen, found: Overview) -> None:
    open_or_failing = [b for b in found.breakers if b.state != "closed" or b.failures]
    if not open_or_failing:
        screen.line("breakers: all closed")
        screen.line()
        return
    screen.heading("breakers")
    screen.table(
        [
            Column("target"),
            Column("state", style=status_style),
            Column("fails", right=True),
            Column("held", right=True),
            Column("probe", rank=2),
            Column("last error", rank=1, shrink_to=12),
        ],
        [
            [
                b.target,
                b.state,
                number(b.failures),
                number(b.held),
                since(b.probe_at, found.at),
                b.last_error or "",
            ]
            for b in open_or_failing
        ],
    )
    screen.line()


def _paused(screen: Screen, found: Overview) -> None:
    if not found.paused:
        return
    screen.heading("paused targets")
    for pause in found.paused:
        screen.wrapped(pause.describe(), indent=4)
    screen.line()


def _throughput(screen: Screen, found: Overview) -> None:
    """A minute per row, with a bar of the delivered ones; a run of quiet minutes on one row."""
    screen.heading(f"finished per minute, last {len(found.throughput)} minutes")
    most = max((m.delivered for m in found.throughput), default=0)
    width = min(40, (screen.width or 80) - 30)
    rows = []
    for run in _runs(found.throughput):
        first, last = run[0], run[-1]
        minutes = f"{first.start:%H:%M}" + (f"-{last.start:%H:%M}" if last is not first else "")
        bar = "#" * round(width * first.delivered / most) if most else ""
        rows.append([minutes, number(first.delivered), number(first.failed), bar])
    screen.table(
        [
            Column("minute"),
            Column("delivered", right=True),
            Column("failed", right=True),
            Column("", rank=1, shrink_to=0),
        ],
        rows,
    )
    screen.line()


def _runs(minutes: Sequence[Minute]) -> list[list[Minute]]:
    """The minutes, a run of consecutive quiet ones (nothing finished) together."""
    runs: list[list[Minute]] = []
    for minute in minutes:
        quiet = not (minute.delivered or minute.failed)
        if quiet and runs and not (runs[-1][-1].delivered or runs[-1][-1].failed):
            runs[-1].append(minute)
        else:
            runs.append([minute])
    return runs


def _queues(screen: Screen, found: Overview) -> None:
    if found.queue_error:
        screen.line(f"queues: {found.queue_error}")
        return
    if found.queues is None:
        screen.line("queues: the embedded queue (inside bus serve)")
        return
    busy = [q for q in found.queues if q.ready or q.delayed or q.in_progress or q.dead]
    screen.heading(f"queues (Redis): {len(busy)} of {len(found.queues)} with messages")
    if busy:
        screen.table(
            [
                Column("queue", shrink_to=14),
                Column("ready", right=True),
                Column("delayed", right=True),
                Column("taken", right=True),
                Column("dead", right=True),
            ],
            [
                [q.queue, number(q.ready), number(q.delayed), number(q.in_progress), number(q.dead)]
                for q in busy
            ],
        )
