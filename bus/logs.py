"""The process's log lines: plain text or JSON lines, each carrying the call's or the attempt's ids.

The edge binds the correlation id of each HTTP call, the deliverer the message id (and the
correlation id of the call that sent it) of each attempt, in context variables: every line logged
while they are bound carries them, whichever module logs it, because a filter on the handlers
copies them onto each record. aiohttp runs each request in its own task and the delivery worker
each attempt in its own task, so the ids of one call never leak onto the lines of another.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["text", "json"]

#: The correlation id of the call under way (the caller's ``X-Correlation-Id``, or the bus's own).
CORRELATION_ID: ContextVar[str | None] = ContextVar("correlation_id", default=None)
#: The message of the delivery attempt under way.
MESSAGE_ID: ContextVar[str | None] = ContextVar("message_id", default=None)

_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: The record's attributes a JSON line starts with, under these names.
_JSON_FIELDS = {"asctime": "time", "levelname": "level", "name": "logger"}


def bind_correlation(correlation_id: str) -> None:
    """Carry ``correlation_id`` on every line logged from here on in this task (one HTTP call)."""
    CORRELATION_ID.set(correlation_id)


@contextmanager
def call_scope() -> Iterator[None]:
    """One HTTP call: the correlation id bound inside (:func:`bind_correlation`) is unbound at
    the end. aiohttp may serve the requests of one keep-alive connection in one task: without
    this, a later request on it (a health check) would log under the earlier call's id."""
    token = CORRELATION_ID.set(None)
    try:
        yield
    finally:
        CORRELATION_ID.reset(token)


@contextmanager
def attempt_ids(message_id: str, correlation_id: str | None) -> Iterator[None]:
    """Carry the ids of one delivery attempt on every line logged inside the block."""
    message = MESSAGE_ID.set(message_id)
    correlation = CORRELATION_ID.set(correlation_id)
    try:
        yield
    finally:
        CORRELATION_ID.reset(correlation)
        MESSAGE_ID.reset(message)


class ContextFilter(logging.Filter):
    """Copies the bound ids onto each record (as ``correlation_id`` and ``message_id``); a line
    outside any call or attempt gets neither."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, variable in (("correlation_id", CORRELATION_ID), ("message_id", MESSAGE_ID)):
            value = variable.get()
            if value is not None and not hasattr(record, name):
                setattr(record, name, value)
        return True


class TextFormatter(logging.Formatter):
    """The plain format, with the bound ids appended when there are any."""

    def __init__(self) -> None:
        super().__init__(_TEXT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = [
            f"{name}={getattr(record, name)}"
            for name in ("correlation_id", "message_id")
            if getattr(record, name, None)
        ]
        if not ids:
            return line
        first, newline, rest = line.partition("\n")  # after the message, before a traceback
        return f"{first} [{' '.join(ids)}]{newline}{rest}"


def json_formatter() -> logging.Formatter:
    """One JSON object a line: time, level, logger, message, the bound ids and any ``extra``."""
    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields=_JSON_FIELDS,
        json_ensure_ascii=False,
    )


def configure(level: str = "INFO") -> None:
    """Log to standard error as text, with the bound ids on every line (see :func:`use_format`)."""
    logging.basicConfig(level=level)
    use_format("text")


def use_format(log_format: LogFormat) -> None:
    """Write the lines of the handlers already set up in ``log_format``, with the bound ids.

    Called once the settings are read: the lines before (reading them) are text.
    """
    formatter = json_formatter() if log_format == "json" else TextFormatter()
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)
        if not any(isinstance(f, ContextFilter) for f in handler.filters):
            handler.addFilter(ContextFilter())
