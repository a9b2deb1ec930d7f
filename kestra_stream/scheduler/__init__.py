"""The scheduler: Schedule, ScheduleOnDates and polling triggers, and the trigger state they keep.

Pure date logic (``CronSchedule``, ``due_dates`` ...) has no clock and no I/O; ``Scheduler`` fires
through ``kestra_stream.triggers.emit_execution``; trigger state lives in a ``TriggerStore``
(SQLite when embedded, the compacted triggers topic on Kafka). The API changes trigger state with
``set_disabled``, ``unlock``, ``start_backfill``, ``pause_backfill`` and ``delete_backfill``.
"""

from kestra_stream.scheduler._components import EmbeddedScheduler, KafkaScheduler
from kestra_stream.scheduler._cron import CronSchedule
from kestra_stream.scheduler._kafka import (
    KafkaTriggerStore,
    PartitionOwnership,
    TriggerTopicSwitch,
    murmur2,
    partition_of,
)
from kestra_stream.scheduler._plan import (
    DateList,
    DateTrigger,
    Due,
    backfill_dates,
    date_trigger,
    date_variables,
    due_dates,
    firing_key,
    first_cursor,
    is_scheduled,
    recovered_cursor,
)
from kestra_stream.scheduler._scheduler import BACKFILL_LABEL, Scheduler
from kestra_stream.scheduler._state import (
    BackfillRequest,
    SqliteTriggerStore,
    TriggerStore,
    delete_backfill,
    disabled_in,
    pause_backfill,
    set_disabled,
    start_backfill,
    unlock,
)
from kestra_stream.search import TriggerBackfill

__all__ = [
    "BACKFILL_LABEL",
    "BackfillRequest",
    "CronSchedule",
    "DateList",
    "DateTrigger",
    "Due",
    "EmbeddedScheduler",
    "KafkaScheduler",
    "KafkaTriggerStore",
    "PartitionOwnership",
    "Scheduler",
    "SqliteTriggerStore",
    "TriggerBackfill",
    "TriggerStore",
    "TriggerTopicSwitch",
    "backfill_dates",
    "date_trigger",
    "date_variables",
    "delete_backfill",
    "disabled_in",
    "due_dates",
    "firing_key",
    "first_cursor",
    "is_scheduled",
    "murmur2",
    "partition_of",
    "pause_backfill",
    "recovered_cursor",
    "set_disabled",
    "start_backfill",
    "unlock",
]
