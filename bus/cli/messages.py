"""``bus messages``: find, inspect, replay, release and cancel messages."""

from __future__ import annotations

import datetime as dt
import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from bus import operations
from bus.cli.common import (
    ByOpt,
    JsonOption,
    ReasonOpt,
    console,
    load_settings,
    messages_app,
    print_json,
    shown,
    with_engine,
)
from bus.cli.journal import print_archived
from bus.journal.deadlines import Deadlines
from bus.journal.ids import utcnow
from bus.journal.queries import MessageFilter
from bus.journal.retention import find_archived
from bus.journal.tables import Status


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
        condition=Deadlines.of(load_settings()).stuck(utcnow()) if stuck else None,
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
    found = shown(with_engine(lambda engine: operations.find(engine, where, limit)))
    if as_json:
        print_json([_summary(m) for m in found])
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
    message = with_engine(lambda engine: operations.show(engine, message_id))
    if message is None:
        archived = find_archived(Path(load_settings().retention.archive_dir), message_id)
        if archived is None:
            console.print(f"[red]no message {message_id}[/] (in the journal or its archives)")
            raise typer.Exit(1)
        print_archived(archived, as_json)
        return
    message = shown(message)
    if as_json:
        print_json(message)
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
    results = with_engine(
        lambda engine: action(load_settings(), engine, message_ids, actor=actor, reason=reason)
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
    found = with_engine(lambda engine: operations.find(engine, where, limit))
    if dry_run or not yes:
        if as_json:
            print_json({"dry_run": True, "would_replay": [_summary(m) for m in found]})
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
        print_json([r.__dict__ for r in results])
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
