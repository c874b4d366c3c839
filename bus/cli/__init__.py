"""The ``bus`` command: run the bus, its workers and simulators; find and replay messages.

Each module adds its commands to the tree in :mod:`bus.cli.common`; importing them here builds it.
"""

from __future__ import annotations

import sys

from bus.cli import edit, journal, messages, run, setup, status, targets
from bus.cli.common import app
from bus.cli.run import _CHILD_EXIT_MARGIN

__all__ = [
    "_CHILD_EXIT_MARGIN",
    "app",
    "edit",
    "journal",
    "main",
    "messages",
    "run",
    "setup",
    "status",
    "targets",
]


def main() -> None:
    """Entry point of the ``bus`` console script.

    On a terminal, usage errors and help are typer's panels (rich); piped or redirected, they
    are plain text, as click prints them: no box drawing in a file or a pager.
    """
    # typer draws help (standard output) and usage errors (standard error) in the one mode the
    # command tree is built with, before the arguments are parsed: plain unless both are
    # terminals, so that neither stream gets box drawing it cannot show.
    if not (sys.stdout.isatty() and sys.stderr.isatty()):
        app.rich_markup_mode = None
    app()
