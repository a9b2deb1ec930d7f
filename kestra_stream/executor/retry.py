"""When a failed attempt is tried again: Kestra's constant, exponential and random policies."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from kestra_stream.ids import unit_interval
from kestra_stream.models.execution import Attempt
from kestra_stream.models.retry import ConstantRetry, ExponentialRetry, RandomRetry

AnyRetry = ConstantRetry | ExponentialRetry | RandomRetry


def next_attempt_at(retry: AnyRetry, attempts: Sequence[Attempt], failed_at: datetime,
                    seed: str) -> datetime | None:
    """When the next attempt starts, or None when the policy is exhausted.

    ``attempts`` are every attempt so far, the failed one included; ``maxAttempts`` counts them
    all (the first included). Random delays are drawn from ``seed`` so a replay decides alike.
    """
    done = len(attempts)
    if retry.max_attempts is not None and done >= retry.max_attempts:
        return None
    if isinstance(retry, ConstantRetry):
        delay = retry.interval
    elif isinstance(retry, ExponentialRetry):
        delay = retry.delay(done)
    else:
        span = retry.max_interval - retry.min_interval
        delay = retry.min_interval + span * unit_interval(seed, done)
    fire_at = failed_at + delay
    if retry.max_duration is not None and attempts and fire_at - attempts[0].state.start_date > retry.max_duration:
        return None
    return fire_at
