"""``python -m tests.support.simulate NAME PORT SMTP_PORT``: one bundled simulator for a test stack.

It serves the simulator as ``bus simulate NAME`` does (the same ``sandbox.start_simulators``, the
same logging and redaction), without loading the ``bus`` command and with it the whole bus: a test
stack starts a simulator in a fraction of the time, and most stacks start three. ``bus simulate``
itself is run by the chaos drill.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from bus import logs, redaction, sandbox


async def serve(name: str, port: int, smtp_port: int) -> None:
    """Serve simulator ``name`` on 127.0.0.1:``port`` until the process is stopped."""
    runners = await sandbox.start_simulators({name: port}, "127.0.0.1", smtp_port, echo=_echo)
    try:
        await asyncio.Event().wait()
    finally:
        for runner in runners:
            await runner.cleanup()


def _echo(line: str) -> None:
    print(line.replace("[bold]", "").replace("[/]", ""), flush=True)


def main(argv: list[str]) -> None:
    """Configure logging as the ``bus`` command does, then serve the simulator."""
    name, port, smtp_port = argv
    logs.configure("INFO")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    redaction.redact_logging()
    asyncio.run(serve(name, int(port), int(smtp_port)))


if __name__ == "__main__":
    main(sys.argv[1:])
