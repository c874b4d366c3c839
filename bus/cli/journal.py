"""``bus journal``: the journal's size, its retention and its archives."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from bus.cli.common import (
    JsonOption,
    console,
    journal_app,
    load_settings,
    print_json,
    shown,
    with_engine,
)
from bus.journal.retention import Retention, read_archive


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
    retention = load_settings().retention
    age = _duration(older_than) if older_than else dt.timedelta(seconds=retention.older_than)
    plan = Retention(
        older_than=age,
        batch_size=batch_size or retention.batch_size,
        archive_dir=None if dry_run else (archive_dir or Path(retention.archive_dir)),
    )
    report = with_engine(plan.prune)
    if as_json:
        print_json({"dry_run": dry_run, **report.__dict__})
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
        print_archived(entry, as_json)
    if message is not None and not found:
        console.print(f"[red]no message {message} in {path}[/]")
        raise typer.Exit(1)


def print_archived(entry: dict[str, Any], as_json: bool) -> None:
    """One archived message: JSON, or a line of its own and its attempts."""
    if as_json:
        print_json(entry)
        return
    entry = shown(entry)
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
