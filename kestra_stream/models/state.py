"""Execution and task-run states, with Kestra's groups and the order the final state is derived in."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class StateType(StrEnum):
    CREATED = "CREATED"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    RETRYING = "RETRYING"
    RETRIED = "RETRIED"
    RESTARTED = "RESTARTED"
    KILLING = "KILLING"
    KILLED = "KILLED"
    SUCCESS = "SUCCESS"
    WARNING = "WARNING"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    SKIPPED = "SKIPPED"

    @property
    def is_terminated(self) -> bool:
        return self in _TERMINATED

    @property
    def is_running(self) -> bool:
        return self in (StateType.RUNNING, StateType.KILLING)

    @property
    def is_created(self) -> bool:
        return self in (StateType.CREATED, StateType.RESTARTED)

    @property
    def is_failed(self) -> bool:
        return self in (StateType.FAILED, StateType.KILLED)

    @property
    def is_success(self) -> bool:
        """Ended in a way that lets the next task of a sequence start."""
        return self in (StateType.SUCCESS, StateType.WARNING, StateType.SKIPPED)


_TERMINATED = frozenset({
    StateType.SUCCESS, StateType.WARNING, StateType.FAILED, StateType.KILLED,
    StateType.CANCELLED, StateType.RETRIED, StateType.SKIPPED,
})

# Kestra's Execution.guessFinalState: the first of these found among the children wins.
FINAL_STATE_PRECEDENCE: tuple[StateType, ...] = (
    StateType.KILLED, StateType.FAILED, StateType.WARNING, StateType.PAUSED, StateType.SUCCESS,
)


class StateHistory(BaseModel):
    model_config = ConfigDict(frozen=True)

    state: StateType
    date: datetime


class State(BaseModel):
    """A current state and how it got there. Changing to the same state is ignored, as in Kestra."""

    model_config = ConfigDict(frozen=True)

    current: StateType
    histories: tuple[StateHistory, ...] = ()

    @classmethod
    def new(cls, state: StateType, at: datetime) -> State:
        return cls(current=state, histories=(StateHistory(state=state, date=at),))

    def with_state(self, state: StateType, at: datetime) -> State:
        if state == self.current:
            return self
        return State(current=state, histories=(*self.histories, StateHistory(state=state, date=at)))

    @property
    def start_date(self) -> datetime:
        return self.histories[0].date

    @property
    def end_date(self) -> datetime | None:
        return self.histories[-1].date if self.current.is_terminated else None
