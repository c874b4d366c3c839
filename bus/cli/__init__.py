"""The ``bus`` command: run the bus, its workers and simulators; find and replay messages.

Each module adds its commands to the tree in :mod:`bus.cli.common`; importing them here builds it.
"""

from __future__ import annotations

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
    """Entry point of the ``bus`` console script."""
    app()
