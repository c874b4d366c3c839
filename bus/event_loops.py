"""The event loop of the bus's long-running processes: uvloop's where it is installed.

uvloop (libuv under asyncio's interface) spends less CPU per socket event than asyncio's selector
loop, and a worker's attempts and an API process's calls are mostly socket events (Redis,
PostgreSQL, HTTP). It is a dependency except on Windows, where asyncio's own loop runs.
"""

from __future__ import annotations

import asyncio
import logging

from dramatiq.asyncio import EventLoopThread


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new event loop: uvloop's if installed, else asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - not installed on Windows
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class LoopThread(EventLoopThread):
    """dramatiq's event loop thread (a worker's lanes run on it), on :func:`new_event_loop`."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger)
        self.loop.close()  # the one dramatiq made, never run
        self.loop = new_event_loop()
