"""``bus messages``: find, group, inspect, replay, release and cancel messages.

A selection by filter or failure group is counted whole before anything is done, and acted on
only with ``--yes``; replay and cancel then run in batches, with a progress bar on a terminal and
a summary at the end (a line per message with ``--verbose``, or ``--json``).
"""

from __future__ import annotations

import datetime as dt
import functools
import getpass
import json
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bus import operations
from bus.cli.common import (
    ByOpt,
    JsonOption,
    ReasonOpt,
    load_settings,
    messages_app,
    print_json,
    shown,
    with_engine,
)
from bus.cli.journal import print_archived
from bus.cli.render import Column, Screen, age, number, since, status_style, utc
from bus.journal.deadlines import Deadlines
from bus.journal.groups import FailureGroup
from bus.journal.ids import utcnow
from bus.journal.queries import MessageFilter
from bus.journal.retention import find_archived
from bus.journal.tables import Status

#: How many matches a dry run or a refused selection lists (all of them with ``--json``).
EXAMPLES = 10


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
    utc_times = [
        None if t is None else (t if t.tzinfo else t.replace(tzinfo=dt.UTC)) for t in (since, until)
    ]
    return MessageFilter(
        statuses=tuple(status or ()),
        method=method,
        target=target,
        ordering_key=key,
        since=utc_times[0],
        until=utc_times[1],
        error_contains=error,
        condition=Deadlines.of(load_settings()).stuck(utcnow()) if stuck else None,
    )


StatusOpt = Annotated[list[str] | None, typer.Option("--status", help="Repeatable.")]
MethodOpt = Annotated[str | None, typer.Option(help="e.g. order.submit")]
TargetOpt = Annotated[str | None, typer.Option(help="e.g. navision")]
KeyOpt = Annotated[str | None, typer.Option("--key", help="Ordering key, e.g. order:A-1007")]
SinceOpt = Annotated[dt.datetime | None, typer.Option(help="Accepted at or after (UTC).")]
UntilOpt = Annotated[dt.datetime | None, typer.Option(help="Accepted before (UTC).")]
ErrorOpt = Annotated[str | None, typer.Option("--error", help="Text in the last error.")]
GroupOpt = Annotated[
    str | None, typer.Option("--group", help="A failure group's id (bus messages groups).")
]
IdsArg = Annotated[list[str] | None, typer.Argument(help="Message ids.", show_default=False)]
LimitOpt = Annotated[
    int | None, typer.Option(min=1, help="Act on the newest N matches only (default: all).")
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Count and show; change nothing.")]
YesOpt = Annotated[bool, typer.Option("--yes", help="Act on a filter's or group's matches.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="A line per message.")]
BatchOpt = Annotated[
    int, typer.Option(min=1, max=5000, help="Messages per transaction.", show_default=True)
]


@messages_app.command("list")
def messages_list(
    status: StatusOpt = None,
    method: MethodOpt = None,
    target: TargetOpt = None,
    key: KeyOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    error: ErrorOpt = None,
    group: GroupOpt = None,
    stuck: Annotated[
        bool, typer.Option("--stuck", help="Requests past their deadline, neither done nor failed.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """List messages, newest first (and how many match in all when that is more)."""
    where = _filter(status, method, target, key, since, until, error, stuck) or MessageFilter()

    async def read(engine: Any) -> tuple[list[dict[str, Any]], int]:
        if group is not None:
            ids = await operations.select_ids(engine, where, group=group)
            found = await operations.find(engine, MessageFilter(ids=tuple(ids[:limit])), limit)
            return found, len(ids)
        found = await operations.find(engine, where, limit)
        total = await operations.count(engine, where) if len(found) == limit else len(found)
        return found, total

    found, total = with_engine(read)
    found = shown(found)
    if as_json:
        print_json([_summary(m) for m in found])
        return
    screen = Screen.detect()
    _message_table(screen, found)
    if total > len(found):
        screen.line(f"the newest {number(len(found))} of {number(total)} (--limit to see more)")
    elif not found:
        screen.line("no message matches")


def _message_table(screen: Screen, found: list[dict[str, Any]]) -> None:
    now = utcnow()
    columns = [
        Column("id"),
        Column("status", style=status_style),
        Column("method", rank=2, shrink_to=12),
        Column("target", rank=3, shrink_to=8),
        Column("key", rank=7, shrink_to=10),
        Column("tries", rank=6, right=True),
        Column("age", rank=4, right=True),
        Column("accepted (UTC)", rank=8),
        # at 80 columns the error stays readable: the target and the age give way first
        Column("last error", rank=1, shrink_to=24),
    ]
    rows = [
        [
            m["id"],
            m["status"],
            m["method"],
            m["target"],
            m["ordering_key"] or "",
            str(m["attempts_total"]),
            age((now - m["accepted_at"]).total_seconds()),
            utc(m["accepted_at"]),
            m["last_error"] or "",
        ]
        for m in found
    ]
    if rows:
        screen.table(columns, rows)


@messages_app.command("show")
def messages_show(message_id: str, as_json: JsonOption = False) -> None:
    """Show one message: payload, result, every attempt and operator action."""
    message = with_engine(lambda engine: operations.show(engine, message_id))
    if message is None:
        archived = find_archived(Path(load_settings().retention.archive_dir), message_id)
        if archived is None:
            typer.echo(f"no message {message_id} (in the journal or its archives)")
            raise typer.Exit(1)
        print_archived(archived, as_json)
        return
    message = shown(message)
    if as_json:
        print_json(message)
        return
    _show(Screen.detect(), message)


def _show(screen: Screen, message: dict[str, Any]) -> None:
    now = utcnow()
    fields = {
        "id": message["id"],
        "status": message["status"],
        "method": message["method"],
        "from / to": f"{message['source']} -> {message['target']} ({message['operation']})",
        "ordering key": message["ordering_key"] or "",
        "attempts": str(message["attempts_total"]),
        "accepted": f"{utc(message['accepted_at'])} ({since(message['accepted_at'], now)})",
        "updated": f"{utc(message['updated_at'])} ({since(message['updated_at'], now)})",
        "next attempt": utc(message["next_attempt_at"]),
        "parent": message.get("parent_id") or "",
        "correlation id": message.get("correlation_id") or "",
        "last error": message["last_error"] or "",
    }
    for label, value in fields.items():
        if value:
            screen.field(label, value)
    if message.get("blocked_by"):
        blocker = message["blocked_by"]
        screen.field(
            "blocked by",
            f"{blocker['id']} ({blocker['status']}): replay or cancel it to move this key on",
        )
    _show_edit(screen, message)
    screen.line()
    # verbatim, not wrapped: a string folded to the width would no longer be JSON to copy
    screen.heading("payload")
    screen.verbatim(json.dumps(message["payload"], ensure_ascii=False, indent=2), indent=2)
    if message["result"] is not None:
        screen.heading("result")
        screen.verbatim(json.dumps(message["result"], ensure_ascii=False, indent=2), indent=2)
    if message["attempts_log"]:
        screen.line()
        screen.heading("attempts")
        screen.table(
            [
                Column("#", right=True),
                Column("started (UTC)", rank=3),
                Column("ms", rank=2, right=True),
                Column("outcome"),
                Column("http", rank=1, right=True),
                Column("error", rank=1, shrink_to=12),
            ],
            [
                [
                    str(a["number"]),
                    a["started_at"].strftime("%m-%d %H:%M:%S"),
                    f"{a['duration_ms']:.0f}",
                    a["outcome"],
                    str(a["http_status"] or ""),
                    a["error"] or "",
                ]
                for a in message["attempts_log"]
            ],
        )
    if message["actions"]:
        screen.line()
        screen.heading("operator actions")
        for action in message["actions"]:
            screen.wrapped(
                f"{utc(action['at'])} {action['action']} by {action['actor']}"
                f" (was {action['from_status']}): {action['reason']}",
                indent=4,
            )
    if message.get("children"):
        screen.line()
        screen.heading("later steps")
        screen.table(
            [Column("id"), Column("status", style=status_style), Column("to", shrink_to=10)],
            [
                [c["id"], c["status"], f"{c['target']} {c['operation']}"]
                for c in message["children"]
            ],
        )


def _show_edit(screen: Screen, message: dict[str, Any]) -> None:
    """The edit a message underwent or came from (``bus messages edit``): the other message,
    who, why, and the payload's diff."""
    edit = message.get("edit")
    if not edit:
        return
    by = f"by {edit['actor']} at {utc(edit['at'])}: {edit['reason']}"
    if edit["original"] == message["id"]:
        screen.field("edited as", f"{edit['edited']} {by}")
    else:
        screen.field("edited from", f"{edit['original']} {by}")
    if edit.get("diff"):
        screen.heading("edit (diff of the payload)")
        for line in edit["diff"].splitlines():
            screen.line(f"  {line}")


@messages_app.command("groups")
def messages_groups(
    method: MethodOpt = None,
    target: TargetOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    as_json: JsonOption = False,
) -> None:
    """Failed messages (and unknown outcomes with no attempt left) grouped by their error with
    its numbers, ids and quoted values taken out, by target and method; biggest first."""
    where = _filter(None, method, target, None, since, until, None)
    found = shown(with_engine(lambda engine: operations.groups(engine, where)))
    if as_json:
        print_json([group.__dict__ for group in found])
        return
    screen = Screen.detect()
    if not found:
        screen.line("no message waits for an operator")
        return
    now = utcnow()
    for group in found:
        _print_group(screen, group, now)
    total = sum(group.count for group in found)
    screen.line(f"{number(total)} message(s) in {number(len(found))} group(s)")
    screen.wrapped("replay or cancel one: bus messages replay --group ID --reason WHY --yes")


def _print_group(screen: Screen, group: FailureGroup, now: dt.datetime) -> None:
    screen.heading(f"{group.id}  {number(group.count)} × {group.method} -> {group.target}")
    screen.wrapped(group.error, indent=4, first="    ")
    seen = f"last {since(group.last_seen, now)}, first {since(group.first_seen, now)}"
    screen.wrapped(f"{seen}; e.g. {group.example_id}", indent=4, first="    ")
    if group.example_error != group.error:
        screen.wrapped(group.example_error, indent=6, first="      ")
    screen.line()


@messages_app.command("replay")
def messages_replay(
    message_ids: IdsArg = None,
    reason: ReasonOpt = "",
    by: ByOpt = None,
    status: StatusOpt = None,
    method: MethodOpt = None,
    target: TargetOpt = None,
    key: KeyOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    error: ErrorOpt = None,
    group: GroupOpt = None,
    limit: LimitOpt = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    verbose: VerboseOpt = False,
    batch_size: BatchOpt = operations.BATCH_SIZE,
    as_json: JsonOption = False,
) -> None:
    """Replay messages by id, or every message of a filter or failure group (counted first;
    ``--dry-run`` to see them, ``--yes`` to replay them): a fresh retry budget each."""
    where = _filter(status, method, target, key, since, until, error)
    selection = _Selection(message_ids or [], where, group, limit)
    action = functools.partial(operations.replay, batch_size=batch_size)
    request = _Request("replay", action, reason, by, verbose, as_json)
    _bulk(selection, request, dry_run=dry_run, yes=yes)


@messages_app.command("cancel")
def messages_cancel(
    message_ids: IdsArg = None,
    reason: ReasonOpt = "",
    by: ByOpt = None,
    status: StatusOpt = None,
    method: MethodOpt = None,
    target: TargetOpt = None,
    key: KeyOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    error: ErrorOpt = None,
    group: GroupOpt = None,
    limit: LimitOpt = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    verbose: VerboseOpt = False,
    batch_size: BatchOpt = operations.BATCH_SIZE,
    as_json: JsonOption = False,
) -> None:
    """Cancel messages that were not delivered, by id or by filter or failure group (counted
    first; ``--dry-run`` to see them, ``--yes`` to cancel them); the next message of their
    ordering key runs."""
    where = _filter(status, method, target, key, since, until, error)
    selection = _Selection(message_ids or [], where, group, limit)
    action = functools.partial(operations.cancel, batch_size=batch_size)
    request = _Request("cancel", action, reason, by, verbose, as_json)
    _bulk(selection, request, dry_run=dry_run, yes=yes)


@messages_app.command("release")
def messages_release(
    message_ids: Annotated[list[str], typer.Argument(help="Ids of held messages.")],
    reason: ReasonOpt = "",
    by: ByOpt = None,
    verbose: VerboseOpt = False,
    as_json: JsonOption = False,
) -> None:
    """Let held messages through now; an open breaker probes its target with the first."""
    _act(_Request("release", operations.release, reason, by, verbose, as_json), message_ids)


@dataclass(frozen=True)
class _Selection:
    """What a replay or cancel acts on: messages by id, or a filter's or a failure group's
    matches (at most ``limit``, the newest)."""

    ids: list[str]
    where: MessageFilter | None
    group: str | None
    limit: int | None

    def check(self) -> None:
        """Refuse ids with a filter, and nothing at all."""
        if self.ids and (self.where or self.group):
            raise typer.BadParameter("give message ids, or filters and --group, not both")
        if not (self.ids or self.where or self.group):
            raise typer.BadParameter(
                "give message ids, or filters such as --status failed, or --group"
            )

    def matches(self) -> list[str]:
        """Every id the selection matches now, newest first (all of them: see :meth:`chosen`)."""
        where = MessageFilter(ids=tuple(self.ids)) if self.ids else self.where
        group = self.group
        ids: list[str] = with_engine(
            lambda engine: operations.select_ids(engine, where, group=group)
        )
        if group is not None and not ids:
            typer.echo(
                f"no message waits for an operator in failure group {group}"
                " (bus messages groups lists them)",
                err=True,
            )
            raise typer.Exit(1)
        return ids

    def chosen(self, matches: list[str]) -> list[str]:
        """The matches acted on: the newest ``limit``, or all."""
        return matches if self.limit is None else matches[: self.limit]

    def counted(self, matches: list[str], what: str) -> str:
        """``2,005 message(s) match; …``, naming the part ``--limit`` keeps."""
        chosen = len(self.chosen(matches))
        part = f"the newest {number(chosen)} (--limit): " if chosen < len(matches) else ""
        return f"{number(len(matches))} message(s) match; {part}{what}"


@dataclass(frozen=True)
class _Request:
    """An operator action as asked: which, why, by whom, and how to report it."""

    verb: str
    action: operations.Action
    reason: str
    by: str | None
    verbose: bool
    as_json: bool


def _bulk(selection: _Selection, request: _Request, *, dry_run: bool, yes: bool) -> None:
    """Replay or cancel: ids at once; a filter's or group's matches counted and shown first,
    acted on with ``--yes`` only."""
    selection.check()
    if not dry_run:
        _require_reason(request.reason)
    if selection.ids and not dry_run:
        _act(request, selection.ids)
        return
    matches = selection.matches()
    if dry_run or not yes:
        _preview(request, selection, matches, dry_run=dry_run)
        if not dry_run:
            raise typer.Exit(2)
        return
    if not matches:
        if request.as_json:
            print_json([])
        else:
            Screen.detect().line(f"no message matches; nothing to {request.verb}")
        return
    if not request.as_json:
        Screen.detect().wrapped(selection.counted(matches, f"{_ING[request.verb]} them"))
    _act(request, selection.chosen(matches))


def _preview(
    request: _Request, selection: _Selection, matches: list[str], *, dry_run: bool
) -> None:
    """Say how many messages the selection matches, and show them (the newest few; all those
    it would act on with ``--json``)."""
    chosen = selection.chosen(matches)
    examples = chosen if request.as_json else chosen[:EXAMPLES]
    where = MessageFilter(ids=tuple(examples))
    found = shown(with_engine(lambda engine: operations.find(engine, where, len(examples))))
    if request.as_json:
        print_json(
            {
                "dry_run": dry_run,
                "matched": len(matches),
                "selected": len(chosen),
                f"would_{request.verb}": [_summary(m) for m in found],
            }
        )
        return
    screen = Screen.detect()
    what = "nothing done (dry run)" if dry_run else f"add --yes to {request.verb} them"
    screen.wrapped(selection.counted(matches, what))
    if len(chosen) > len(found):
        screen.line(f"the newest {len(found)}:")
    _message_table(screen, found)


def _act(request: _Request, message_ids: list[str]) -> None:
    """Run an operator action on the messages, recorded with who and why; print the results
    (a summary, or a line each) and exit 1 if any was refused."""
    _require_reason(request.reason)
    actor = request.by or getpass.getuser()
    settings = load_settings()
    waker = operations.Waker(settings)
    with _progress(len(message_ids), request.verb, quiet=request.as_json) as advance:
        results: list[operations.ActionResult] = with_engine(
            lambda engine: request.action(
                settings,
                engine,
                message_ids,
                actor=actor,
                reason=request.reason,
                progress=advance,
                waker=waker,
            )
        )
    if request.as_json:
        print_json([r.__dict__ for r in results])
    else:
        _print_results(Screen.detect(), request.verb, results, request.verbose)
    # Done all the same (the journal has it): the wake-ups are the sweeper's, said in one line.
    if (unsent := waker.unsent()) is not None:
        typer.echo(unsent, err=True)
    if not all(r.ok for r in results):
        raise typer.Exit(1)


@contextmanager
def _progress(total: int, verb: str, *, quiet: bool) -> Iterator[operations.Progress]:
    """A progress bar on the terminal's standard error while a bulk action runs; nothing when
    it is not a terminal, for one message, or with ``--json``."""
    if quiet or total < 2 or not sys.stderr.isatty():
        yield lambda _done: None
        return
    bar = Progress(
        TextColumn(_ING[verb]),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(verb, total=total)
    with bar:
        yield lambda done: bar.advance(task, done)


def _print_results(
    screen: Screen, verb: str, results: list[operations.ActionResult], verbose: bool
) -> None:
    """A line per message with ``verbose``; always a summary: how many were acted on (by the
    status they are in now, when they differ), and how many were refused: a line per reason."""
    if verbose:
        screen.table(
            [Column("id"), Column("result", style=status_style), Column("why", shrink_to=12)],
            [[r.message_id, r.status or "refused", r.error or ""] for r in results],
        )
    done = Counter(r.status for r in results if r.ok)
    line = f"{_PAST[verb]} {number(sum(done.values()))}"
    if len(done) > 1:
        line += " (" + ", ".join(f"{number(n)} {s}" for s, n in done.most_common()) + ")"
    refused = operations.refusals(results)
    if refused:
        line += f"; refused {number(refused.total())}:"
    screen.wrapped(line, indent=2)
    for why, n in refused.most_common():
        screen.wrapped(f"  {number(n)} {why}", indent=4)


_ING = {"replay": "replaying", "cancel": "cancelling", "release": "releasing"}
_PAST = {"replay": "replayed", "cancel": "cancelled", "release": "released"}


def _require_reason(reason: str) -> None:
    if not reason.strip():
        raise typer.BadParameter("say why with --reason: it is kept with the message")


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
