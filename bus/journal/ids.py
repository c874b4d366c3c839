"""Message ids and the clock the journal uses."""

from __future__ import annotations

import datetime as dt
import os
import random
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: The ids' own generator, seeded from the OS, and again in every forked process (as
#: :mod:`random`'s own is): private, so that no ``random.seed()`` elsewhere makes ids repeat.
_RANDOM = random.Random()
if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_RANDOM.seed)
#: Every two Crockford characters, by the 10 bits they stand for: half the lookups of one by one
#: (an id is made for every message of every accept).
_PAIRS = [first + second for first in _CROCKFORD for second in _CROCKFORD]
#: The 13 ten-bit groups of a 130-bit number (the id's 128 bits after two zero bits), high first.
_SHIFTS = range(120, -1, -10)


def new_message_id() -> str:
    """A 26-character, time-ordered, URL-safe id (ULID layout: 48-bit ms time, 80 random bits).

    Time order keeps listings and indexes in acceptance order; 26 characters fit every target's
    external-reference field (NAV's ``External_Document_No`` holds 35).

    The random bits are a generator's seeded from the OS (at start, and again in each forked
    process), not the OS's own: an id must be unique, not secret (a caller reads a message only with
    its key), and asking the OS for bytes is a system call per id on the accept path.
    """
    value = (time.time_ns() // 1_000_000) << 80 | _RANDOM.getrandbits(80)
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])


def unique_hex() -> str:
    """32 random hex digits, as ``uuid4().hex`` gives, for ids that must be distinct but need
    not be secret: a call's correlation id, a wake-up's id in the queue."""
    return f"{_RANDOM.getrandbits(128):032x}"


def utcnow() -> dt.datetime:
    """The current time, timezone-aware in UTC."""
    return dt.datetime.now(dt.UTC)
