"""What makes a restarted executor fold again within seconds: faust's start without its fixed waits, and
a graceful leave for a static member of the group.

A restarted executor's first fold used to wait for, in turn: its imports; faust declaring each table
changelog and its leader topic (each declaration asks the broker for the metadata of every topic of
the cluster, thousands on a shared one); one second that faust's table manager sleeps before its
first recovery; and the group's session timeout, during which the killed predecessor still held its
partitions. The topics are declared by ``kestra-stream topics apply`` (and checked or created at
start, see ``KafkaExecutor._check_topics``), the sleep is left out here, and a static member of the
group (``KafkaSettings.executor_instance_id``) takes its partitions back at once.
"""

from __future__ import annotations

from typing import Any

import structlog
from faust.tables import TableManager

log = structlog.get_logger(__name__)


class PromptTableManager(TableManager):
    """faust's table manager, without the second it sleeps before registering the tables' changelogs.

    The sleep gives tables declared while the app starts time to be registered; the executor declares
    all of its tables before it starts, so registering them at once misses none.
    """

    async def on_start(self) -> None:
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()


def leave_on_stop(app: Any) -> None:
    """Make the stopping consumer leave its group although it is a static member.

    Kafka keeps a static member's partitions through its session timeout so that it can come back to
    them (a crash, restarted under the same instance id); a graceful stop means no such return, so
    the executor leaves as a dynamic member does and the group moves its partitions at once. aiokafka
    sends its LeaveGroup only for members without an instance id, read when its consumer stops.
    """
    consumer = app.consumer._thread._consumer  # faust's consumer thread and its aiokafka consumer
    if consumer is None:
        return  # never started: not in the group
    coordinator = consumer._coordinator
    if coordinator is not None and coordinator._group_instance_id is not None:
        coordinator._group_instance_id = None
        log.debug("executor_leaving_group", member_id=coordinator.member_id)
