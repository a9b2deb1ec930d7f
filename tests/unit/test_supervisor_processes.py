"""The supervisor with real child processes (small Python scripts, no service): restarts, giving up,
stopping, merged logs, and children that die with a SIGKILLed supervisor."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import structlog

from kestra_stream.supervisor import ChildFailed, ChildSpec, RestartPolicy, Supervisor
from tests._pidfiles import alive, written_pid
from tests._waiting import until

QUICK = RestartPolicy(first_delay=0.05, max_delay=0.2, fast_run=60.0, max_fast_failures=3)
READY = f"print({json.dumps(json.dumps({'kestra_stream_ready': 'up'}))}, flush=True)"


def python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]



def test_a_child_that_dies_is_restarted_and_its_death_logged(tmp_path: Path) -> None:
    marker = tmp_path / "died-once"
    child = python(f"""
        import pathlib, sys, time
        marker = pathlib.Path({str(marker)!r})
        if not marker.exists():
            marker.write_text("x")
            sys.exit(3)
        {READY}
        time.sleep(600)
    """)
    ready: list[tuple[str, int]] = []

    async def scenario() -> None:
        supervisor = Supervisor([ChildSpec("flaky", child)], QUICK,
                                on_ready=lambda name, pid: ready.append((name, pid)))
        running = asyncio.create_task(supervisor.run())
        await until(lambda: bool(ready), "the restarted child is ready")
        supervisor.stop()
        await running

    with structlog.testing.capture_logs() as logs:
        asyncio.run(scenario())
    died = [e for e in logs if e["event"] == "child_died"]
    assert [(e["component"], e["exit_code"]) for e in died] == [("flaky", 3)]
    assert [e["component"] for e in logs if e["event"] == "child_restarting"] == ["flaky"]
    assert [e["event"] for e in logs if e["event"].startswith("child_")][-1] == "child_stopped"


def test_a_child_that_keeps_dying_stops_everything_naming_it_with_its_last_lines() -> None:
    dying = python("import sys; print('cannot bind the port', file=sys.stderr); sys.exit(2)")
    steady = python(f"import time\n{READY}\ntime.sleep(600)")
    steady_pids: list[int] = []

    async def scenario() -> None:
        supervisor = Supervisor([ChildSpec("steady", steady), ChildSpec("webserver", dying)], QUICK,
                                on_ready=lambda name, pid: steady_pids.append(pid))
        await supervisor.run()

    with pytest.raises(ChildFailed) as failed:
        asyncio.run(scenario())
    message = str(failed.value)
    assert message.startswith("the webserver component died 3 times in a row within 60 s of starting "
                              "(last exit code 2)")
    assert "cannot bind the port" in message
    assert steady_pids and not any(alive(pid) for pid in steady_pids)


def test_stop_sends_sigterm_then_sigkill_to_a_child_that_ignores_it() -> None:
    stubborn = python(f"import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n{READY}\ntime.sleep(600)")
    polite = python(f"import time\n{READY}\ntime.sleep(600)")
    pids: dict[str, int] = {}

    async def scenario() -> None:
        supervisor = Supervisor([ChildSpec("stubborn", stubborn), ChildSpec("polite", polite)], QUICK,
                                stop_seconds=1.0, on_ready=lambda name, pid: pids.__setitem__(name, pid))
        running = asyncio.create_task(supervisor.run())
        await until(lambda: len(pids) == 2, "both children ready")
        supervisor.stop()
        await running

    with structlog.testing.capture_logs() as logs:
        asyncio.run(scenario())
    stopped = {e["component"]: e.get("signal") for e in logs if e["event"] == "child_stopped"}
    assert stopped == {"stubborn": "SIGKILL", "polite": "SIGTERM"}
    assert [e["component"] for e in logs if e["event"] == "child_killed"] == ["stubborn"]
    assert not any(alive(pid) for pid in pids.values())


def test_child_log_lines_are_re_emitted_with_the_component_and_pid_bound() -> None:
    talker = python(f"""
        import json, sys, time
        print(json.dumps({{"event": "task_failed", "level": "error", "task_id": "t1", "timestamp": "x"}}),
              file=sys.stderr, flush=True)
        print("Traceback (most recent call last):", file=sys.stderr, flush=True)
        {READY}
        time.sleep(600)
    """)
    pids: list[int] = []

    async def scenario() -> None:
        supervisor = Supervisor([ChildSpec("worker-1", talker)], QUICK, on_ready=lambda name, pid: pids.append(pid))
        running = asyncio.create_task(supervisor.run())
        await until(lambda: bool(pids), "the child is ready")
        supervisor.stop()
        await running

    with structlog.testing.capture_logs() as logs:
        asyncio.run(scenario())
    merged = [e for e in logs if not e["event"].startswith("child_")]
    assert merged == [
        {"event": "task_failed", "log_level": "error", "task_id": "t1", "component": "worker-1", "pid": pids[0]},
        {"event": "Traceback (most recent call last):", "log_level": "warning", "component": "worker-1",
         "pid": pids[0]},
    ]


def test_children_die_with_a_sigkilled_supervisor(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    child = [sys.executable, "-c", textwrap.dedent(f"""
        import time
        from kestra_stream.supervisor import adopt_supervision
        adopt_supervision()
        {READY}
        time.sleep(600)
    """)]
    supervisor_code = textwrap.dedent(f"""
        import asyncio, pathlib
        from kestra_stream.supervisor import ChildSpec, Supervisor
        def ready(name, pid):
            pathlib.Path({str(pid_file)!r}).write_text(str(pid))
        asyncio.run(Supervisor([ChildSpec("sleeper", {child!r})], on_ready=ready).run())
    """)
    supervisor = subprocess.Popen([sys.executable, "-c", supervisor_code])
    try:
        deadline = time.monotonic() + 60
        while (child_pid := written_pid(pid_file)) is None:
            assert supervisor.poll() is None and time.monotonic() < deadline, "the child never became ready"
            time.sleep(0.05)
    finally:
        supervisor.send_signal(signal.SIGKILL)
        supervisor.wait()
    asyncio.run(until(lambda: not alive(child_pid), "the orphaned child is gone"))


def test_a_start_last_child_starts_only_once_the_others_are_ready(tmp_path: Path) -> None:
    marker = tmp_path / "backend-ready"
    backend = python(f"""
        import pathlib, time
        time.sleep(1.0)
        pathlib.Path({str(marker)!r}).write_text("x")
        {READY}
        time.sleep(600)
    """)
    api = python(f"""
        import pathlib, sys, time
        if not pathlib.Path({str(marker)!r}).exists():
            sys.exit(5)
        {READY}
        time.sleep(600)
    """)
    order: list[str] = []

    async def scenario() -> None:
        supervisor = Supervisor([ChildSpec("api", api, start_last=True), ChildSpec("backend", backend)], QUICK,
                                on_ready=lambda name, pid: order.append(name))
        running = asyncio.create_task(supervisor.run())
        await until(lambda: len(order) == 2, "both children ready")
        supervisor.stop()
        await running

    with structlog.testing.capture_logs() as logs:
        asyncio.run(scenario())
    assert order == ["backend", "api"]
    assert [e for e in logs if e["event"] == "child_died"] == []


def test_a_child_that_cannot_be_started_stops_everything_saying_which() -> None:
    steady = python(f"import time\n{READY}\ntime.sleep(600)")

    async def scenario() -> None:
        await Supervisor([ChildSpec("steady", steady), ChildSpec("indexer", ["/nonexistent/python"])], QUICK).run()

    with pytest.raises(ChildFailed, match=r"could not start the indexer component \(/nonexistent/python\)"):
        asyncio.run(scenario())
