"""``bus messages edit``: correct a message's payload and deliver the correction in its place.

The payload opens in ``$EDITOR`` (redacted: a secret shows as ``***`` and keeps its value if left
so), or comes from ``--payload-file`` for scripts. The edit is checked against the payload's
schema, then journaled as a new message that takes the original's place in its ordering key; the
original becomes ``edited`` and never runs (:mod:`bus.editing`). A refused edit changes nothing.
"""

from __future__ import annotations

import getpass
import json
import os
import shlex
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from bus import editing, operations
from bus.cli.common import (
    ByOpt,
    JsonOption,
    ReasonOpt,
    load_settings,
    messages_app,
    print_json,
    with_engine,
)
from bus.cli.render import Screen
from bus.errors import CallError

T = TypeVar("T")

PayloadFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--payload-file",
        help="The edited payload as JSON (instead of opening $EDITOR); - reads standard input.",
        dir_okay=False,
        allow_dash=True,
    ),
]


@messages_app.command("edit")
def messages_edit(
    message_id: str,
    reason: ReasonOpt = "",
    by: ByOpt = None,
    payload_file: PayloadFileOpt = None,
    as_json: JsonOption = False,
) -> None:
    """Edit a failed, held, waiting or exhausted message's payload in $EDITOR; the edit is
    checked, then delivered in the original's place (the original never runs)."""
    if not reason.strip():
        raise typer.BadParameter("say why with --reason: it is kept with the message")
    settings = load_settings()
    actor = by or getpass.getuser()
    text = _read(payload_file) if payload_file is not None else _in_editor(message_id)
    edited = _parsed(text)
    waker = operations.Waker(settings)
    done = _refusing(
        lambda: with_engine(
            lambda engine: editing.edit(
                settings, engine, message_id, edited, actor=actor, reason=reason, waker=waker
            )
        )
    )
    if as_json:
        print_json(done.__dict__)
    else:
        typer.echo(
            f"{done.original} edited as {done.edited} ({done.status}): the edit runs in its"
            " place; the original is now edited and will not run"
        )
        if done.carried:
            typer.echo(f"the later steps {', '.join(done.carried)} carry the edited payload")
        typer.echo(done.diff, nl=False)
    if (unsent := waker.unsent()) is not None:
        typer.echo(unsent, err=True)


def _in_editor(message_id: str) -> str:
    """The payload as the operator saved it in ``$EDITOR``."""
    shown = _refusing(lambda: with_engine(lambda engine: editing.shown_payload(engine, message_id)))
    original = json.dumps(shown, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    saved = _edited_in_editor(original)
    if saved == original:
        typer.echo("not edited: the payload was not changed; nothing done", err=True)
        raise typer.Exit(1)
    return saved


def _edited_in_editor(text: str) -> str:
    """``text`` as the operator saved it in ``$VISUAL``, ``$EDITOR`` or ``vi``.

    The editor runs on a ``.json`` file in a private temporary folder (the payload may hold
    customer data); an editor that cannot start or exits with an error ends the command.
    """
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.TemporaryDirectory(prefix="bus-edit-") as folder:
        path = Path(folder) / "payload.json"
        path.write_text(text, encoding="utf-8")
        try:
            ended = subprocess.run([*shlex.split(editor), str(path)], check=False)
        except OSError as error:
            typer.echo(f"not edited: cannot start {editor!r}: {error.strerror}", err=True)
            raise typer.Exit(1) from None
        if ended.returncode != 0:
            typer.echo(
                f"not edited: the editor {editor!r} exited with {ended.returncode}; nothing done",
                err=True,
            )
            raise typer.Exit(1)
        return path.read_text(encoding="utf-8")


def _read(path: Path) -> str:
    if str(path) == "-":
        return typer.get_text_stream("stdin").read()
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise typer.BadParameter(f"cannot read {path}: {error.strerror}") from None


def _parsed(text: str) -> Any:
    """The edited payload; JSON that does not parse is refused saying where."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        Screen.detect(err=True).wrapped(
            f"refused: the edited payload is not JSON (line {error.lineno}, column"
            f" {error.colno}: {error.msg}); nothing changed",
            indent=2,
        )
        raise typer.Exit(1) from None


def _refusing(work: Callable[[], T]) -> T:
    """``work()``; a refusal ends the command (exit 1), naming each field, changing nothing."""
    try:
        return work()
    except CallError as refused:
        # wrapped to the width, each field's line going on indented under it
        said = Screen.detect(err=True)
        said.wrapped(f"refused: {refused.message}; nothing changed", indent=2)
        for field in refused.data.get("fields", []):
            said.wrapped(f"  {field['field']}: {field['message']} ({field['type']})", indent=4)
        for name in ("status", "reason"):
            if refused.data.get(name):
                said.wrapped(f"  {name}: {refused.data[name]}", indent=4)
        raise typer.Exit(1) from None
