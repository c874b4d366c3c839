"""How ``bus`` commands print for people: tables that fit the width, plain text when piped.

On a terminal, a table takes the terminal's width: the columns that matter most stay whole (ids
and statuses are what gets copied), the others are cut short with ``…`` or left out, least
important first, so no row folds onto the next line. When the output is not a terminal (piped,
redirected), it is plain text (no colour, no box drawing, columns separated by two spaces), as wide
as ``COLUMNS`` says, or never cut when ``COLUMNS`` is not set (as ``ps`` does). Text that is
copied whole (a payload's JSON) is printed verbatim, never cut nor folded. Scripts read ``--json``
instead.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from rich.console import Console
from rich.text import Text

#: Between two columns.
GAP = 2
ELLIPSIS = "…"

#: Colours of statuses on a terminal.
STATUS_STYLES = {
    "delivered": "green",
    "skipped": "green",
    "failed": "bold red",
    "unknown_outcome": "red",
    "retry_wait": "yellow",
    "held": "yellow",
    "blocked": "magenta",
    "cancelled": "dim",
    "open": "bold red",
    "closed": "green",
}


@dataclass(frozen=True)
class Column:
    """A column of a :meth:`Screen.table`.

    Parameters:
        rank: 0 is always shown; when the width is short, the highest rank goes first.
        shrink_to: the narrowest it may be cut to (with ``…``); ``None``: never cut.
        right: right-aligned (numbers).
        style: the style of a cell on a terminal, from its text.
    """

    title: str
    rank: int = 0
    shrink_to: int | None = None
    right: bool = False
    style: Callable[[str], str | None] | None = None


def status_style(value: str) -> str | None:
    """The colour of a status (or a breaker state) on a terminal."""
    return STATUS_STYLES.get(value)


class Screen:
    """Where a command prints: a terminal (colour) or a pipe (plain), ``width`` columns wide
    (``None``: never cut); the standard output, or the standard error with ``err``."""

    def __init__(self, *, width: int | None, terminal: bool, err: bool = False) -> None:
        self.width = width
        self.terminal = terminal
        self.err = err
        self._console = Console(highlight=False, soft_wrap=True, stderr=err) if terminal else None

    @classmethod
    def detect(cls, *, err: bool = False) -> Screen:
        """The standard output (the standard error with ``err``) as it is: its width from
        ``COLUMNS``, else the terminal's; a pipe without ``COLUMNS`` has no width."""
        stream = sys.stderr if err else sys.stdout
        terminal = stream.isatty()
        columns = os.environ.get("COLUMNS", "")
        if columns.isdigit() and int(columns) > 0:
            width: int | None = int(columns)
        elif terminal:
            width = _terminal_width(stream)
        else:
            width = None
        return cls(width=width, terminal=terminal, err=err)

    def line(self, text: str = "", style: str | None = None) -> None:
        """Print one line, cut to the width (never folded)."""
        self._print([(self._cut(text, self.width), style)])

    def heading(self, text: str) -> None:
        """A section's title (bold on a terminal)."""
        self.line(text, "bold")

    def wrapped(self, text: str, *, indent: int = 0, first: str = "") -> None:
        """``text`` wrapped to the width, ``first`` before its first line (padded to
        ``indent``), the other lines indented by ``indent``."""
        first = first.ljust(indent) if first else ""
        for n, paragraph in enumerate(text.splitlines() or [""]):
            lead = first if n == 0 else " " * indent
            if self.width is None or len(lead) + len(paragraph) <= self.width:
                self._print([(lead + paragraph, None)])
                continue
            for line in textwrap.wrap(
                paragraph,
                width=max(self.width, indent + 20),
                initial_indent=lead,
                subsequent_indent=" " * indent,
                break_long_words=True,
                break_on_hyphens=False,
            ):
                self._print([(line, None)])

    def verbatim(self, text: str, *, indent: int = 0) -> None:
        """``text``'s lines as they are, indented by ``indent``: never cut nor folded, however
        wide, so that what is copied is what was printed (JSON stays JSON; a terminal shows a
        long line over several rows without a newline in it)."""
        for line in text.splitlines() or [""]:
            self._print([(" " * indent + line, None)])

    def field(self, label: str, value: object, *, indent: int = 16) -> None:
        """``label  value`` with the value wrapped under itself."""
        self.wrapped(str(value), indent=indent, first=f"{label}")

    def table(self, columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> None:
        """Print ``rows`` under ``columns`` in the width (see :func:`layout`)."""
        cells = [[_one_line(cell) for cell in row] for row in rows]
        shown = layout(columns, cells, self.width)
        header: list[tuple[str, int, Column, str | None]] = [
            (col.title, width, col, "bold") for col, width in shown
        ]
        lines = [header]
        index = {id(col): n for n, col in enumerate(columns)}
        for row in cells:
            lines.append(
                [
                    (row[index[id(col)]], width, col, _style_of(col, row[index[id(col)]]))
                    for col, width in shown
                ]
            )
        for parts in lines:
            out: list[tuple[str, str | None]] = []
            for n, (text, width, col, style) in enumerate(parts):
                cell = self._cut(text, width)
                last = n == len(parts) - 1
                padded = cell.rjust(width) if col.right else (cell if last else cell.ljust(width))
                out.append((padded, style if self.terminal else None))
                if not last:
                    out.append((" " * GAP, None))
            self._print(out)

    def _print(self, parts: list[tuple[str, str | None]]) -> None:
        if self._console is None:
            stream = sys.stderr if self.err else sys.stdout
            stream.write("".join(text for text, _ in parts).rstrip() + "\n")
            return
        line = Text()
        for text, style in parts:
            line.append(text, style=style or "")
        line.rstrip()
        self._console.print(line, overflow="ignore", crop=False)

    @staticmethod
    def _cut(text: str, width: int | None) -> str:
        if width is None or len(text) <= width:
            return text
        return text[: max(0, width - 1)] + ELLIPSIS if width > 0 else ""


def _terminal_width(stream: TextIO) -> int:
    """The width of the terminal ``stream`` is (the standard error's may be one when the
    standard output is piped)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError):
        return shutil.get_terminal_size().columns


def layout(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int | None
) -> list[tuple[Column, int]]:
    """The columns to show, in their order, each with its width.

    Every column wants its widest cell (or title). When they do not all fit in ``width``, the
    columns that may shrink are cut down to their ``shrink_to``; if that is still too wide, the
    columns of highest rank are left out until the rest fit (rank 0 always stays). The room left
    then goes back to the shrunk columns, lowest rank first.
    """
    wanted = [
        max([len(col.title), *(len(row[n]) for row in rows)]) for n, col in enumerate(columns)
    ]
    if width is None:
        return list(zip(columns, wanted, strict=True))
    least = [
        w if col.shrink_to is None else min(w, max(col.shrink_to, 1))
        for col, w in zip(columns, wanted, strict=True)
    ]
    shown = list(range(len(columns)))

    def needs(widths: Sequence[int]) -> int:
        return sum(widths[n] for n in shown) + GAP * (len(shown) - 1)

    while needs(least) > width and any(columns[n].rank > 0 for n in shown):
        drop = max((n for n in shown if columns[n].rank > 0), key=lambda n: (columns[n].rank, n))
        shown.remove(drop)
    widths = list(least)
    room = width - needs(widths)
    for n in sorted(shown, key=lambda n: (columns[n].rank, n)):
        grow = min(room, wanted[n] - widths[n])
        if grow > 0:
            widths[n] += grow
            room -= grow
    return [(columns[n], widths[n]) for n in shown]


def _style_of(column: Column, text: str) -> str | None:
    return column.style(text) if column.style is not None else None


def _one_line(cell: str) -> str:
    return " ".join(cell.split()) if ("\n" in cell or "\t" in cell) else cell


def number(n: int) -> str:
    """``2,005``."""
    return f"{n:,}"


def age(seconds: float) -> str:
    """A duration in its largest unit: ``45s``, ``12m``, ``5h``, ``3d``."""
    seconds = max(0.0, seconds)
    for unit, size, limit in (("s", 1, 90), ("m", 60, 90 * 60), ("h", 3600, 48 * 3600)):
        if seconds < limit:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds // 86400)}d"


def since(moment: dt.datetime | None, now: dt.datetime) -> str:
    """How long ago ``moment`` was (``3m ago``), or how long until it (``in 12s``)."""
    if moment is None:
        return ""
    delta = (now - moment).total_seconds()
    return f"{age(delta)} ago" if delta >= 0 else f"in {age(-delta)}"


def utc(moment: dt.datetime | None) -> str:
    """``2026-12-03 20:11:05`` (UTC), or empty."""
    return "" if moment is None else moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
