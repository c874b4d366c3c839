"""The success envelope: ``{"result", "time"}`` plus ``total``/``next`` for list methods."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

#: The portal's time zone; every date the simulator shows carries this offset.
PORTAL_TZ = timezone(timedelta(hours=3))
#: How far ahead ``operating_reset_at`` points by default (the 10-minute operating window).
_OPERATING_WINDOW = 600.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a method returns: its ``result`` and, for list methods, the paging fields."""

    result: Any
    total: int | None = None
    next: int | None = None


def iso(moment: datetime) -> str:
    """A date as Bitrix24 shows it: ISO 8601 with the portal's offset, whole seconds."""
    return moment.astimezone(PORTAL_TZ).replace(microsecond=0).isoformat()


def now_iso() -> str:
    """The current wall-clock time in the portal's zone."""
    return iso(datetime.now(PORTAL_TZ))


def time_block(
    start: float,
    finish: float,
    operating: float | None = None,
    reset_in: float = _OPERATING_WINDOW,
) -> dict[str, Any]:
    """The ``time`` object of a response that started and finished at these unix times.

    Parameters:
        start: when the request started (unix seconds).
        finish: when it finished.
        operating: the method's execution time accumulated in the window (default: this
            call's duration).
        reset_in: seconds from ``start`` until part of the operating budget is released.
    """
    duration = round(finish - start, 6)
    return {
        "start": start,
        "finish": finish,
        "duration": duration,
        "processing": duration,
        "date_start": iso(datetime.fromtimestamp(start, PORTAL_TZ)),
        "date_finish": iso(datetime.fromtimestamp(finish, PORTAL_TZ)),
        "operating_reset_at": int(start + reset_in),
        "operating": duration if operating is None else round(operating, 6),
    }


def envelope(
    outcome: Outcome,
    start: float,
    finish: float,
    operating: float | None = None,
    reset_in: float = _OPERATING_WINDOW,
) -> dict[str, Any]:
    """The whole HTTP 200 body of a successful call (see :func:`time_block` for the rest)."""
    body: dict[str, Any] = {"result": outcome.result}
    if outcome.next is not None:
        body["next"] = outcome.next
    if outcome.total is not None:
        body["total"] = outcome.total
    body["time"] = time_block(start, finish, operating, reset_in)
    return body
