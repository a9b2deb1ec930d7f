"""Every Kestra compatibility case runs through `kestra-stream execute` and produces its expected runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from kestra_stream.cli import main
from kestra_stream.search import ElasticsearchRepository

CASES = Path(__file__).parent / "cases"
BACKENDS = ("embedded", "kafka")


def _runs() -> list[Any]:
    params = []
    for case in sorted(p for p in CASES.iterdir() if (p / "case.yaml").exists()):
        spec = YAML(typ="safe").load((case / "case.yaml").read_text())
        backends = spec.get("backends", BACKENDS)
        unknown = set(backends) - set(BACKENDS)
        assert not unknown, f"{case.name}/case.yaml names unknown backends {sorted(unknown)}"
        for index, run in enumerate(spec["runs"]):
            for backend in backends:
                marks = [pytest.mark.kafka] if backend == "kafka" else []
                params.append(pytest.param(backend, case, spec, run, marks=marks, id=f"{backend}-{case.name}[{index}]"))
    return params


def _execute(backend: str, args: list[str], request: pytest.FixtureRequest, search: bool,
             env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    """The embedded backend in-process (fast); Kafka in a process of its own, as a user would run it, with
    Elasticsearch and an indexer beside for the cases that read the history of executions (``search``).
    ``env``: environment variables set for the run (a case's ``env:``)."""
    env = dict(env or {})
    if backend == "embedded":
        result = CliRunner().invoke(main, args, catch_exceptions=False, env=env)
        return result.exit_code, result.stdout, result.stderr
    bootstrap = request.getfixturevalue("kafka_bootstrap")
    run = uuid.uuid4().hex[:10]
    options = ["--backend", "kafka", "--bootstrap-servers", bootstrap, "--topic-prefix", f"compat-{run}.",
               "--partitions", "2"]
    if search:
        url = request.getfixturevalue("elasticsearch_url")
        index_prefix = f"compat_{run}"
        options += ["--elasticsearch-url", url, "--index-prefix", index_prefix]
        request.addfinalizer(lambda: _drop_indices(url, index_prefix))
    done = subprocess.run([sys.executable, "-m", "kestra_stream", *args, *options],
                          capture_output=True, text=True, timeout=180, check=False, env={**os.environ, **env})
    return done.returncode, done.stdout, done.stderr


def _drop_indices(url: str, prefix: str) -> None:
    repository = ElasticsearchRepository.connect(url, prefix=prefix)
    try:
        repository.drop()
    finally:
        repository.close()


def _seconds(state: dict[str, Any]) -> float:
    dates = [datetime.fromisoformat(h["date"]) for h in state["histories"]]
    return (dates[-1] - dates[0]).total_seconds()


@pytest.mark.parametrize(("backend", "case", "spec", "run"), _runs())
def test_compat_case(backend: str, case: Path, spec: dict[str, Any], run: dict[str, Any], tmp_path: Path,
                     request: pytest.FixtureRequest) -> None:
    flows_dir = tmp_path / "flows"
    flows_dir.mkdir()
    for name in spec.get("flows", []):
        shutil.copy(case / name, flows_dir / name)
    args = ["execute", str(case / "flow.yaml"), "--flows", str(flows_dir), "--with-logs", "--output", "json",
            *spec.get("options", [])]
    if spec.get("templates"):  # saved to the run's internal storage before the flow runs
        templates_dir = tmp_path / "templates"
        templates_dir.mkdir()
        for name in spec["templates"]:
            shutil.copy(case / name, templates_dir / name)
        args += ["--templates", str(templates_dir)]
    for key, value in (run.get("inputs") or {}).items():
        args += ["--input", f"{key}={value}"]
    env = {str(k): str(v) for k, v in (spec.get("env") or {}).items()}
    exit_code, stdout, stderr = _execute(backend, args, request, spec.get("search", False), env)
    expect = run["expect"]

    if "invalid" in expect:  # the flow itself is refused, as Kestra refuses to save it: no execution starts
        assert exit_code == 2, stdout + stderr
        assert not stdout, stdout
        assert expect["invalid"] in stderr, stderr
        return

    if expect.get("rejected"):
        assert exit_code == 2, stdout + stderr
        key = next(iter(run["inputs"]))
        assert f"'{key}'" in stderr, stderr
        return

    assert stdout, stderr
    execution = json.loads(stdout)
    assert execution["state"]["current"] == expect["state"], json.dumps(execution, indent=1)
    assert exit_code == (0 if expect["state"] in ("SUCCESS", "WARNING") else 1)
    if "attempt_number" in expect:  # the try of the flow (a flow retry with CREATE_NEW_EXECUTION)
        assert execution["metadata"]["attemptNumber"] == expect["attempt_number"]
    if "outputs" in expect:
        assert execution["outputs"] == expect["outputs"]
    labels = {label["key"]: label["value"] for label in execution["labels"]}
    for key, value in (expect.get("labels") or {}).items():
        assert labels.get(key) == value
    if "min_seconds" in expect:
        assert _seconds(execution["state"]) >= expect["min_seconds"]
    if "max_seconds" in expect:
        assert _seconds(execution["state"]) <= expect["max_seconds"]
    for task_id, want in (expect.get("taskruns") or {}).items():
        runs = [tr for tr in execution["taskRunList"] if tr["taskId"] == task_id]
        if "count" in want:
            assert len(runs) == want["count"], (task_id, runs)
        for tr in runs:
            if "state" in want:
                assert tr["state"]["current"] == want["state"], (task_id, tr)
            if "attempts" in want:
                assert len(tr["attempts"]) == want["attempts"], (task_id, tr)
            if "min_attempts" in want:
                assert len(tr["attempts"]) >= want["min_attempts"], (task_id, tr)
    for want in expect.get("logs") or []:
        matching = [line for line in execution["logs"] if line["taskId"] == want["task"]
                    and want["contains"] in line["message"]
                    and ("level" not in want or line["level"] == want["level"])]
        assert matching, (want, execution["logs"])
    for text in expect.get("absent_from_logs") or []:  # a secret's value, say
        assert not [line for line in execution["logs"] if text in line["message"]], text
