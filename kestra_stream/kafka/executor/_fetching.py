"""Keep the batches of the tables' own changelogs, which nobody takes, from holding back the inbox.

faust leaves the tables' changelog partitions assigned to the consumer after recovery and
"pauses" them only in its own bookkeeping: aiokafka goes on fetching them. The first state
written to each changelog partition after an assignment is fetched back into aiokafka's buffer,
where nothing ever takes it (faust only takes its active partitions). While a buffered batch is
younger than aiokafka's *prefetch backoff* (100 ms), aiokafka sends no fetch to that broker:
it waits for the batch to be taken so the next fetch can include its partition again. So each
such write held every inbox partition back for up to 100 ms (measured: 68-100 ms on the first
task result of each of the first executions after a start).

Here a changelog batch that lands in the buffer outside recovery gets no backoff; every other
batch keeps it. Dropping the backoff for all partitions is no fix: a partition whose batch waits
is left out of the next fetch, which then waits up to ``fetch_max_wait_ms`` (1.5 s in faust) for
other data while the partition's next event sits on the broker. Pausing the changelogs in
aiokafka instead raced with rebalances (a pause meant for one assignment could land on the next,
whose recovery needs those partitions). This changes only when fetches are sent, never what is
fetched, paused, consumed or committed: a mistaken backoff costs latency, not state.

aiokafka exposes neither the backoff nor its buffer: the buffer (``Fetcher._records``) is
replaced by a mapping that sets the backoff of the results put into it, on faust's consumer
thread, where the fetcher runs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger(__name__)


class UnreadBuffer(OrderedDict[Any, Any]):
    """aiokafka's fetch buffer (partition -> fetched result), with no backoff for unread partitions."""

    def __init__(self, items: OrderedDict[Any, Any], unread: Callable[[str], bool]) -> None:
        self._unread = unread
        super().__init__(items)

    def __setitem__(self, tp: Any, result: Any) -> None:
        if self._unread(tp.topic) and hasattr(result, "_backoff"):
            result._backoff = 0.0
        super().__setitem__(tp, result)


def _fetcher(app: Any) -> Any | None:
    # faust-streaming 0.15 keeps the aiokafka client on its consumer thread; aiokafka 0.14 its fetcher.
    return getattr(getattr(getattr(app.consumer, "_thread", None), "_consumer", None), "_fetcher", None)


def _install(app: Any) -> bool:
    """On faust's consumer thread: the fetcher's loop cannot touch its buffer meanwhile."""
    fetcher = _fetcher(app)
    records = getattr(fetcher, "_records", None)
    if isinstance(records, UnreadBuffer):
        return True
    if fetcher is None or type(records) is not OrderedDict:
        return False

    # The tables are all declared before the app starts; faust builds this set anew on each access,
    # and the check runs for every batch fetched.
    changelogs = frozenset(app.tables.changelog_topics)

    def unread(topic: str) -> bool:
        # Read across threads: a stale answer only misplaces one backoff (latency, never state).
        return topic in changelogs and not app.in_recovery

    fetcher._records = UnreadBuffer(records, unread)
    return True


async def skip_backoff_for_changelogs(app: Any) -> bool:
    """Give the app's own changelog batches no prefetch backoff outside recovery; False if aiokafka's
    fetcher was not found (another transport or version: only latency depends on it)."""
    thread = getattr(app.consumer, "_thread", None)
    installed = thread is not None and hasattr(thread, "call_thread") and bool(
        await thread.call_thread(_install, app))
    if not installed:
        log.warning("changelog_backoff_not_skipped", hint="faust or aiokafka moved their fetch buffer; "
                    "each changelog partition then delays the inbox ~100 ms once per assignment")
    return installed


def _backoffs(app: Any) -> dict[tuple[str, int], float]:
    records = getattr(_fetcher(app), "_records", None) or {}
    return {(tp.topic, tp.partition): float(result._backoff) for tp, result in records.items()
            if hasattr(result, "_backoff")}


async def buffered_backoffs(app: Any) -> dict[tuple[str, int], float]:
    """The batches waiting in the app's fetch buffer and the backoff each was given, by (topic, partition)."""
    thread = getattr(app.consumer, "_thread", None)
    if thread is None or not hasattr(thread, "call_thread"):
        return {}
    found: dict[tuple[str, int], float] = await thread.call_thread(_backoffs, app)
    return found
