"""Message ids and the clock the journal uses."""

from __future__ import annotations

import datetime as dt
import os
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_message_id() -> str:
    """A 26-character, time-ordered, URL-safe id (ULID layout: 48-bit ms time, 80 random bits).

    Time order keeps listings and indexes in acceptance order; 26 characters fit every target's
    external-reference field (NAV's ``External_Document_No`` holds 35).
    """
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def utcnow() -> dt.datetime:
    """The current time, timezone-aware in UTC."""
    return dt.datetime.now(dt.UTC)
