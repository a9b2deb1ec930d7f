"""When a dead child is restarted, and when its supervisor gives up: no I/O, no clock."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RestartPolicy:
    """A child that dies is restarted after ``first_delay`` seconds, doubled for each death in a row
    that came within ``fast_run`` seconds of its start (at most ``max_delay``); the
    ``max_fast_failures``-th such fast death in a row means it cannot run here: give up."""

    first_delay: float = 0.5
    max_delay: float = 30.0
    fast_run: float = 60.0
    max_fast_failures: int = 5

    def describe(self) -> str:
        return (f"a component that dies is restarted after {self.first_delay:g} s, doubling up to "
                f"{self.max_delay:g} s while it keeps dying within {self.fast_run:g} s of its start; "
                f"after {self.max_fast_failures} such deaths in a row every component is stopped and the command "
                f"fails (exit 1), naming the component and showing its last lines")


@dataclass(frozen=True)
class Restart:
    delay: float
    fast_failures: int


@dataclass(frozen=True)
class GiveUp:
    fast_failures: int


def after_exit(policy: RestartPolicy, fast_failures: int, uptime: float) -> Restart | GiveUp:
    """What to do with a child that died after running ``uptime`` seconds, ``fast_failures`` fast
    deaths in a row before this one."""
    failures = fast_failures + 1 if uptime < policy.fast_run else 0
    if failures >= policy.max_fast_failures:
        return GiveUp(failures)
    return Restart(min(policy.first_delay * 2 ** failures, policy.max_delay), failures)
