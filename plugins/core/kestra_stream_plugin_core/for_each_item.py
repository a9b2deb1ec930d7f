"""``flow.ForEachItem``: one subflow execution per batch of a file's rows.

As in Kestra, the task runs three internal tasks in sequence, as its children:
- ``<id>_split`` (a worker job): reads the file, writes one file per batch, and lists their URIs
  (``outputs.<id>_split.batches``; ``splits`` is the file of that list, Kestra's output). Splitting
  reads storage, so it cannot happen in the executor's pure fold;
- ``<id>_items`` (the executor): starts one execution of the subflow per batch, ``taskrun.items``
  (the batch's URI) and ``taskrun.iteration`` (1 first) rendering its inputs, and ends when they all did
  (``numberOfBatches``, ``iterations`` counts by state);
- ``<id>_merge`` (a worker job): gathers the subflows' outputs in one file, a line each
  (``outputs.<id>_merge.subflowOutputs``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field, PrivateAttr, field_validator, model_validator

from kestra_stream.errors import TaskFailure
from kestra_stream.executor.flowables import FlowableContext, Resolution
from kestra_stream.models.plugin import PluginInfo, PluginModel
from kestra_stream.models.task import (
    FlowableTask,
    RunContext,
    RunnableTask,
    SubflowBatchesTask,
    Task,
    not_implemented,
)
from kestra_stream.worker import task_file_uri
from kestra_stream_plugin_core._base import Props, has_expression
from kestra_stream_plugin_core.storage import _read, _suffix, _uri, data_size, split_rows

_TYPE = "io.kestra.plugin.core.flow.ForEachItem"
_EXAMPLE = """\
id: orders_in_batches
namespace: company.team
inputs:
  - id: orders
    type: FILE
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEachItem
    items: "{{ inputs.orders }}"
    batch:
      rows: 100
    namespace: company.team
    flowId: process_orders
    wait: true
    transmitFailed: true
    inputs:
      orders: "{{ taskrun.items }}"
  - id: summary
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.each_items.numberOfBatches }} batches: {{ outputs.each_items.iterations }}"
"""
# Kestra's names of the internal tasks (Java inner classes).
_SPLIT, _EXECUTABLE, _MERGE = (f"{_TYPE}${name}" for name in ("ForEachItemSplit", "ForEachItemExecutable",
                                                              "ForEachItemMergeOutputs"))


def _short(type_: str) -> str:
    return ".".join(type_.split(".")[-2:])


class Batch(Props):
    """How the file is cut into batches: ``rows`` per batch (1 when nothing is set), ``bytes`` per batch or
    ``partitions`` batches; each may be an expression."""

    rows: int | str | None = Field(default=None, description="At most this many rows per batch (default 1).")
    bytes_: str | None = Field(default=None, alias="bytes",
                               description="At most this size per batch (such as 10MB); rows are kept whole.")
    partitions: int | str | None = Field(default=None, description="This many batches, rows dealt round-robin.")
    separator: str = Field(default="\n", description="What ends a row, in the file and in each batch.")

    @model_validator(mode="after")
    def _one_way(self) -> Batch:
        chosen = [name for name, value in (("rows", self.rows), ("bytes", self.bytes_),
                                           ("partitions", self.partitions)) if value is not None]
        if len(chosen) > 1:
            raise ValueError(f"batch takes one of rows, bytes or partitions, not {' and '.join(chosen)}")
        if self.bytes_ is not None and not has_expression(self.bytes_) and data_size(self.bytes_) is None:
            raise ValueError(f"batch.bytes {self.bytes_!r} is not a size such as 1024, 10KB or 10MB")
        for name, number in (("rows", self.rows), ("partitions", self.partitions)):
            if isinstance(number, int) and number < 1:
                raise ValueError(f"batch.{name} must be 1 or more, got {number}")
            if isinstance(number, str) and not has_expression(number) and not number.strip().isdigit():
                raise ValueError(f"batch.{name} {number!r} is neither a number nor an expression")
        return self


def _count(ctx: RunContext, value: int | str, name: str, task_id: str) -> int:
    rendered = ctx.render(value)
    try:
        number = int(rendered)
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        raise TaskFailure(f"batch.{name} rendered {rendered!r}, not a number of 1 or more", task_id=task_id)
    return number


class ForEachItemSplit(RunnableTask):
    """ForEachItem's ``_split``: cut the file into batch files (internal; written by ForEachItem)."""

    plugin: ClassVar[PluginInfo] = PluginInfo(type=_SPLIT, short=_short(_SPLIT), examples=(_EXAMPLE,),
                                              title="ForEachItem's internal split of the items into batches.")

    items: str
    batch: Batch

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        source = _uri(ctx, self.items, "items", self.id)
        separator = ctx.render_string(self.batch.separator).encode()
        # Rows are read line by line whatever the separator, which ends each row written (Kestra's rule).
        lines = [row + separator for row in (await _read(ctx, source, self.id)).splitlines()]
        limit = None
        if self.batch.bytes_ is not None:
            limit = data_size(ctx.render_string(self.batch.bytes_))
            if limit is None:
                raise TaskFailure(f"batch.bytes {self.batch.bytes_!r} is not a size such as 10MB", task_id=self.id)
        partitions = None if self.batch.partitions is None else _count(ctx, self.batch.partitions, "partitions",
                                                                       self.id)
        rows = None
        if limit is None and partitions is None:
            rows = 1 if self.batch.rows is None else _count(ctx, self.batch.rows, "rows", self.id)
        chunks = split_rows(lines, rows=rows, partitions=partitions, limit=limit)
        suffix = _suffix(source) or ".tmp"
        batches = [await ctx.storage.put(task_file_uri(ctx, f"{index}{suffix}"), chunk)
                   for index, chunk in enumerate(chunks, start=1)]
        splits = await ctx.storage.put(task_file_uri(ctx, "splits.txt"), "\n".join(batches).encode())
        return {"splits": splits, "batches": batches}


class ForEachItemExecutable(SubflowBatchesTask):
    """ForEachItem's ``_items``: one subflow execution per batch (internal; written by ForEachItem)."""

    plugin: ClassVar[PluginInfo] = PluginInfo(type=_EXECUTABLE, short=_short(_EXECUTABLE), examples=(_EXAMPLE,),
                                              title="ForEachItem's internal subflow execution per batch.")


class ForEachItemMergeOutputs(RunnableTask):
    """ForEachItem's ``_merge``: the subflows' outputs in one file, a JSON line each in iteration order
    (JSON text is Ion text, the format Kestra writes); no output when no subflow had outputs."""

    plugin: ClassVar[PluginInfo] = PluginInfo(type=_MERGE, short=_short(_MERGE), examples=(_EXAMPLE,),
                                              title="ForEachItem's internal merge of the subflows' outputs.")

    items_task_id: str

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        node: Any = (ctx.variables.get("outputs") or {}).get(self.items_task_id) or {}
        # Inside an iteration (a ForEach around the ForEachItem), outputs are keyed by the values around.
        for parent in reversed(ctx.variables.get("parents") or []):
            run = parent.get("taskrun") or {}
            if run.get("iteration") is not None and run.get("value") is not None:
                node = node.get(run["value"]) or {}
        results: Mapping[str, Any] = node.get("results") or {}
        lines = [json.dumps(results[key]["outputs"], separators=(",", ":"), default=str)
                 for key in sorted(results, key=int) if results[key].get("outputs")]
        if not lines:
            return None
        uri = await ctx.storage.put(task_file_uri(ctx, "outputs.ion"), ("\n".join(lines) + "\n").encode())
        return {"subflowOutputs": uri}


class ForEachItem(FlowableTask):
    """Split a file of internal storage into batches and run a subflow execution for each."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type=_TYPE,
        short="flow.ForEachItem",
        aliases=("io.kestra.core.tasks.flows.ForEachItem",),
        title="Run a subflow execution for each batch of a file's rows.",
        examples=(_EXAMPLE,),
    )
    calls_flow: ClassVar[bool] = True

    items: str = Field(min_length=1, description="The kestra:// URI of the file whose rows are split; rendered.")
    batch: Batch = Field(default_factory=Batch, description="How the rows are cut into batches.")
    namespace: str = Field(min_length=1, description="The namespace of the subflow.")
    flow_id: str = Field(min_length=1, description="The id of the subflow.")
    revision: int | None = Field(default=None, description="The subflow's revision (default: the newest).")
    inputs: dict[str, Any] | None = Field(default=None, description="The subflow's inputs, rendered per batch "
                                                                    "with taskrun.items and taskrun.iteration.")
    labels: dict[str, str] | list[dict[str, str]] | None = Field(default=None,
                                                                 description="Labels of each subflow execution.")
    wait: bool = Field(default=True, description="Wait for every subflow execution to end.")
    transmit_failed: bool = Field(default=True, description="Fail when a subflow execution fails or is killed "
                                                            "(with wait).")
    inherit_labels: bool = Field(default=False, description="Each subflow execution takes this execution's "
                                                            "labels.")
    schedule_date: str | None = Field(default=None, description="Not implemented: refused at validation "
                                                                "(the subflow executions start at once).")

    _tasks: list[Task] = PrivateAttr(default_factory=list)

    @field_validator("schedule_date")
    @classmethod
    def _no_schedule_date(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError(not_implemented("scheduleDate on a ForEachItem", "the subflow executions start at "
                                                                            "once; put a Pause with a delay at "
                                                                            "the start of the subflow instead"))
        return value

    @field_validator("finally_")
    @classmethod
    def _no_finally(cls, value: list[Task] | None) -> list[Task] | None:
        if value:
            raise ValueError("ForEachItem takes errors but not finally (as in Kestra); put the tasks after it")
        return value

    def model_post_init(self, context: Any) -> None:
        items_id = f"{self.id}_items"
        self._tasks = [
            ForEachItemSplit.model_validate({"id": f"{self.id}_split", "type": _SPLIT,
                                             "items": self.items, "batch": self.batch.model_dump()}),
            ForEachItemExecutable.model_validate({
                "id": items_id, "type": _EXECUTABLE, "splitTaskId": f"{self.id}_split",
                "namespace": self.namespace, "flowId": self.flow_id, "revision": self.revision,
                "inputs": self.inputs, "labels": self.labels, "wait": self.wait,
                "transmitFailed": self.transmit_failed, "inheritLabels": self.inherit_labels}),
            ForEachItemMergeOutputs.model_validate({"id": f"{self.id}_merge",
                                                    "type": _MERGE,
                                                    "itemsTaskId": items_id}),
        ]

    def branches(self) -> Mapping[str, list[Task]]:
        return {"tasks": list(self._tasks)}

    def resolve(self, ctx: FlowableContext) -> Resolution:
        return ctx.sequence(self._tasks)


# What this module's entry points register (see the distribution's pyproject.toml).
PLUGINS: tuple[type[PluginModel], ...] = (ForEachItem, ForEachItemSplit, ForEachItemExecutable, ForEachItemMergeOutputs)
