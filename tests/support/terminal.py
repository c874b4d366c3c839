"""Running ``bus`` on a pseudo-terminal, as an operator at a terminal of a given width runs it."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from collections.abc import Sequence


def on_terminal(
    args: Sequence[str], env: dict[str, str], columns: int = 80, timeout: float = 300
) -> tuple[int, str]:
    """``bus ARGS`` with ``env`` on a pseudo-terminal ``columns`` wide (standard input, output and
    error): its exit status and everything it wrote there, as written."""
    main, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "bus", *args],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env={**env, "TERM": "xterm-256color"},
    )
    os.close(terminal)
    written = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        written += chunk
    os.close(main)
    return process.wait(timeout=timeout), written.decode(errors="replace")
