"""``storage.FilterItems`` and ``storage.DeduplicateItems``: per-item work on an Ion file of internal storage.

The file has one Ion value a line (JSON lines are Ion text too), as Kestra's tasks write them. Each
line is read into plain values, which an expression then sees as variables over the task's own
(``{{ value }}`` is the item's ``value`` field); the lines kept are written out unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import Field

from kestra_stream.errors import ExpressionError, TaskFailure
from kestra_stream.expressions import is_truthy
from kestra_stream.ion import ion_value
from kestra_stream.models.plugin import PluginInfo, PluginModel
from kestra_stream.models.task import RunContext, RunnableTask
from kestra_stream.worker import task_file_uri
from kestra_stream_plugin_core.storage import _info, _read, _uri


def _item(line: str, task_id: str, number: int) -> dict[str, Any]:
    try:
        value = ion_value(line)
    except Exception as exc:  # the Ion reader raises its own and plain errors alike
        raise TaskFailure(f"line {number} of the file is not an Ion value ({exc}): {line[:200]!r}",
                          task_id=task_id) from exc
    if not isinstance(value, dict):
        raise TaskFailure(f"line {number} of the file is not a map of fields, the expression has no variables "
                          f"to read: {line[:200]!r}", task_id=task_id)
    return value


async def _lines(ctx: RunContext, from_: str, task_id: str) -> list[str]:
    data = await _read(ctx, _uri(ctx, from_, "from", task_id), task_id)
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise TaskFailure(f"the file is not UTF-8 Ion text: {exc}", task_id=task_id) from exc


def _numbered(lines: list[str]) -> Iterator[tuple[int, str]]:
    return ((n, line) for n, line in enumerate(lines, 1) if line.strip())


async def _write(ctx: RunContext, name: str, lines: list[str]) -> str:
    return await ctx.storage.put(task_file_uri(ctx, f"{name}.ion"), "".join(f"{line}\n" for line in lines).encode())


class FilterAction(StrEnum):
    INCLUDE = "INCLUDE"
    EXCLUDE = "EXCLUDE"


class ErrorOrNullBehavior(StrEnum):
    FAIL = "FAIL"
    INCLUDE = "INCLUDE"
    EXCLUDE = "EXCLUDE"


class FilterItems(RunnableTask):
    """Keep (or drop) the items of a file for which an expression is true (``outputs.<id>.uri``)."""

    plugin: ClassVar[PluginInfo] = _info(
        "FilterItems", "Keep only the items of a file that match an expression.",
        "    from: \"{{ inputs.file }}\"\n    filterCondition: \"{{ value == null }}\"\n"
        "    filterType: EXCLUDE\n    errorOrNullBehavior: EXCLUDE\n")

    from_: str = Field(alias="from", description="The Ion file's kestra:// URI; rendered.")
    filter_condition: str = Field(min_length=1, description=(
        "The expression rendered on each item, whose fields are its variables; true unless it renders "
        "false, 0, -0 or blank."))
    filter_type: FilterAction = Field(default=FilterAction.INCLUDE, description=(
        "INCLUDE keeps the items that match, EXCLUDE drops them."))
    error_or_null_behavior: ErrorOrNullBehavior = Field(default=ErrorOrNullBehavior.FAIL, description=(
        "When the expression fails on an item: FAIL the task, INCLUDE or EXCLUDE the item."))

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        kept: list[str] = []
        processed = dropped = 0
        for number, line in _numbered(await _lines(ctx, self.from_, self.id)):
            action = self.filter_type
            try:
                matches = is_truthy(ctx.render_string_with(self.filter_condition, _item(line, self.id, number))
                                    .strip())
            except ExpressionError as exc:
                if self.error_or_null_behavior is ErrorOrNullBehavior.FAIL:
                    raise TaskFailure(f"filterCondition failed on line {number} ({line[:200]!r}): {exc}; set "
                                      "errorOrNullBehavior to INCLUDE or EXCLUDE to keep going",
                                      task_id=self.id) from exc
                action, matches = FilterAction(self.error_or_null_behavior.value), True
            if not matches:
                action = FilterAction.EXCLUDE if action is FilterAction.INCLUDE else FilterAction.INCLUDE
            if action is FilterAction.INCLUDE:
                kept.append(line)
            else:
                dropped += 1
            processed += 1
        return {"uri": await _write(ctx, "filtered", kept),
                "processedItemsTotal": processed, "droppedItemsTotal": dropped}


class DeduplicateItems(RunnableTask):
    """Keep only the last item of a file for each key an expression extracts (``outputs.<id>.uri``)."""

    plugin: ClassVar[PluginInfo] = _info("DeduplicateItems", "Keep the last item of a file for each key.",
                                         "    from: \"{{ inputs.file }}\"\n    expr: \"{{ key }}\"\n")

    from_: str = Field(alias="from", description="The Ion file's kestra:// URI; rendered.")
    expr: str = Field(min_length=1, description=(
        "The expression rendered on each item, whose fields are its variables, giving the item's key "
        "(compose several fields for a compound key)."))

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        keys: list[tuple[str, str]] = []
        for number, line in _numbered(await _lines(ctx, self.from_, self.id)):
            try:
                keys.append((ctx.render_string_with(self.expr, _item(line, self.id, number)), line))
            except ExpressionError as exc:
                raise TaskFailure(f"expr failed on line {number} ({line[:200]!r}): {exc}", task_id=self.id) from exc
        last = {key: index for index, (key, _) in enumerate(keys)}
        kept = [line for index, (key, line) in enumerate(keys) if last[key] == index]
        return {"uri": await _write(ctx, "deduplicated", kept), "numKeys": len(last),
                "processedItemsTotal": len(keys), "droppedItemsTotal": len(keys) - len(kept)}


# What this module's entry points register (see the distribution's pyproject.toml).
PLUGINS: tuple[type[PluginModel], ...] = (FilterItems, DeduplicateItems)
