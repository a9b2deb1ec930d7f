"""Statistics over executions, read from the search index (aggregations, never every document).

The executions list and the home dashboard are built on these, each filtered as the executions
search is (namespace with its children, flow, states, labels, start-date range, words, what started them):

* ``/stats/executions/daily``: executions per interval of their start date by state, with the
  durations of the ended ones, in Kestra's ``DailyExecutionStatistics`` shape. The interval is
  Kestra's choice for the range (minutes up to 6 hours, hours up to a day, days up to 180 days,
  then weeks, then months) unless ``groupBy`` names one; empty intervals are answered with zeros.
  Without dates, the last 30 days. Kestra's form is a POST of a ``StatisticRequest``; both are served.
* ``/stats/executions/count-by-state``: executions per state, their total and the failure ratio.
* ``/stats/executions/most-run-flows``: the flows with the most executions, by state.
* ``/stats/executions/latest/group-by-flow``: the most recently started execution of each flow,
  the state the flow list shows beside each flow. Kestra's own form is a POST naming the flows; the
  GET form takes a namespace instead, for a page that lists a namespace's flows.

The latest failed executions of the dashboard are a search: ``/executions/search?state=FAILED&size=5``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from kestra_stream.api._errors import ApiError
from kestra_stream.api._executions import TriggerFilters, parse_labels
from kestra_stream.api._http import json_response, query, read_json, services
from kestra_stream.api._query_filters import EXECUTION_FILTERS, filtered_query
from kestra_stream.api._routes import ApiRoutes
from kestra_stream.models.execution import Execution
from kestra_stream.models.state import StateType
from kestra_stream.search import (
    MAX_PAGE_SIZE,
    ExecutionQuery,
    FlowCount,
    HistogramBucket,
    Interval,
    fill,
    interval_for,
    intervals,
)

routes = ApiRoutes("Stats")

_LATEST = "/stats/executions/latest/group-by-flow"
_DAILY = "/stats/executions/daily"
# Kestra's default range for the histogram when no date is given.
DEFAULT_RANGE = timedelta(days=30)
# Intervals one histogram may answer: a range of a year by minutes would be half a million buckets.
MAX_INTERVALS = 1000
MAX_FLOWS = 100
_ANSWER = ConfigDict(frozen=True, alias_generator=to_camel, validate_by_alias=True, validate_by_name=True,
                     serialize_by_alias=True)
# Unknown parameters are refused: a misspelt filter would otherwise widen the counts without a word.
_FILTER = ConfigDict(frozen=True, validate_by_alias=True, validate_by_name=True, extra="forbid")


# ----- what is asked ------------------------------------------------------------------------------
class ExecutionFilter(TriggerFilters):
    """The filters of the executions search (``/executions/search``), without its sort and paging."""

    model_config = _FILTER

    q: str | None = Field(default=None, description="Words of the id, namespace, flow id, labels or inputs.")
    namespace: str | None = Field(default=None, description="The namespace, or a parent of it.")
    flow_id: str | None = Field(default=None, alias="flowId")
    state: list[StateType] = Field(default_factory=list, description="Current states (repeatable).")
    labels: list[str] = Field(default_factory=list, description="Labels as repeated `key:value`.")
    start_date: datetime | None = Field(default=None, alias="startDate",
                                        description="Executions started at or after this date.")
    end_date: datetime | None = Field(default=None, alias="endDate",
                                      description="Executions started before this date.")

    def search_query(self, *, start: datetime | None = None, end: datetime | None = None) -> ExecutionQuery:
        start, end = start or self.start_date, end or self.end_date
        if start is not None and end is not None and start > end:
            raise ApiError(400, f"startDate {start.isoformat()} is after endDate {end.isoformat()}: swap them")
        return ExecutionQuery(namespace=self.namespace or None, flow_id=self.flow_id or None,
                              states=tuple(self.state), labels=parse_labels(self.labels), start_date=start,
                              end_date=end, text=self.q, **self.trigger_terms())


class DailyQuery(ExecutionFilter):
    group_by: Interval | None = Field(default=None, alias="groupBy",
                                      description="The interval; by default chosen from the range as Kestra does.")


class StatisticRequest(BaseModel):
    """Kestra's ``StatisticRequest``, the body of its POST form of the daily statistics."""

    model_config = _FILTER

    q: str | None = None
    namespace: str | None = Field(default=None, description="The namespace, or a parent of it.")
    flow_id: str | None = Field(default=None, alias="flowId")
    start_date: datetime | None = Field(default=None, alias="startDate")
    end_date: datetime | None = Field(default=None, alias="endDate")
    state: list[StateType] | None = None


class MostRunQuery(ExecutionFilter):
    size: int = Field(default=10, ge=1, le=MAX_FLOWS, description="How many flows, the most run first.")


class LatestQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    namespace: str | None = Field(default=None, description="Flows of this namespace and the ones below it")


class FlowRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    namespace: str = Field(min_length=1)
    id: str = Field(min_length=1)


class LatestRequest(BaseModel):
    """Kestra's LastExecutionsRequest: the flows to answer for (every flow when left out)."""

    model_config = ConfigDict(frozen=True)

    flows: list[FlowRef] | None = Field(default=None, max_length=MAX_PAGE_SIZE,
                                        description="At most a page of flows (1000)")


# ----- what is answered ---------------------------------------------------------------------------
class DurationStatistics(BaseModel):
    """Durations of the ended executions of an interval (none when no execution of it has ended)."""

    model_config = _ANSWER

    min: timedelta | None = None
    avg: timedelta | None = None
    max: timedelta | None = None
    sum: timedelta | None = None
    count: int = Field(default=0, description="The ended executions these durations are over.")


class DailyExecutionStatistics(BaseModel):
    """Kestra's shape: executions started in the interval from ``startDate``, per state (every state listed)."""

    model_config = _ANSWER

    start_date: datetime
    group_by: Interval
    duration: DurationStatistics
    execution_counts: dict[StateType, int]


class ExecutionCountStatistics(BaseModel):
    """Executions per state (every state listed), their total, and the share of the ended ones that failed."""

    model_config = _ANSWER

    counts: dict[StateType, int]
    total: int
    failure_ratio: float | None = Field(description="FAILED over the ended executions; none when none ended.")


class FlowExecutionCount(BaseModel):
    model_config = _ANSWER

    namespace: str
    flow_id: str
    total: int
    counts: dict[StateType, int]


# ----- pure: from repository answers to API answers ----------------------------------------------
def every_state(counts: Mapping[StateType, int]) -> dict[StateType, int]:
    """``counts`` with a zero for each state it does not name, as Kestra answers."""
    return {state: counts.get(state, 0) for state in StateType}


def daily_statistics(bucket: HistogramBucket, interval: Interval) -> DailyExecutionStatistics:
    def seconds(value: float | None) -> timedelta | None:
        return timedelta(seconds=value) if value is not None else None

    ended = bucket.ended
    total, average = (bucket.duration_sum, bucket.duration_sum / ended) if ended else (None, None)
    duration = DurationStatistics(min=seconds(bucket.duration_min), max=seconds(bucket.duration_max),
                                  sum=seconds(total), avg=seconds(average), count=ended)
    return DailyExecutionStatistics(start_date=bucket.start, group_by=interval, duration=duration,
                                    execution_counts=every_state(bucket.counts))


def count_statistics(counts: Mapping[StateType, int]) -> ExecutionCountStatistics:
    ended = sum(count for state, count in counts.items() if state.is_terminated)
    failed = counts.get(StateType.FAILED, 0)
    return ExecutionCountStatistics(counts=every_state(counts), total=sum(counts.values()),
                                    failure_ratio=failed / ended if ended else None)


def most_run(flows: list[FlowCount], size: int) -> list[FlowExecutionCount]:
    ranked = sorted(flows, key=lambda f: (-f.total, f.namespace, f.flow_id))[:size]
    return [FlowExecutionCount(namespace=f.namespace, flow_id=f.flow_id, total=f.total, counts=every_state(f.counts))
            for f in ranked]


def histogram_range(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """The range a histogram covers: the dates given, else ``DEFAULT_RANGE`` up to ``now`` (or before ``end``)."""
    end = end or now
    return start or end - DEFAULT_RANGE, end


def check_interval_count(start: datetime, end: datetime, interval: Interval) -> None:
    for count, _ in enumerate(intervals(start, end, interval), start=1):
        if count > MAX_INTERVALS:
            raise ApiError(400, f"a histogram by {interval} from {start.isoformat()} to {end.isoformat()} has more "
                                f"than {MAX_INTERVALS} intervals: choose a longer groupBy or a shorter range")


# ----- handlers -----------------------------------------------------------------------------------
async def _daily(request: web.Request, wanted: ExecutionFilter, group_by: Interval | None) -> web.StreamResponse:
    start, end = histogram_range(wanted.start_date, wanted.end_date, datetime.now(UTC))
    search_query = wanted.search_query(start=start, end=end)
    interval = group_by or interval_for(start, end)
    check_interval_count(start, end, interval)
    buckets = await asyncio.to_thread(services(request).search.histogram, search_query, interval)
    return json_response([daily_statistics(b, interval) for b in fill(buckets, start, end, interval)])


@routes.route("GET", _DAILY, summary="Executions per day (or other interval) by state", query=DailyQuery,
              response=list[DailyExecutionStatistics])
async def daily_statistics_get(request: web.Request) -> web.StreamResponse:
    wanted = filtered_query(request, DailyQuery, EXECUTION_FILTERS)
    return await _daily(request, wanted, wanted.group_by)


@routes.route("POST", _DAILY, summary="Executions per day by state (Kestra's form)", body=StatisticRequest,
              response=list[DailyExecutionStatistics])
async def daily_statistics_post(request: web.Request) -> web.StreamResponse:
    body: StatisticRequest = await read_json(request, StatisticRequest)
    wanted = ExecutionFilter(q=body.q, namespace=body.namespace, flowId=body.flow_id, state=body.state or [],
                             startDate=body.start_date, endDate=body.end_date)
    return await _daily(request, wanted, None)


@routes.route("GET", "/stats/executions/count-by-state", summary="Executions per state, total and failure ratio",
              query=ExecutionFilter, response=ExecutionCountStatistics)
async def count_by_state(request: web.Request) -> web.StreamResponse:
    search_query = filtered_query(request, ExecutionFilter, EXECUTION_FILTERS).search_query()
    counts = await asyncio.to_thread(services(request).search.count_by_state, search_query)
    return json_response(count_statistics(counts))


@routes.route("GET", "/stats/executions/most-run-flows", summary="The flows with the most executions, by state",
              query=MostRunQuery, response=list[FlowExecutionCount])
async def most_run_flows(request: web.Request) -> web.StreamResponse:
    wanted = filtered_query(request, MostRunQuery, EXECUTION_FILTERS)
    flows = await asyncio.to_thread(services(request).search.count_by_flow, wanted.search_query())
    return json_response(most_run(flows, wanted.size))


@routes.route("GET", _LATEST, summary="The latest execution of each flow", query=LatestQuery,
              response=list[Execution])
async def latest_by_flow(request: web.Request) -> web.StreamResponse:
    api = services(request)
    namespace = query(request, LatestQuery).namespace
    return json_response(await asyncio.to_thread(api.search.latest_executions, namespace or None))


@routes.route("POST", _LATEST, summary="The latest execution of each of the flows named", body=LatestRequest,
              response=list[Execution])
async def latest_of_flows(request: web.Request) -> web.StreamResponse:
    api = services(request)
    wanted: LatestRequest = await read_json(request, LatestRequest)
    pairs = [(f.namespace, f.id) for f in wanted.flows or ()]
    return json_response(await asyncio.to_thread(api.search.latest_executions, None, pairs))
