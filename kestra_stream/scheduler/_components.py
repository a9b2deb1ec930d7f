"""The scheduler wired to a backend: embedded (state in SQLite) or Kafka (state in the triggers topic,
triggers shared among the schedulers of one consumer group)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path

import structlog

from kestra_stream.backend import Backend, LatestFlows
from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.kafka import KafkaSettings
from kestra_stream.scheduler._kafka import KafkaTriggerStore, PartitionOwnership, default_scheduler_group
from kestra_stream.scheduler._scheduler import Scheduler, _utcnow
from kestra_stream.scheduler._state import SqliteTriggerStore, set_disabled
from kestra_stream.storage import Storage

log = structlog.get_logger(__name__)

TRIGGERS_DB = "triggers.db"


class EmbeddedScheduler(Scheduler):
    """The scheduler of an ``EmbeddedEngine``: trigger state in ``<home>/triggers.db``."""

    def __init__(self, engine: EmbeddedEngine, *, path: Path | None = None, now: Callable[[], datetime] = _utcnow,
                 tick_seconds: float = 1.0, default_timezone: str = "UTC") -> None:
        self.sqlite = SqliteTriggerStore(path or engine.home / TRIGGERS_DB)
        engine.services.use_triggers(partial(set_disabled, self.sqlite))
        super().__init__(engine, engine.catalog, self.sqlite, storage=engine.storage, now=now,
                         tick_seconds=tick_seconds, default_timezone=default_timezone,
                         groups=engine.trigger_groups)

    async def stop(self) -> None:
        await super().stop()
        self.sqlite.close()

    async def __aenter__(self) -> EmbeddedScheduler:
        await self.start()
        return self


class KafkaScheduler:
    """A scheduler on Kafka: its share of the triggers comes from the ``<prefix>-scheduler`` group.

    A process of a worker group (``settings.worker_group_key``) evaluates only the polling triggers
    of that group, shared among the schedulers of that key through a consumer group of its own
    (``<prefix>-scheduler-<key>``): a process of another group never takes its partitions.

    ``backend`` creates the executions (a ``KafkaStack`` or ``KafkaExecutions`` client) and
    ``flows`` is the followed flows topic (``stack.flows``).
    """

    def __init__(self, backend: Backend, flows: LatestFlows, settings: KafkaSettings, *, storage: Storage,
                 now: Callable[[], datetime] = _utcnow, tick_seconds: float = 1.0, default_timezone: str = "UTC",
                 group_id: str | None = None) -> None:
        self.store = KafkaTriggerStore(settings)
        key = settings.worker_group_key
        if key:
            group_id = f"{group_id or default_scheduler_group(settings)}-{key}"
        self.ownership = PartitionOwnership(settings, group_id=group_id, on_change=self._assigned)
        self.scheduler = Scheduler(backend, flows, self.store, storage=storage, now=now, tick_seconds=tick_seconds,
                                   default_timezone=default_timezone, owns=self.ownership.owns,
                                   groups=settings.trigger_groups)
        self._loop: asyncio.AbstractEventLoop | None = None

    def _assigned(self, partitions: list[int]) -> None:
        # Called on the group's thread: the triggers of these partitions are fired (and their missed
        # dates recovered) once the store has read what their last owner wrote.
        loop = self._loop
        if loop is not None and not loop.is_closed():
            asyncio.run_coroutine_threadsafe(self._take_over(partitions), loop)

    async def _take_over(self, partitions: list[int]) -> None:
        await self.store.caught_up(partitions)
        self.ownership.confirm(partitions)
        self.scheduler.forget()
        log.info("scheduler_took_over", partitions=partitions)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.store.start()
        await self.ownership.start()
        await self.scheduler.start()

    async def stop(self) -> None:
        await self.scheduler.stop()
        await self.ownership.stop()
        await self.store.stop()

    async def __aenter__(self) -> KafkaScheduler:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
