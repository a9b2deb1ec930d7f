"""The restart policy of `server standalone`'s supervisor: delays and the give-up decision."""

from __future__ import annotations

from kestra_stream.supervisor import GiveUp, Restart, RestartPolicy, after_exit

POLICY = RestartPolicy(first_delay=0.5, max_delay=4.0, fast_run=60.0, max_fast_failures=5)


def test_a_child_that_ran_long_is_restarted_at_once_and_its_count_starts_over() -> None:
    assert after_exit(POLICY, fast_failures=3, uptime=3600.0) == Restart(delay=0.5, fast_failures=0)


def test_each_fast_death_in_a_row_doubles_the_delay_up_to_the_cap() -> None:
    delays = []
    failures = 0
    for _ in range(4):
        decision = after_exit(POLICY, failures, uptime=1.0)
        assert isinstance(decision, Restart)
        delays.append(decision.delay)
        failures = decision.fast_failures
    assert delays == [1.0, 2.0, 4.0, 4.0]


def test_the_fifth_fast_death_in_a_row_gives_up() -> None:
    assert after_exit(POLICY, fast_failures=4, uptime=59.9) == GiveUp(fast_failures=5)


def test_a_long_run_between_fast_deaths_keeps_the_supervisor_from_giving_up() -> None:
    assert isinstance(after_exit(POLICY, fast_failures=4, uptime=60.0), Restart)


def test_the_help_text_states_the_policy() -> None:
    text = POLICY.describe()
    assert "0.5 s" in text and "4 s" in text and "60 s" in text and "after 5 such deaths" in text
