"""Every valid fixture and compat flow loads cleanly (but those a compat case expects refused); every invalid
fixture reports its declared problem.

An invalid fixture declares what it expects on its first line:
``# expect: line 7: unknown task type 'io.kestra.plugin.core.log.Lg'``. A warning fixture is a flow
that loads (Kestra accepts it) with the declared warning at its line.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from kestra_stream.errors import FlowValidationError
from kestra_stream.flows import flow_warnings, load_flow_file

TESTS = Path(__file__).resolve().parents[1]
VALID = sorted((TESTS / "flows" / "valid").glob("*.yaml"))
INVALID = sorted((TESTS / "flows" / "invalid").glob("*.yaml"))
WARNING = sorted((TESTS / "flows" / "warning").glob("*.yaml"))
EXPECT = re.compile(r"^# expect: line (\d+): (.+)$")


def _compat_flows() -> list[Path]:
    flows: list[Path] = []
    for case in sorted((TESTS / "compat" / "cases").glob("*/")):
        declared = YAML(typ="safe").load((case / "case.yaml").read_text()) or {}
        # A case whose flow Kestra refuses (`expect: invalid`) pins that refusal instead.
        if not any("invalid" in (run.get("expect") or {}) for run in declared.get("runs") or ()):
            flows.append(case / "flow.yaml")
        flows += [case / name for name in declared.get("flows", ())]
    return flows


COMPAT = _compat_flows()


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def test_the_corpora_are_large_enough() -> None:
    assert len(VALID) >= 20
    assert len(INVALID) >= 45
    assert len(WARNING) >= 7
    assert len(COMPAT) >= 18


def _case_env(path: Path) -> dict[str, str]:
    """The environment a compat case runs its flows in (``env:`` of its case.yaml: templates turned on)."""
    case = path.parent / "case.yaml"
    declared = (YAML(typ="safe").load(case.read_text()) or {}) if case.exists() else {}
    return {str(k): str(v) for k, v in (declared.get("env") or {}).items()}


@pytest.mark.parametrize("path", VALID + COMPAT, ids=_id)
def test_valid_flow_loads_without_problem(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in _case_env(path).items():
        monkeypatch.setenv(name, value)
    try:
        flow = load_flow_file(path)
    except FlowValidationError as exc:
        pytest.fail(f"{path} should be valid:\n{exc}")
    assert flow.tasks
    assert flow.source == path.read_text()


@pytest.mark.parametrize("path", VALID, ids=_id)
def test_valid_flow_has_no_warning(path: Path) -> None:
    assert flow_warnings(path.read_text(), file=str(path)) == []


@pytest.mark.parametrize("path", WARNING, ids=_id)
def test_unparsable_expression_is_a_warning_at_its_line_and_the_flow_still_loads(path: Path) -> None:
    header = EXPECT.match(path.read_text().splitlines()[0])
    assert header, f"{path} must start with '# expect: line N: message fragment'"
    line, fragment = int(header.group(1)), header.group(2)
    load_flow_file(path)
    warnings = flow_warnings(path.read_text(), file=str(path))
    found = [w for w in warnings if fragment in w.message and w.line == line]
    assert found, f"no warning mentions {fragment!r} at line {line}; got: {warnings}"
    assert "fails when it runs" in found[0].message


@pytest.mark.parametrize("path", INVALID, ids=_id)
def test_invalid_flow_reports_its_declared_problem_at_its_line(path: Path) -> None:
    header = EXPECT.match(path.read_text().splitlines()[0])
    assert header, f"{path} must start with '# expect: line N: message fragment'"
    line, fragment = int(header.group(1)), header.group(2)
    with pytest.raises(FlowValidationError) as caught:
        load_flow_file(path)
    problems = caught.value.problems
    found = [p for p in problems if fragment in p.message]
    assert found, f"no problem mentions {fragment!r}; got:\n{caught.value}"
    assert any(p.line == line for p in found), f"{fragment!r} expected at line {line}; got:\n{caught.value}"
    assert all(p.file == str(path) for p in problems)
