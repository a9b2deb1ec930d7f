"""`server standalone --backend kafka` as a supervisor of one process per component, on the real
Kafka and Elasticsearch: a flow runs over HTTP, a killed worker comes back, SIGTERM stops every
child, `--workers 2` puts two processes in the worker group, and no child outlives a SIGKILLed
supervisor."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from confluent_kafka.admin import AdminClient

from kestra_stream.kafka import KafkaSettings
from tests._pidfiles import alive

pytestmark = [pytest.mark.kafka, pytest.mark.elasticsearch, pytest.mark.timeout(900)]

FLOW = """
id: hello
namespace: it.supervisor
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: hello from a child process
"""
START_WITHIN = 360.0  # five Python processes importing the engine on a shared, loaded machine
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port



def children_of(pid: int) -> dict[int, str]:
    """Living child processes of ``pid``: their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (FileNotFoundError, ProcessLookupError):
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = cmdline
    return found


def until(probe: Callable[[], T | None], what: str, within: float = 180.0) -> T:
    deadline = time.monotonic() + within
    while (value := probe()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within}s: {what}")
        time.sleep(0.25)
    return value


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    log: Path
    prefix: str

    def events(self, name: str) -> list[dict[str, Any]]:
        found = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                event = json.loads(line)
                if event.get("event") == name:
                    found.append(event)
        return found

    def ready_pids(self) -> dict[str, int]:
        """The pid of each component's latest ready process."""
        return {e["component"]: e["pid"] for e in self.events("child_ready")}

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data, headers = (json.dumps(body).encode(), {"Content-Type": "application/json"}) if body else (None, {})
        with urllib.request.urlopen(urllib.request.Request(f"{self.base}{path}", data=data, headers=headers,
                                                           method=method), timeout=30) as answer:
            return json.loads(answer.read())

    def answers(self, path: str) -> Any:
        try:
            return self.request("GET", path)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None

    def run_flow(self) -> dict[str, Any]:
        return self.until_state(self.start("hello"), {"SUCCESS", "FAILED", "KILLED"})

    def start(self, flow_id: str, inputs: dict[str, Any] | None = None) -> str:
        execution_id: str = self.request("POST", f"/api/v1/executions/it.supervisor/{flow_id}", inputs)["id"]
        return execution_id

    def until_state(self, execution_id: str, states: set[str]) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            execution = self.answers(f"/api/v1/executions/{execution_id}")
            return execution if execution and execution["state"]["current"] in states else None

        return until(reached, f"execution {execution_id} reaches one of {sorted(states)}")

    def fail(self, why: str) -> AssertionError:
        return AssertionError(f"{why}:\n{self.log.read_text()[-6000:]}")


@contextmanager
def standalone(tmp_path: Path, kafka_bootstrap: str, elasticsearch_url: str, *extra: str,
               flows_yaml: dict[str, str] | None = None) -> Iterator[Server]:
    """A supervisor whose topic prefix and API port come from its settings file, its Elasticsearch from
    the environment and its index prefix from an option: each must reach the child that uses it."""
    run = uuid.uuid4().hex[:8]
    prefix, port = f"it-sup-{run}.", free_port()
    config = tmp_path / "settings.yaml"
    config.write_text(f"kafka:\n  topic_prefix: {prefix}\n  partitions: 2\napi:\n  port: {port}\n")
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "hello.yaml").write_text(FLOW)
    for name, source in (flows_yaml or {}).items():
        (flows / name).write_text(source)
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "kestra_stream", "--log-format", "json", "--log-level", "INFO", "server",
             "standalone", "--config", str(config), "--bootstrap-servers", kafka_bootstrap, "--home",
             str(tmp_path / "home"), "--flows", str(flows), "--index-prefix", f"it_sup_{run}", *extra],
            stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "KESTRA_STREAM_ELASTICSEARCH_URL": elasticsearch_url})
    server = Server(process, f"http://127.0.0.1:{port}", log, prefix)

    def all_ready() -> bool | None:
        if process.poll() is not None:
            raise server.fail(f"the supervisor exited with {process.returncode}")
        return True if "API on http://" in log.read_text() else None

    try:
        until(all_ready, "every child is ready", within=START_WITHIN)
        until(lambda: server.answers("/api/v1/flows/it.supervisor/hello"), "the flow is deployed")
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_two_workers_run_a_flow_over_http_and_sigterm_stops_every_child_with_exit_0(
        kafka_bootstrap: str, elasticsearch_url: str, tmp_path: Path) -> None:
    with standalone(tmp_path, kafka_bootstrap, elasticsearch_url, "--workers", "2") as server:
        pids = server.ready_pids()
        assert sorted(pids) == ["executor", "indexer", "webserver", "worker-1", "worker-2"]
        running = children_of(server.process.pid)
        assert set(running) == set(pids.values())
        assert sum(" worker " in cmdline for cmdline in running.values()) == 2

        group = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=server.prefix).worker_group_id
        admin = AdminClient({"bootstrap.servers": kafka_bootstrap})

        def members() -> int | None:
            described = admin.describe_consumer_groups([group])[group].result(timeout=30)
            return len(described.members) if len(described.members) == 2 else None

        assert until(members, "both workers joined the worker group") == 2

        execution = server.run_flow()
        assert execution["state"]["current"] == "SUCCESS"
        # Indexed by the indexer child, found by the webserver child: both use the supervisor's
        # Elasticsearch (from the environment) and index prefix (from the option).
        def searchable() -> bool | None:
            found = server.answers("/api/v1/executions/search?namespace=it.supervisor") or {"results": []}
            return True if [r["id"] for r in found["results"]] == [execution["id"]] else None

        until(searchable, "the execution is searchable")

        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=120) == 0, server.fail("not a clean stop")
        assert not [pid for pid in pids.values() if alive(pid)]
        assert {e["component"] for e in server.events("child_stopped")} == set(pids)


def test_a_sigkilled_worker_is_restarted_and_a_sigkilled_supervisor_leaves_no_child(
        kafka_bootstrap: str, elasticsearch_url: str, tmp_path: Path) -> None:
    with standalone(tmp_path, kafka_bootstrap, elasticsearch_url) as server:
        assert server.run_flow()["state"]["current"] == "SUCCESS"
        first = server.ready_pids()["worker-1"]
        os.kill(first, signal.SIGKILL)

        died = until(lambda: next(iter(server.events("child_died")), None), "the worker's death is logged")
        assert (died["component"], died["pid"], died["signal"]) == ("worker-1", first, "SIGKILL")
        restarted = until(lambda: p if (p := server.ready_pids()["worker-1"]) != first else None,
                          "the worker is ready again")
        assert [e["component"] for e in server.events("child_restarting")] == ["worker-1"]
        assert server.run_flow()["state"]["current"] == "SUCCESS", server.fail("no success after the restart")

        pids = set(server.ready_pids().values())
        assert restarted in pids and first not in pids
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        until(lambda: None if any(alive(pid) for pid in pids) else True, "the children died with the supervisor")


SERVICES_FLOW = """
id: services
namespace: it.supervisor
inputs:
  - id: paused
    type: STRING
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: a line for log.Fetch
  - id: fetch
    type: io.kestra.plugin.core.log.Fetch
    tasksId: [hello]
  - id: resume
    type: io.kestra.plugin.core.execution.Resume
    namespace: it.supervisor
    flowId: paused
    executionId: "{{ inputs.paused }}"
  - id: toggle
    type: io.kestra.plugin.core.trigger.Toggle
    trigger: yearly
    enabled: false
  - id: count
    type: io.kestra.plugin.core.execution.Count
    startDate: "{{ now() | dateAdd(-1, 'HOURS') }}"
    flows:
      - namespace: it.supervisor
        flowId: paused
    expression: "{{ count > 0 }}"
outputs:
  - id: fetched
    type: STRING
    value: "{{ outputs.fetch.size }}"
  - id: counted
    type: STRING
    value: "{{ outputs.count.total }}"
triggers:
  - id: yearly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 0 1 1 *"
"""

PAUSED_FLOW = """
id: paused
namespace: it.supervisor
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: resumed
"""


def test_a_worker_child_fetches_logs_resumes_and_counts_executions_and_toggles_a_trigger(
        kafka_bootstrap: str, elasticsearch_url: str, tmp_path: Path) -> None:
    flows = {"services.yaml": SERVICES_FLOW, "paused.yaml": PAUSED_FLOW}
    with standalone(tmp_path, kafka_bootstrap, elasticsearch_url, flows_yaml=flows) as server:
        until(lambda: server.answers("/api/v1/flows/it.supervisor/services"), "the flow is deployed")
        until(lambda: server.answers("/api/v1/flows/it.supervisor/paused"), "the paused flow is deployed")
        paused = server.start("paused")
        server.until_state(paused, {"PAUSED"})

        execution = server.until_state(server.start("services", {"paused": paused}),
                                       {"SUCCESS", "FAILED", "KILLED"})
        assert execution["state"]["current"] == "SUCCESS", server.fail(json.dumps(execution["taskRunList"]))
        # Counted in Elasticsearch, which the supervisor's environment names to the worker child too.
        assert execution["outputs"] == {"fetched": "1", "counted": "1"}
        assert server.until_state(paused, {"SUCCESS", "FAILED", "KILLED"})["state"]["current"] == "SUCCESS"

        def disabled() -> bool | None:
            found = server.answers("/api/v1/triggers/search?namespace=it.supervisor") or {"results": []}
            return True if any(r["triggerContext"]["triggerId"] == "yearly" and r["triggerContext"]["disabled"]
                               for r in found["results"]) else None

        until(disabled, "the trigger is disabled as the API sees it")
