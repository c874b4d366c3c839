"""The retry policy: what a failed attempt leaves its message in, and when it runs again.

Backoff doubles from ``backoff_min`` up to ``backoff_max`` with "equal jitter" (half fixed, half
random) so that many messages failing together do not return together. A target's ``Retry-After``
is a floor. Retries stop at ``max_attempts`` or when the next attempt would fall past the deadline.
"""

from __future__ import annotations

import datetime as dt
import random

from bus.errors import DeliveryError, PermanentError, TransientError, UnknownOutcome
from bus.journal.delivery import Claim, Finish
from bus.journal.tables import Status
from bus.settings import RetryPolicy


def backoff(policy: RetryPolicy, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after the ``attempt``-th failed attempt of a cycle."""
    ceiling = min(policy.backoff_max, policy.backoff_min * 2.0 ** (attempt - 1))
    jitter: float = (rng or random).uniform(0, ceiling / 2)
    return ceiling / 2 + jitter


def after_failure(
    policy: RetryPolicy,
    claimed: Claim,
    error: DeliveryError,
    now: dt.datetime,
    rng: random.Random | None = None,
) -> Finish:
    """The finish for a failed attempt: failed, or a retry (``retry_wait``/``unknown_outcome``).

    An unknown outcome whose retries are exhausted is parked as ``unknown_outcome`` with no next
    attempt: an operator replays it, and the replay checks the target before repeating the effect.
    """
    if isinstance(error, PermanentError):
        return Finish(Status.FAILED, error=error.detail)
    if isinstance(error, TransientError) and error.throttled:
        return _throttled(policy, claimed, error, now)
    delay = backoff(policy, claimed.attempt_in_cycle, rng)
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        delay = max(delay, retry_after)
    next_attempt_at = now + dt.timedelta(seconds=delay)
    deadline = claimed.cycle_started_at + dt.timedelta(seconds=policy.deadline)
    unknown = isinstance(error, UnknownOutcome)
    if claimed.attempt_in_cycle >= policy.max_attempts or next_attempt_at > deadline:
        reason = f"gave up after {claimed.attempt_in_cycle} attempt(s): {error.detail}"
        return Finish(Status.UNKNOWN_OUTCOME if unknown else Status.FAILED, error=reason)
    status = Status.UNKNOWN_OUTCOME if unknown else Status.RETRY_WAIT
    return Finish(status, error=error.detail, next_attempt_at=next_attempt_at)


#: How long to wait after a throttled attempt when the target did not say.
THROTTLE_DELAY = 1.0


def _throttled(
    policy: RetryPolicy, claimed: Claim, error: TransientError, now: dt.datetime
) -> Finish:
    """A rate-limited attempt: try again when the target allows, without counting the attempt."""
    next_attempt_at = now + dt.timedelta(seconds=error.retry_after or THROTTLE_DELAY)
    if next_attempt_at > claimed.cycle_started_at + dt.timedelta(seconds=policy.deadline):
        return Finish(Status.FAILED, error=f"deadline passed while throttled: {error.detail}")
    return Finish(
        Status.RETRY_WAIT, error=error.detail, next_attempt_at=next_attempt_at, uncounted=True
    )
