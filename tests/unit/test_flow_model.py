"""The Flow model: labels in both forms, tasks at any depth, the source carried alongside."""

from __future__ import annotations

import pytest

from kestra_stream.errors import FlowValidationError
from kestra_stream.flows import load_flow
from kestra_stream.models.flow import ConcurrencyBehavior, Flow, Label

HEAD = "id: f\nnamespace: company.team\n"
LOG = "    type: io.kestra.plugin.core.log.Log\n    message: hi\n"


def test_labels_written_as_a_map_read_as_a_dict() -> None:
    flow = load_flow(HEAD + "labels:\n  team: data\n  priority: 1\ntasks:\n  - id: a\n" + LOG)
    assert flow.labels_dict == {"team": "data", "priority": "1"}
    assert isinstance(flow.labels, dict)


def test_labels_written_as_a_list_keep_their_form_and_read_as_a_dict() -> None:
    flow = load_flow(HEAD + "labels:\n  - key: team\n    value: data\n  - key: env\n    value: prod\n"
                     "tasks:\n  - id: a\n" + LOG)
    assert flow.labels == [Label(key="team", value="data"), Label(key="env", value="prod")]
    assert flow.labels_dict == {"team": "data", "env": "prod"}


def test_flow_without_labels_has_an_empty_label_dict() -> None:
    assert load_flow(HEAD + "tasks:\n  - id: a\n" + LOG).labels_dict == {}


@pytest.mark.parametrize("labels", ["labels:\n  system.foo: x\n",
                                    "labels:\n  - key: system.foo\n    value: x\n"])
def test_system_labels_are_refused_in_either_form(labels: str) -> None:
    with pytest.raises(FlowValidationError) as caught:
        load_flow(HEAD + labels + "tasks:\n  - id: a\n" + LOG)
    assert "reserved prefix 'system.'" in str(caught.value)


def test_the_documented_read_only_system_label_is_accepted() -> None:
    flow = load_flow(HEAD + "labels:\n  system.readOnly: true\ntasks:\n  - id: a\n" + LOG)
    assert flow.labels_dict == {"system.readOnly": "true"}


def test_all_tasks_walks_every_branch_in_document_order() -> None:
    flow = load_flow(HEAD + """tasks:
  - id: seq
    type: io.kestra.plugin.core.flow.Sequential
    tasks:
      - id: inner
        type: io.kestra.plugin.core.flow.If
        condition: "{{ true }}"
        then:
          - id: deep
""" + LOG.replace("    ", "            ") + """    errors:
      - id: local_error
""" + LOG.replace("    ", "        ") + """errors:
  - id: on_error
""" + LOG + """finally:
  - id: always
""" + LOG + """afterExecution:
  - id: after
""" + LOG)
    assert [t.id for t in flow.all_tasks()] == [
        "seq", "inner", "deep", "local_error", "on_error", "always", "after"]
    deep = flow.find_task("deep")
    assert deep is not None and deep.type == "io.kestra.plugin.core.log.Log"
    assert flow.find_task("missing") is None


def test_dag_children_are_part_of_all_tasks() -> None:
    flow = load_flow(HEAD + """tasks:
  - id: dag
    type: io.kestra.plugin.core.flow.Dag
    tasks:
      - task:
          id: one
          type: io.kestra.plugin.core.log.Log
          message: one
      - task:
          id: two
          type: io.kestra.plugin.core.log.Log
          message: two
        dependsOn: [one]
""")
    assert [t.id for t in flow.all_tasks()] == ["dag", "one", "two"]


def test_the_source_is_kept_verbatim_with_comments() -> None:
    text = "# owned by the data team\n" + HEAD + "tasks:\n  - id: a   # the only task\n" + LOG + "\n\n# end\n"
    flow = load_flow(text)
    assert flow.source == text
    assert "source" not in flow.model_dump()


def test_source_is_not_a_yaml_property() -> None:
    with pytest.raises(FlowValidationError) as caught:
        load_flow(HEAD + "source: hello\ntasks:\n  - id: a\n" + LOG)
    assert "unknown property 'source'" in str(caught.value)


def test_flow_defaults_and_optional_blocks() -> None:
    flow = load_flow(HEAD + "concurrency:\n  limit: 2\ntasks:\n  - id: a\n" + LOG)
    assert flow.concurrency is not None and flow.concurrency.behavior == ConcurrencyBehavior.QUEUE
    assert (flow.revision, flow.disabled, flow.deleted) == (None, False, False)
    assert flow.errors is None and flow.triggers is None
    assert flow.uid == "company.team.f"


def test_flow_is_frozen() -> None:
    flow = load_flow(HEAD + "tasks:\n  - id: a\n" + LOG)
    with pytest.raises(ValueError, match="frozen"):
        flow.id = "other"  # type: ignore[misc]


def test_flow_serialises_in_camel_case() -> None:
    flow = load_flow(HEAD + "afterExecution:\n  - id: b\n" + LOG + "tasks:\n  - id: a\n" + LOG)
    dumped = flow.model_dump(exclude_none=True)
    assert "afterExecution" in dumped and "after_execution" not in dumped
    assert Flow.model_validate(dumped, context={}).after_execution is not None
