"""Retry policies of tasks and flows (constant, exponential, random)."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from kestra_stream.durations import Duration


class RetryBehavior(StrEnum):
    RETRY_FAILED_TASK = "RETRY_FAILED_TASK"
    CREATE_NEW_EXECUTION = "CREATE_NEW_EXECUTION"


class _Retry(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, frozen=True,
                              validate_by_alias=True, validate_by_name=False, serialize_by_alias=True)

    # Counts every attempt, the first included; `maxAttempt` is the spelling of Kestra before 0.20.
    max_attempts: int | None = Field(
        default=None, ge=1, validation_alias=AliasChoices("maxAttempts", "maxAttempt"))
    max_duration: Duration | None = None
    warning_on_retry: bool = False
    behavior: RetryBehavior = RetryBehavior.RETRY_FAILED_TASK

    @model_validator(mode="after")
    def _bounded(self) -> _Retry:
        if self.max_attempts is None and self.max_duration is None:
            raise ValueError("a retry needs maxAttempts or maxDuration, or it would retry forever")
        return self


class ConstantRetry(_Retry):
    type: Literal["constant"]
    interval: Duration


class ExponentialRetry(_Retry):
    type: Literal["exponential"]
    interval: Duration
    max_interval: Duration
    delay_factor: float | None = None

    def delay(self, failed_attempts: int) -> timedelta:
        factor = self.delay_factor if self.delay_factor is not None else 2.0
        return min(self.interval * factor ** (failed_attempts - 1), self.max_interval)


class RandomRetry(_Retry):
    type: Literal["random"]
    min_interval: Duration
    max_interval: Duration


Retry = Annotated[ConstantRetry | ExponentialRetry | RandomRetry, Field(discriminator="type")]
