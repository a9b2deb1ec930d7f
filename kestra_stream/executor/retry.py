"""When a failed attempt is tried again: Kestra's constant, exponential and random policies."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

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
    fire_at = failed_at + _delay(retry, done, seed)
    if retry.max_duration is not None and attempts and fire_at - attempts[0].state.start_date > retry.max_duration:
        return None
    return fire_at


def next_execution_at(retry: AnyRetry, attempt_number: int, failed_at: datetime, first_created: datetime,
                      seed: str) -> datetime | None:
    """When the next execution of a CREATE_NEW_EXECUTION retry starts, or None when the policy is exhausted.

    ``attempt_number`` is the failed execution's (1 for the first); ``maxDuration`` runs from the
    creation of the first execution of the chain.
    """
    if retry.max_attempts is not None and attempt_number >= retry.max_attempts:
        return None
    fire_at = failed_at + _delay(retry, attempt_number, seed)
    if retry.max_duration is not None and fire_at - first_created > retry.max_duration:
        return None
    return fire_at


def _delay(retry: AnyRetry, done: int, seed: str) -> timedelta:
    if isinstance(retry, ConstantRetry):
        return retry.interval
    if isinstance(retry, ExponentialRetry):
        return retry.delay(done)
    return retry.min_interval + (retry.max_interval - retry.min_interval) * unit_interval(seed, done)
