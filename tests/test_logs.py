"""Log lines carry the ids of the call or the attempt they belong to, and no other's."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from bus import logs


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.ContextFilter())
    logger = logging.getLogger("tests.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream, handler
    logger.removeHandler(handler)


def test_json_lines_carry_the_attempts_ids_and_extras(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, handler = captured
    handler.setFormatter(logs.json_formatter())
    logger.info("outside")
    with logs.attempt_ids("01MSG", "corr-1"):
        logger.error("failed", extra={"target": "navision"})
    logger.info("after")
    outside, inside, after = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["message_id"] == "01MSG" and inside["correlation_id"] == "corr-1"
    assert inside["target"] == "navision" and inside["level"] == "ERROR"
    assert {"time", "logger", "message"} <= inside.keys()
    assert "message_id" not in outside and "message_id" not in after
    assert "correlation_id" not in after


def test_text_lines_append_the_ids_before_a_traceback(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, handler = captured
    handler.setFormatter(logs.TextFormatter())
    with logs.attempt_ids("01MSG", None):
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("attempt raised")
    first, *rest = stream.getvalue().splitlines()
    assert first.endswith("attempt raised [message_id=01MSG]")
    assert rest[0].startswith("Traceback")


def test_concurrent_calls_keep_their_own_correlation_ids(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, handler = captured
    handler.setFormatter(logs.json_formatter())

    async def call(correlation_id: str) -> None:
        logs.bind_correlation(correlation_id)
        await asyncio.sleep(0.01)  # the other call runs meanwhile
        logger.info("handled %s", correlation_id)

    async def both() -> None:
        await asyncio.gather(call("a"), call("b"))

    asyncio.run(both())
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert sorted((line["message"], line["correlation_id"]) for line in lines) == [
        ("handled a", "a"),
        ("handled b", "b"),
    ]


def test_a_calls_correlation_id_ends_with_the_call() -> None:
    async def two_calls_in_one_task() -> list[str | None]:
        seen = []
        with logs.call_scope():
            logs.bind_correlation("first")
            seen.append(logs.CORRELATION_ID.get())
        seen.append(logs.CORRELATION_ID.get())  # a health check on the same connection
        return seen

    assert asyncio.run(two_calls_in_one_task()) == ["first", None]
