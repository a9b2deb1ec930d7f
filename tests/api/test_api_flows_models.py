"""Pure pieces of the Flows endpoints: documents of a body, the flow answer model, deprecated names."""

from __future__ import annotations

from kestra_stream.api._flows import FlowOut, deprecations, flow_out, split_documents
from kestra_stream.flows import Source, load_flow, parse_source
from kestra_stream.models.flow import Flow
from kestra_stream.plugins import default_registry


def test_documents_are_split_on_separator_lines_with_the_lines_before_each() -> None:
    body = "\n\nid: a\n---\n\n  \nid: b\nx: '---'\n---   \n---\nid: c"
    assert split_documents(body) == [("id: a\n", 2), ("id: b\nx: '---'\n", 6), ("id: c\n", 10)]
    assert split_documents("---\n\n---\n") == []


def test_the_flow_answer_has_a_field_for_every_property_of_a_flow() -> None:
    answered = {f.alias or name for name, f in FlowOut.model_fields.items()}
    flow_properties = {f.alias or name for name, f in Flow.model_fields.items()}
    assert flow_properties <= answered


def test_the_flow_answer_keeps_plugin_properties_and_lists_labels() -> None:
    source = ("id: f\nnamespace: unit.api\nlabels:\n  - key: team\n    value: data\nfinally:\n  - id: end\n"
              "    type: io.kestra.plugin.core.log.Log\n    message: bye\n"
              "tasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n    level: WARN\n")
    out = flow_out(load_flow(source).model_copy(update={"revision": 4}), source=True)
    dumped = out.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert dumped["revision"] == 4 and dumped["source"] == source
    assert dumped["labels"] == [{"key": "team", "value": "data"}]
    assert dumped["tasks"][0]["level"] == "WARN" and dumped["finally"][0]["id"] == "end"
    assert "source" not in flow_out(load_flow(source).model_copy(update={"revision": 4}), source=False).model_dump(
        exclude_none=True)


def test_older_plugin_names_are_reported_with_their_path_and_replacement() -> None:
    parsed = parse_source("id: f\nnamespace: n\ntasks:\n  - id: p\n    type: io.kestra.plugin.core.flow.Sequential\n"
                          "    tasks:\n      - id: t\n        type: io.kestra.core.tasks.log.Log\n"
                          "        message: x\n")
    assert isinstance(parsed, Source)
    paths, infos = deprecations(parsed, default_registry())
    assert paths == ["tasks[0].tasks[0]"]
    assert infos == ["io.kestra.core.tasks.log.Log is replaced by io.kestra.plugin.core.log.Log"]
