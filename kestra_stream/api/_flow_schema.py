"""The JSON Schema of a whole flow, for the editor: completion of types and properties, hover documentation.

Generated from the same pydantic models that validate flows, with every installed plugin:

- ``$defs.Task`` (and ``Trigger``, ``Condition``, ``TaskRunner``) is the union of the plugins of
  that kind, each a branch whose ``type`` is one of the names the plugin answers to (Kestra's
  current name, its older ones, our short one). Flowables' task lists refer to the same union,
  so completion works at any depth.
- each plugin branch carries its title, its documentation (``description``, and
  ``markdownDescription`` with its examples, which the editor shows on hover) and, in
  ``examples``, the plugin's own examples as instances of it;
- properties a model reads under several names (``taskDefaults``, an input's ``name``) are listed
  under each, the older marked deprecated.

Written for JSON Schema draft-07 (``$ref``s point into ``$defs``), which monaco-yaml reads.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any

from aiohttp import web
from pydantic import AliasChoices, BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from kestra_stream.api._http import json_response, services
from kestra_stream.api._routes import ApiRoutes
from kestra_stream.models.flow import Flow, Label
from kestra_stream.models.inputs import Input
from kestra_stream.models.plugin import PluginDefault, PluginModel
from kestra_stream.models.task import Condition, Task, TaskRunner, Trigger, WorkerGroup
from kestra_stream.plugins import PluginKind, PluginRegistry
from kestra_stream.plugins.registry import kind_of

routes = ApiRoutes("Plugins")

DRAFT = "http://json-schema.org/draft-07/schema#"
_BASES: dict[PluginKind, type[PluginModel]] = {
    PluginKind.TASK: Task, PluginKind.TRIGGER: Trigger, PluginKind.CONDITION: Condition,
    PluginKind.TASK_RUNNER: TaskRunner}
# What the models say in comments, said to the editor's user; for the properties of these models.
_DOCUMENTED: tuple[type[BaseModel], ...] = (Flow, Task, Trigger, Input, WorkerGroup)
_DOCS: dict[str, str] = {
    "id": "The identifier, unique among its kind in the flow (a flow's id: unique in its namespace).",
    "namespace": "The flow's namespace, dot-separated like company.team; flows, files and keys are shared in it.",
    "revision": "The revision this source was edited from; the server assigns the next one on save.",
    "description": "What this is for, in Markdown.",
    "labels": "Key-value labels, as a map or a list of {key, value}; executions inherit them.",
    "inputs": "The values an execution is started with, each typed and validated.",
    "outputs": "Values the flow answers when its execution ends, usually expressions over task outputs.",
    "variables": "Constants the flow's expressions read as {{ vars.name }}.",
    "tasks": "The tasks to run, in order.",
    "errors": "Tasks run when a task of this list fails.",
    "finally": "Tasks run at the end whatever happened, after errors.",
    "afterExecution": "Tasks run once the execution has ended, with its final state known.",
    "listeners": ("Deprecated by Kestra (use afterExecution): once the execution ended, the tasks of each listener "
                  "whose conditions hold run in turn, without changing its final state."),
    "triggers": "What starts executions of the flow on its own: schedules, webhooks, other flows, events.",
    "pluginDefaults": "Default property values for every plugin of a type (or of a type prefix).",
    "concurrency": "At most this many running executions of the flow, and what happens to the next one.",
    "retry": "How a failed task is tried again: constant, exponential or random intervals.",
    "sla": "Service-level agreements checked on each execution.",
    "disabled": "A disabled flow or trigger starts nothing; a disabled task is skipped.",
    "checks": "Conditions checked before an execution is created.",
    "workerGroup": ("The workers that run the task (a flow's: every task without its own): only workers "
                    "started with this key (`kestra-stream worker --worker-group KEY`) take it. On a polling or "
                    "realtime trigger: only schedulers started with the key (`kestra-stream scheduler "
                    "--worker-group KEY`) evaluate it."),
    "fallback": ("While no worker of the group is alive: WAIT (the default) until one appears, FAIL the "
                 "attempt, or CANCEL the task run; the execution's logs say which."),
    "timeout": "The longest an attempt may run (ISO-8601 duration such as PT10M) before it fails.",
    "allowFailure": "A failure of this task does not fail the execution (it ends in WARNING).",
    "allowWarning": "A WARNING of this task counts as a success.",
    "logLevel": "Only log lines of this level or above are kept.",
    "logToFile": ("Write the task's log lines to a file in internal storage (the attempt's logFile) instead of the "
                  "log store; on a trigger, the lines of the evaluation that started an execution, named by its "
                  "trigger.logFile."),
    "runIf": "An expression: the task is skipped when it renders false.",
    "conditions": "Conditions that must all hold for the trigger to start an execution.",
    "stopAfter": "The trigger disables itself once an execution ends in one of these states.",
    "minLogLevel": "Kestra's older name of logLevel: only log lines of this level or above are kept.",
    "failOnTriggerError": "A failing evaluation of the trigger creates a failed execution.",
}


# Properties whose models read a YAML number or boolean as its text (label values, `runIf: false`).
_SCALARS_AS_TEXT: tuple[tuple[type[BaseModel], str], ...] = ((Flow, "labels"), (Label, "value"), (Task, "runIf"))


def _scalars_as_text(schema: Any) -> None:
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "string":
        schema["type"] = ["string", "number", "boolean"]
    for branch in schema.get("anyOf", ()):
        _scalars_as_text(branch)
    _scalars_as_text(schema.get("additionalProperties"))


class _Generator(GenerateJsonSchema):
    """Pydantic's generator, adding what the editor needs that validation alone does not say."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False  # "Allowfailure" says less than the property's own name, which the editor shows

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        json_schema = super().model_schema(schema)
        cls = schema["cls"]
        properties = json_schema.get("properties")
        if not isinstance(properties, dict) or not issubclass(cls, BaseModel):
            return json_schema
        _other_names(cls, json_schema, properties)
        for model, name in _SCALARS_AS_TEXT:
            if issubclass(cls, model) and name in properties:
                _scalars_as_text(properties[name])
        if issubclass(cls, _DOCUMENTED):
            for name, prop in properties.items():
                if name in _DOCS and "description" not in prop:
                    prop["description"] = _DOCS[name]
        if issubclass(cls, PluginModel) and cls.plugin is not None:
            _document_plugin(cls, json_schema, properties)
        return json_schema


def _other_names(cls: type[BaseModel], json_schema: JsonSchemaValue, properties: dict[str, Any]) -> None:
    for field in cls.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names = [c for c in alias.choices if isinstance(c, str)]
            for older in names[1:]:
                properties.setdefault(older, {**properties.get(names[0], {}),
                                              "deprecationMessage": f"'{older}' is the older name of '{names[0]}'"})
    if issubclass(cls, Input) and "id" in properties:
        # Inputs were named by `name` before Kestra 0.15 (Input._name_is_id reads it as the id).
        properties["name"] = {**properties["id"], "deprecationMessage": "'name' is the older name of 'id'"}
        required = [r for r in json_schema.get("required", []) if r != "id"]
        json_schema["required"] = required
        json_schema["anyOf"] = [{"required": ["id"]}, {"required": ["name"]}]


def _document_plugin(cls: type[PluginModel], json_schema: JsonSchemaValue, properties: dict[str, Any]) -> None:
    info = cls.plugin
    assert info is not None
    # A docstring's first paragraph is its summary, said again by the title when there is one.
    summary, _, details = (cls.__doc__ or "").strip().partition("\n\n")
    summary = info.title or summary
    properties["type"] = {"enum": list(dict.fromkeys(info.names)), "description": summary,
                          "markdownDescription": f"**{info.type}**\n\n{summary}"}
    json_schema["title"] = info.type
    json_schema["description"] = "\n\n".join(p for p in (summary, details.strip()) if p)
    json_schema["markdownDescription"] = "\n\n".join([
        f"**{info.type}**", json_schema["description"],
        *(f"```yaml\n{example.strip()}\n```" for example in info.examples)])
    instances = [i for example in info.examples for i in _instances(example, info.names)]
    if instances:
        json_schema["examples"] = instances
    if info.deprecated:
        json_schema["deprecationMessage"] = f"{info.type} is deprecated: {summary}"


def _instances(example: str, names: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """The objects of an example (a whole flow) whose ``type`` is one of ``names``."""
    try:
        data = YAML(typ="safe", pure=True).load(example)
    except YAMLError:
        return
    stack: list[Any] = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            if node.get("type") in names:
                yield _json(node)
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))


def _json(value: Any) -> Any:
    """YAML's values as JSON's: a date or a timestamp is written as ISO-8601 text, as a flow means it."""
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


@functools.lru_cache(maxsize=4)
def flow_json_schema(registry: PluginRegistry) -> dict[str, Any]:
    """The schema of a flow with the plugins of ``registry`` (computed once per registry)."""
    plugins = registry.classes()
    models: list[tuple[type[BaseModel], Any]] = [(Flow, "validation"), *((b, "validation") for b in _BASES.values()),
                                                 *((cls, "validation") for cls in plugins)]
    keys, document = models_json_schema(models, by_alias=True, ref_template="#/$defs/{model}",
                                        schema_generator=_Generator)
    defs: dict[str, Any] = document["$defs"]

    def name(cls: type[BaseModel]) -> str:
        ref: str = keys[(cls, "validation")]["$ref"]
        return ref.rsplit("/", 1)[-1]

    for kind, base in _BASES.items():
        members = [cls for cls in plugins if kind_of(cls) == kind]
        defs[name(base)] = {
            "title": f"Any {kind.value.replace('_', ' ')}",
            "description": f"A {kind.value.replace('_', ' ')}: its `type` says which plugin, and which properties "
                           "it takes.",
            "type": "object", "required": ["type"],
            # anyOf may not be empty: with no plugin of this kind installed, nothing is one.
            "anyOf": [{"$ref": f"#/$defs/{name(cls)}"} for cls in members] or [{"not": {}}]}
    for definition in defs.values():
        if definition.get("title") == PluginDefault.__name__:
            # Any type or type prefix applies; the plugins' names are offered to complete it.
            definition["properties"]["type"].update(
                description="The plugin type (or a prefix of types, such as io.kestra.plugin.core) these values "
                            "apply to.",
                examples=sorted({c.plugin.type for c in plugins if c.plugin is not None}))
            definition["properties"]["values"]["description"] = "Property values, as the plugins take them."
            definition["properties"]["forced"]["description"] = "Override the values the tasks set themselves."
    root: dict[str, Any] = defs.pop(name(Flow))
    root.update({"$schema": DRAFT, "title": "Kestra flow",
                 "description": "A flow: its id and namespace, inputs, tasks, triggers and the rest.", "$defs": defs})
    return root


@routes.route("GET", "/plugins/schemas/flow", summary="The JSON Schema of a flow with every installed plugin "
              "(for editors)", response=dict[str, Any])
async def flow_schema(request: web.Request) -> web.StreamResponse:
    # Seconds of work the first time for a registry (then cached): kept off the event loop.
    schema = await asyncio.to_thread(flow_json_schema, services(request).registry)
    return json_response(schema, headers={"Cache-Control": "no-cache"})
