"""Message ids: the ULID layout (48-bit milliseconds, then 80 random bits, Crockford base 32)."""

from __future__ import annotations

import os
import random
import time

from bus.journal.ids import new_message_id, unique_hex

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def decoded(message_id: str) -> int:
    """The 128-bit number an id spells, one character at a time."""
    value = 0
    for character in message_id:
        value = value * 32 + CROCKFORD.index(character)
    return value


def test_an_id_is_26_crockford_characters_led_by_its_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    message_id = new_message_id()
    after = time.time_ns() // 1_000_000
    assert len(message_id) == 26
    assert set(message_id) <= set(CROCKFORD)
    value = decoded(message_id)
    assert value < 2**128  # the first character carries the two zero bits of 130
    assert before <= value >> 80 <= after


def test_ids_are_distinct_and_ordered_by_time() -> None:
    earlier = [new_message_id() for _ in range(1000)]
    time.sleep(0.002)
    later = new_message_id()
    assert len(set(earlier)) == 1000
    assert later > max(earlier)
    assert len({decoded(m) & (2**80 - 1) for m in earlier}) == 1000  # the random part varies


def test_forked_processes_make_ids_of_their_own() -> None:
    """``bus serve --processes N`` forks: each child's random bits must not repeat its parent's
    (or its siblings')."""
    children = []
    for _ in range(2):
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: write its ids and leave at once
            os.write(writer, " ".join([new_message_id()[10:], unique_hex()]).encode())
            os._exit(0)
        os.close(writer)
        with os.fdopen(reader) as pipe:
            children.append(pipe.read().split())
        os.waitpid(pid, 0)
    mine = [new_message_id()[10:], unique_hex()]
    assert len({tuple(ids) for ids in [*children, mine]}) == 3
    assert all(len(ids[1]) == 32 and int(ids[1], 16) >= 0 for ids in [*children, mine])


def test_seeding_the_random_module_does_not_repeat_ids() -> None:
    """Test tools and libraries seed :mod:`random` (hypothesis does for every example): ids have
    a generator of their own."""
    made = []
    for _ in range(2):
        random.seed(13)
        message_id = new_message_id()[10:]
        random.seed(13)
        made.append((message_id, unique_hex()))
    assert made[0][0] != made[1][0]
    assert made[0][1] != made[1][1]
