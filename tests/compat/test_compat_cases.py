"""Every Kestra compatibility case runs through `kestra-stream execute` and produces its expected runs."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from kestra_stream.cli import main

CASES = Path(__file__).parent / "cases"


def _runs() -> list[Any]:
    params = []
    for case in sorted(p for p in CASES.iterdir() if (p / "case.yaml").exists()):
        spec = YAML(typ="safe").load((case / "case.yaml").read_text())
        for index, run in enumerate(spec["runs"]):
            params.append(pytest.param(case, spec.get("flows", []), run, id=f"{case.name}[{index}]"))
    return params


def _seconds(state: dict[str, Any]) -> float:
    dates = [datetime.fromisoformat(h["date"]) for h in state["histories"]]
    return (dates[-1] - dates[0]).total_seconds()


@pytest.mark.parametrize(("case", "extra_flows", "run"), _runs())
def test_compat_case(case: Path, extra_flows: list[str], run: dict[str, Any], tmp_path: Path) -> None:
    flows_dir = tmp_path / "flows"
    flows_dir.mkdir()
    for name in extra_flows:
        shutil.copy(case / name, flows_dir / name)
    args = ["execute", str(case / "flow.yaml"), "--flows", str(flows_dir), "--with-logs", "--output", "json"]
    for key, value in (run.get("inputs") or {}).items():
        args += ["--input", f"{key}={value}"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    expect = run["expect"]

    if expect.get("rejected"):
        assert result.exit_code == 2, result.output
        key = next(iter(run["inputs"]))
        assert f"'{key}'" in result.stderr, result.stderr
        return

    execution = json.loads(result.stdout)
    assert execution["state"]["current"] == expect["state"], json.dumps(execution, indent=1)
    assert result.exit_code == (0 if expect["state"] in ("SUCCESS", "WARNING") else 1)
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
