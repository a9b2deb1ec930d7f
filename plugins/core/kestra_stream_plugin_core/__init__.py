"""Kestra's core plugins (``io.kestra.plugin.core.*``) for kestra-stream.

Registered through the ``kestra_stream.plugins`` entry point ``core``, which names
:func:`plugins`. Tasks are runnable (run by a worker), flowable (resolved by the executor)
or engine primitives (Sleep, Pause, Subflow); triggers and conditions are declarations the
scheduler, the webhook API and the flow-trigger component act on.
"""

from __future__ import annotations

from kestra_stream.expressions import is_truthy
from kestra_stream.models.plugin import PluginModel
from kestra_stream.plugins.spi import TimeWindow, TimeWindowType
from kestra_stream_plugin_core._base import Label, as_text, check_cron, check_timezone
from kestra_stream_plugin_core.conditions import (
    DateTimeBetween,
    DayInMonth,
    DayOfWeek,
    DayWeek,
    DayWeekInMonth,
    ExecutionFlow,
    ExecutionLabels,
    ExecutionNamespace,
    ExecutionOutputs,
    ExecutionStatus,
    Expression,
    HasRetryAttempt,
    MultipleCondition,
    NamespaceComparison,
    Not,
    Or,
    PublicHoliday,
    TimeBetween,
    Weekend,
)
from kestra_stream_plugin_core.debug import Echo, Return
from kestra_stream_plugin_core.execution import Fail, Labels, Resume
from kestra_stream_plugin_core.flow import (
    AllowFailure,
    Dag,
    DagTask,
    EachParallel,
    EachSequential,
    ForEach,
    If,
    Parallel,
    Pause,
    Sequential,
    Sleep,
    Subflow,
    Switch,
)
from kestra_stream_plugin_core.for_each_item import (
    ForEachItem,
    ForEachItemExecutable,
    ForEachItemMergeOutputs,
    ForEachItemSplit,
)
from kestra_stream_plugin_core.history import Count, CountedFlow, PurgeExecutions, PurgeLogs
from kestra_stream_plugin_core.http import Download, HttpOptions, HttpTrigger, Request
from kestra_stream_plugin_core.items import DeduplicateItems, FilterItems
from kestra_stream_plugin_core.kv import KVDelete, KVGet, KVGetKeys, KVSet
from kestra_stream_plugin_core.local_files import LocalFiles
from kestra_stream_plugin_core.log import Fetch, Log
from kestra_stream_plugin_core.namespace_files import DeleteFiles, DownloadFiles, UploadFiles
from kestra_stream_plugin_core.outputs import OutputValues
from kestra_stream_plugin_core.runners import Process
from kestra_stream_plugin_core.state import StateDelete, StateGet, StateSet
from kestra_stream_plugin_core.storage import Concat, Delete, PurgeCurrentExecutionFiles, Reverse, Size, Split
from kestra_stream_plugin_core.template import Template
from kestra_stream_plugin_core.toggle import Toggle
from kestra_stream_plugin_core.triggers import (
    ExecutionFilter,
    ExecutionFilterItem,
    FilterField,
    FilterType,
    Flow,
    Preconditions,
    Schedule,
    ScheduleBackfill,
    ScheduleOnDates,
    UpstreamFlow,
    Webhook,
)
from kestra_stream_plugin_core.wait_for import CheckFrequency, WaitFor
from kestra_stream_plugin_core.working_directory import WorkingDirectory

TASKS: tuple[type[PluginModel], ...] = (
    Log, Echo, Return, OutputValues, Fail, Labels,
    Sleep, Pause, Subflow,
    Sequential, Parallel, AllowFailure, If, Switch, ForEach, EachSequential, EachParallel, Dag,
    KVSet, KVGet, KVDelete, KVGetKeys, Request, Download,
    WorkingDirectory, LocalFiles, StateGet, StateSet, StateDelete, WaitFor,
    Size, Delete, Concat, Reverse, Split, PurgeCurrentExecutionFiles, FilterItems, DeduplicateItems,
    Template,
    Fetch,
    Resume,
    Toggle,
    ForEachItem, ForEachItemSplit, ForEachItemExecutable, ForEachItemMergeOutputs,
    UploadFiles, DownloadFiles, DeleteFiles,
    Count, PurgeExecutions, PurgeLogs,
)
TRIGGERS: tuple[type[PluginModel], ...] = (Schedule, ScheduleOnDates, Flow, Webhook, HttpTrigger)
CONDITIONS: tuple[type[PluginModel], ...] = (
    ExecutionStatus, ExecutionFlow, ExecutionNamespace, ExecutionLabels, ExecutionOutputs, Expression, HasRetryAttempt,
    DayWeek, DayWeekInMonth, DateTimeBetween, TimeBetween, Weekend, PublicHoliday, Not, Or,
    MultipleCondition,
)
TASK_RUNNERS: tuple[type[PluginModel], ...] = (Process,)


def plugins() -> list[type[PluginModel]]:
    """Every core plugin class (the ``core`` entry point of ``kestra_stream.plugins``)."""
    return [*TASKS, *TRIGGERS, *CONDITIONS, *TASK_RUNNERS]


__all__ = [
    "CONDITIONS",
    "TASKS",
    "TASK_RUNNERS",
    "TRIGGERS",
    "AllowFailure",
    "CheckFrequency",
    "Concat",
    "Count",
    "CountedFlow",
    "Dag",
    "DagTask",
    "DateTimeBetween",
    "DayInMonth",
    "DayOfWeek",
    "DayWeek",
    "DayWeekInMonth",
    "DeduplicateItems",
    "Delete",
    "DeleteFiles",
    "Download",
    "DownloadFiles",
    "EachParallel",
    "EachSequential",
    "Echo",
    "ExecutionFilter",
    "ExecutionFilterItem",
    "ExecutionFlow",
    "ExecutionLabels",
    "ExecutionNamespace",
    "ExecutionOutputs",
    "ExecutionStatus",
    "Expression",
    "Fail",
    "Fetch",
    "FilterField",
    "FilterItems",
    "FilterType",
    "Flow",
    "ForEach",
    "ForEachItem",
    "ForEachItemExecutable",
    "ForEachItemMergeOutputs",
    "ForEachItemSplit",
    "HasRetryAttempt",
    "HttpOptions",
    "HttpTrigger",
    "If",
    "KVDelete",
    "KVGet",
    "KVGetKeys",
    "KVSet",
    "Label",
    "Labels",
    "LocalFiles",
    "Log",
    "MultipleCondition",
    "NamespaceComparison",
    "Not",
    "Or",
    "OutputValues",
    "Parallel",
    "Pause",
    "Preconditions",
    "Process",
    "PublicHoliday",
    "PurgeCurrentExecutionFiles",
    "PurgeExecutions",
    "PurgeLogs",
    "Request",
    "Resume",
    "Return",
    "Reverse",
    "Schedule",
    "ScheduleBackfill",
    "ScheduleOnDates",
    "Sequential",
    "Size",
    "Sleep",
    "Split",
    "StateDelete",
    "StateGet",
    "StateSet",
    "Subflow",
    "Switch",
    "Template",
    "TimeBetween",
    "TimeWindow",
    "TimeWindowType",
    "Toggle",
    "UploadFiles",
    "UpstreamFlow",
    "WaitFor",
    "Webhook",
    "Weekend",
    "WorkingDirectory",
    "as_text",
    "check_cron",
    "check_timezone",
    "is_truthy",
    "plugins",
]
