"""``state.Get``, ``state.Set`` and ``state.Delete``: a named map kept between executions of a flow.

A state is one JSON file of internal storage, by name and by the task run's iteration value
(``taskrunValue``), kept for the flow or, with ``namespace: true``, for every flow of the namespace.
Like Kestra's, concurrent executions writing the same state are not isolated from each other.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from kestra_stream.errors import TaskFailure
from kestra_stream.expressions import is_truthy
from kestra_stream.models.plugin import PluginInfo, PluginModel
from kestra_stream.models.task import RunContext, RunnableTask
from kestra_stream.storage import StorageFileNotFoundError, child_uri, slugify, states_uri


def _info(name: str, title: str, body: str) -> PluginInfo:
    return PluginInfo(type=f"io.kestra.plugin.core.state.{name}", short=f"state.{name}",
                      aliases=(f"io.kestra.core.tasks.states.{name}",), title=title,
                      examples=(f"id: state_{name.lower()}\nnamespace: company.team\ntasks:\n  - id: state\n"
                                f"    type: io.kestra.plugin.core.state.{name}\n{body}",))


class _State(RunnableTask):
    name: str = Field(default="default", description="The state's name; rendered.")
    namespace: bool | str = Field(default=False, description="Share the state with every flow of the namespace "
                                                            "(true) or keep it for this flow (false).")
    taskrun_value: bool | str = Field(default=True, description="Keep one state per iteration value of the "
                                                               "task run (true) or one for all (false).")

    def _uri(self, ctx: RunContext) -> str:
        variables = ctx.variables
        namespace = str(variables["flow"]["namespace"])
        flow_id = None if is_truthy(ctx.render(self.namespace)) else str(variables["flow"]["id"])
        value = (variables.get("taskrun") or {}).get("value") if is_truthy(ctx.render(self.taskrun_value)) else None
        name = ctx.render_string(self.name).strip()
        if not name:
            raise TaskFailure(f"the state name {self.name!r} rendered empty", task_id=self.id)
        # The value may hold any character: a digest keeps it one safe path segment.
        key = "default" if value is None else hashlib.sha256(str(value).encode()).hexdigest()[:32]
        return child_uri(states_uri(namespace, flow_id), slugify(name), f"{key}.json")

    async def _read(self, ctx: RunContext, uri: str) -> dict[str, Any] | None:
        try:
            data = json.loads(await ctx.storage.get(uri))
        except StorageFileNotFoundError:
            return None
        return data if isinstance(data, dict) else {}


class StateGet(_State):
    """Get a state's map (``outputs.<id>.data``, ``count``); empty when there is none yet."""

    plugin: ClassVar[PluginInfo] = _info("Get", "Get a state's map.", "    name: myState\n")

    error_on_missing: bool = Field(default=False, description="Fail when the state does not exist.")

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        uri = self._uri(ctx)
        data = await self._read(ctx, uri)
        if data is None:
            if self.error_on_missing:
                raise TaskFailure(f"Unable to find the state file '{ctx.render_string(self.name)}'", task_id=self.id)
            data = {}
        return {"count": len(data), "data": data}


class StateSet(_State):
    """Merge entries into a state's map (new keys added, existing ones replaced)."""

    plugin: ClassVar[PluginInfo] = _info(
        "Set", "Merge entries into a state's map.",
        "    name: myState\n    data:\n      last: \"{{ execution.id }}\"\n")

    data: dict[str, Any] | None = Field(default=None, description="The entries to merge in; keys and values "
                                                                 "are rendered.")

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        uri = self._uri(ctx)
        current = await self._read(ctx, uri) or {}
        merged = _merge(current, _render_texts(ctx, self.data or {}))
        await ctx.storage.put(uri, json.dumps(merged).encode())
        return {"count": len(merged), "key": uri}


class StateDelete(_State):
    """Delete a state (``outputs.<id>.deleted`` says whether there was one)."""

    plugin: ClassVar[PluginInfo] = _info("Delete", "Delete a state.", "    name: myState\n")

    error_on_missing: bool = Field(default=False, description="Fail when the state does not exist.")

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        deleted = await ctx.storage.delete(self._uri(ctx))
        if not deleted and self.error_on_missing:
            raise TaskFailure(f"Unable to find the state file '{ctx.render_string(self.name)}'", task_id=self.id)
        return {"deleted": deleted}


def _render_texts(ctx: RunContext, data: Mapping[str, Any]) -> dict[str, Any]:
    """Kestra renders a map's keys and text values as text (``"{{ 1 + 1 }}"`` is ``"2"``); other values stay."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            value = _render_texts(ctx, value)
        elif isinstance(value, str):
            value = ctx.render_string(value)
        out[ctx.render_string(key)] = value
    return out


def _merge(current: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Kestra's MapUtils.merge: nested maps merge key by key, anything else is replaced."""
    out = dict(current)
    for key, value in new.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


# What this module's entry points register (see the distribution's pyproject.toml).
PLUGINS: tuple[type[PluginModel], ...] = (StateGet, StateSet, StateDelete)
