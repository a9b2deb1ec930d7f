"""The JSON Schema of a flow the editor binds to: it accepts every valid flow, refuses structural mistakes
the models refuse, and documents every plugin type under each of its names at any depth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from ruamel.yaml import YAML

from kestra_stream.api._flow_schema import _json, flow_json_schema
from kestra_stream.flows import load_flow
from kestra_stream.plugins import PluginKind, default_registry
from kestra_stream.plugins.registry import kind_of
from tests.api.conftest import ApiHarness

TESTS = Path(__file__).parents[1]
# A required property given by the flow's pluginDefaults is missing from the task as the editor sees it: the
# schema cannot make a task's required properties depend on the flow's defaults, so it flags them (the validate
# endpoint, which applies the defaults, does not). Known limit of the editor's schema; these flows lean on it.
REQUIRED_FROM_DEFAULTS = {"log_levels"}
VALID = sorted((TESTS / "flows" / "valid").glob("*.yaml")) + sorted(
    p for p in (TESTS / "compat" / "cases").glob("*/flow*.yaml") if p.parent.name not in REQUIRED_FROM_DEFAULTS)
# The mistakes a schema can see (unknown names, wrong shapes and types); the others (duplicate ids,
# expressions, cycles, durations) are the validate endpoint's, which the editor calls as the user types.
STRUCTURAL = ["concurrency_behavior", "concurrency_limit_zero", "empty_flow_tasks", "empty_if_then", "empty_parallel",
              "flow_id_too_long", "invalid_flow_id", "invalid_input_id", "invalid_log_level", "invalid_namespace",
              "invalid_task_id", "labels_wrong_shape", "missing_flow_id", "missing_namespace", "missing_property",
              "missing_task_type", "missing_tasks", "revision_zero", "task_used_as_trigger", "tasks_not_a_list",
              "unknown_condition_type", "unknown_flow_property", "unknown_input_type", "unknown_retry_property",
              "unknown_retry_type", "unknown_task_property", "unknown_task_runner_type", "unknown_task_type",
              "unknown_task_type_nested", "unknown_trigger_property", "unknown_trigger_type", "webhook_without_key",
              "wrong_bool_type", "wrong_property_type"]
LOG = "io.kestra.plugin.core.log.Log"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return flow_json_schema(default_registry())


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> Draft7Validator:
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def _data(text: str) -> Any:
    return _json(YAML(typ="safe").load(text))


def _branch(schema: dict[str, Any], kestra_type: str) -> dict[str, Any]:
    for definition in schema["$defs"].values():
        if definition.get("title") == kestra_type:
            return dict(definition)
    raise AssertionError(f"no branch for {kestra_type}")


async def test_the_api_serves_the_schema_of_a_flow(api: ApiHarness) -> None:
    answer = await api.client.get("/api/v1/plugins/schemas/flow")
    assert answer.status == 200
    served = await answer.json()
    assert served["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert {"id", "namespace", "tasks", "triggers", "errors", "finally", "pluginDefaults"} <= set(served["properties"])
    flow = _data((TESTS / "flows" / "valid" / "foreach.yaml").read_text())
    assert Draft7Validator(served).is_valid(flow)


@pytest.mark.parametrize("path", VALID, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_valid_flow_is_valid_against_the_schema(validator: Draft7Validator, path: Path) -> None:
    errors = sorted(validator.iter_errors(_data(path.read_text())), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:3]]


@pytest.mark.parametrize("name", STRUCTURAL)
def test_structural_mistakes_are_refused_by_the_schema(validator: Draft7Validator, name: str) -> None:
    assert not validator.is_valid(_data((TESTS / "flows" / "invalid" / f"{name}.yaml").read_text()))


def test_a_misspelled_property_deep_in_flowables_is_refused(validator: Draft7Validator) -> None:
    flow = {"id": "f", "namespace": "a.b", "tasks": [{
        "id": "each", "type": "io.kestra.plugin.core.flow.ForEach", "values": [1], "tasks": [{
            "id": "par", "type": "flow.Parallel", "tasks": [{"id": "log", "type": LOG, "message": "m"}]}]}]}
    assert validator.is_valid(flow)
    flow["tasks"][0]["tasks"][0]["tasks"][0]["mesage"] = "typo"
    assert not validator.is_valid(flow)
    flow["tasks"][0]["tasks"][0]["tasks"][0] = {"id": "log", "type": "io.kestra.plugin.core.log.Lgo", "message": "m"}
    assert not validator.is_valid(flow)


def test_every_name_of_every_plugin_selects_its_branch(schema: dict[str, Any]) -> None:
    for cls in default_registry().classes():
        info = cls.plugin
        assert info is not None
        branch = _branch(schema, info.type)
        assert set(branch["properties"]["type"]["enum"]) == set(info.names)
        assert branch["description"] and info.type in branch["markdownDescription"]
        for example in info.examples:
            assert example.strip() in branch["markdownDescription"]


def test_each_kind_is_a_union_every_nested_list_refers_to(schema: dict[str, Any]) -> None:
    defs = schema["$defs"]
    unions = {d["title"]: d for d in defs.values() if "anyOf" in d and d.get("title", "").startswith("Any ")}
    registry = default_registry()
    for kind in PluginKind:
        union = unions[f"Any {kind.value.replace('_', ' ')}"]
        titles = {defs[ref["$ref"].rsplit("/", 1)[-1]]["title"] for ref in union["anyOf"]}
        assert titles == {c.plugin.type for c in registry.classes(kind) if c.plugin is not None}
    task_ref = next(f"#/$defs/{name}" for name, d in defs.items() if d.get("title") == "Any task")
    for_each = _branch(schema, "io.kestra.plugin.core.flow.ForEach")["properties"]["tasks"]
    assert for_each["items"] == {"$ref": task_ref}
    if_branch = _branch(schema, "io.kestra.plugin.core.flow.If")["properties"]
    assert {"$ref": task_ref} in [if_branch["then"].get("items"), *(b.get("items") for b in
                                                                      if_branch["else"].get("anyOf", []))]
    assert schema["properties"]["tasks"]["items"] == {"$ref": task_ref}


def test_the_examples_of_each_plugin_are_instances_of_its_branch(schema: dict[str, Any]) -> None:
    checked = 0
    for cls in default_registry().classes():
        info = cls.plugin
        assert info is not None
        branch = _branch(schema, info.type)
        for instance in branch.get("examples", []):
            assert Draft7Validator({**branch, "$defs": schema["$defs"]}).is_valid(instance), (info.type, instance)
            checked += 1
        for example in info.examples:
            try:
                load_flow(example)
            except Exception:
                continue  # a fragment of a task, not a flow
            assert Draft7Validator(schema).is_valid(_data(example)), info.type
    assert checked >= 20


def test_older_property_names_are_accepted_and_marked_deprecated(validator: Draft7Validator,
                                                                 schema: dict[str, Any]) -> None:
    flow = {"id": "f", "namespace": "a.b", "inputs": [{"name": "n", "type": "STRING"}],
            "taskDefaults": [{"type": LOG, "values": {"level": "WARN"}}],
            "tasks": [{"id": "t", "type": LOG, "message": "m"}]}
    assert validator.is_valid(flow)
    assert "deprecationMessage" in schema["properties"]["taskDefaults"]
    assert not validator.is_valid({**flow, "inputs": [{"type": "STRING"}]})


def test_plugin_defaults_offer_every_plugin_type_and_take_prefixes(validator: Draft7Validator,
                                                                  schema: dict[str, Any]) -> None:
    plugin_default = next(d for d in schema["$defs"].values() if d.get("title") == "PluginDefault")
    assert LOG in plugin_default["properties"]["type"]["examples"]
    flow = {"id": "f", "namespace": "a.b", "pluginDefaults": [{"type": "io.kestra.plugin.core", "values": {}}],
            "tasks": [{"id": "t", "type": LOG, "message": "m"}]}
    assert validator.is_valid(flow)


def test_every_kind_of_plugin_has_a_branch() -> None:
    assert {kind_of(c) for c in default_registry().classes()} == set(PluginKind)


def test_a_worker_group_is_offered_on_flows_and_tasks_with_its_fallbacks(validator: Draft7Validator,
                                                                        schema: dict[str, Any]) -> None:
    task = {"id": "t", "type": LOG, "message": "m", "workerGroup": {"key": "gpu", "fallback": "FAIL"}}
    flow = {"id": "f", "namespace": "a.b", "workerGroup": {"key": "cpu"}, "tasks": [task]}
    assert validator.is_valid(flow)
    assert "worker-group" in schema["properties"]["workerGroup"]["description"]
    assert not validator.is_valid({**flow, "workerGroup": {"key": "cpu", "fallback": "RETRY"}})
    assert not validator.is_valid({**flow, "workerGroup": {"key": "not a key"}})
