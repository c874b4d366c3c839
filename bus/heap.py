"""The cyclic garbage collector's settings for the long-running processes (``bus serve``,
``bus worker``).

CPython's collector walks every tracked object of the generations it collects. A started bus
process holds about 170,000 of them (its modules, settings, schemas, SQLAlchemy's and pydantic's
machinery), and none of them ever becomes garbage. Under load the objects of the calls and
attempts under way (requests, futures, rows) live a few milliseconds, long enough to outlive
young collections run every 700 allocations, so they are promoted and soon trigger a full
collection: an API process under load ran two a second, each walking everything it holds, about
a fifth of its CPU.

Once a process has started, :func:`settle` moves what it holds to the permanent generation,
which collections never walk, and collects the young generation less often, so that what a
call allocates is mostly freed by reference counting before a collection looks at it. Cycles
are still collected; only less often, and without walking the start-up heap.
"""

from __future__ import annotations

import gc

#: Allocations (less deallocations) of tracked objects between young collections; CPython's
#: default is 700. At tens of thousands the objects of calls under way are mostly freed before
#: a collection sees them, at a few MB of cyclic garbage held a little longer at most.
YOUNG_THRESHOLD = 50_000


def settle() -> None:
    """Freeze what the started process holds and collect the young generation less often.

    Called once a process is ready to work (its app built, its lanes started): what it built
    is kept for its lifetime.
    """
    gc.collect()  # not to freeze garbage along with what is kept
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
