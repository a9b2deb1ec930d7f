"""Search on Elasticsearch 8: one index per kind, created from index templates at start.

Only what is filtered, sorted or searched is mapped; the whole document (execution, log line,
flow source, trigger) rides along in ``body``, an object with ``enabled: false``, so inputs and
outputs of any shape never add a field to the mapping. Labels are nested key/value pairs.
Nothing here needs painless, ingest or analysis-common (the integ-test distribution has none).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from elasticsearch import ApiError, Elasticsearch, TransportError, helpers

from kestra_stream.errors import BackendError
from kestra_stream.flows.record import FlowRecord
from kestra_stream.models.execution import Execution
from kestra_stream.models.log import LogEntry
from kestra_stream.models.state import StateType
from kestra_stream.search._documents import (
    duration_seconds,
    end_date,
    execution_text,
    iso,
    levels_at_least,
    start_date,
    words,
)
from kestra_stream.search._history import CountQuery, ExecutionPurge, FlowExecutions, LogPurge
from kestra_stream.search._intervals import Interval
from kestra_stream.search._models import (
    ExecutionQuery,
    ExecutionSort,
    FlowCount,
    FlowQuery,
    HistogramBucket,
    IndexBatch,
    LogQuery,
    Page,
    Paging,
    TriggerQuery,
    TriggerRecord,
)

log = structlog.get_logger(__name__)

KINDS = ("executions", "logs", "flows", "triggers")
_KEYWORD = {"type": "keyword"}
_DATE = {"type": "date"}
_TEXT = {"type": "text", "analyzer": "standard"}
_BODY = {"type": "object", "enabled": False}
_MAPPINGS: dict[str, dict[str, Any]] = {
    "executions": {
        "id": _KEYWORD, "namespace": _KEYWORD, "flowId": _KEYWORD, "flowRevision": {"type": "integer"},
        "state": _KEYWORD, "startDate": _DATE, "endDate": _DATE, "duration": {"type": "double"},
        "labels": {"type": "nested", "properties": {"key": _KEYWORD, "value": _KEYWORD}},
        "originalId": _KEYWORD, "parentId": _KEYWORD, "triggeredBy": _KEYWORD, "triggerExecutionId": _KEYWORD,
        "text": _TEXT, "body": _BODY,
    },
    "logs": {
        "executionId": _KEYWORD, "taskRunId": _KEYWORD, "taskId": _KEYWORD, "namespace": _KEYWORD,
        "flowId": _KEYWORD, "level": _KEYWORD, "timestamp": _DATE, "seq": {"type": "long"}, "text": _TEXT,
        "body": _BODY,
    },
    "flows": {
        "namespace": _KEYWORD, "id": _KEYWORD, "revision": {"type": "integer"}, "deleted": {"type": "boolean"},
        "text": _TEXT, "body": _BODY,
    },
    "triggers": {
        "namespace": _KEYWORD, "flowId": _KEYWORD, "triggerId": _KEYWORD, "executionId": _KEYWORD,
        "date": _DATE, "nextExecutionDate": _DATE, "disabled": {"type": "boolean"}, "body": _BODY,
    },
}
_SORT_FIELDS = {
    ExecutionSort.START_DATE: "startDate", ExecutionSort.END_DATE: "endDate", ExecutionSort.DURATION: "duration",
    ExecutionSort.ID: "id", ExecutionSort.NAMESPACE: "namespace", ExecutionSort.FLOW_ID: "flowId",
    ExecutionSort.STATE: "state",
}
_CONFLICT = 409
# Buckets per request of a composite aggregation walked to its end.
_COMPOSITE_PAGE = 1000


class ElasticsearchRepository:
    """``SearchRepository`` on Elasticsearch; ``prefix`` names the indices (``<prefix>-executions`` ...)."""

    def __init__(self, client: Elasticsearch, *, prefix: str = "kestra_stream", replicas: int = 0,
                 refresh_interval: str = "1s") -> None:
        self.client = client
        self.prefix = prefix
        self._replicas = replicas
        self._refresh_interval = refresh_interval

    @classmethod
    def connect(cls, url: str, *, prefix: str = "kestra_stream", timeout: float = 10.0) -> ElasticsearchRepository:
        return cls(Elasticsearch(url, request_timeout=timeout), prefix=prefix)

    def index(self, kind: str) -> str:
        return f"{self.prefix}-{kind}"

    # ----- setup -------------------------------------------------------------------------------
    def setup(self) -> None:
        """Put the index templates and create the indices; safe to call on every start."""
        try:
            for kind in KINDS:
                name = self.index(kind)
                self.client.indices.put_index_template(
                    name=name, index_patterns=[name], priority=100,
                    template={"settings": {"number_of_shards": 1, "number_of_replicas": self._replicas,
                                           "refresh_interval": self._refresh_interval},
                              "mappings": {"dynamic": False, "properties": _MAPPINGS[kind]}})
                if not self.client.indices.exists(index=name):
                    self.client.options(ignore_status=400).indices.create(index=name)
                else:
                    # An index of an older version: the template applies to new indices only. Adding fields
                    # is allowed on a live index; documents written before lack them until rewritten.
                    self.client.indices.put_mapping(index=name, properties=_MAPPINGS[kind])
            self._complete_executions()
        except (ApiError, TransportError) as exc:
            raise BackendError(f"cannot create the search indices '{self.prefix}-*' on Elasticsearch: {exc}; "
                               "check that it runs (`kestra-stream services up elasticsearch`)") from exc

    def _complete_executions(self) -> None:
        """Rewrite the executions indexed before ``triggeredBy`` was, from the body each document keeps.

        Written at the version read with ``external_gte``: a newer snapshot the indexer writes meanwhile
        wins (this write then conflicts, and is done). Nothing to rewrite costs one empty search.
        """
        index = self.index("executions")
        missing = {"bool": {"must_not": [{"exists": {"field": "triggeredBy"}}]}}
        rewritten, after = 0, None
        while True:
            # Walked once in id order: a document some other writer keeps without the field ends the walk too.
            hits = self.client.search(index=index, query=missing, size=_COMPOSITE_PAGE, version=True,
                                      sort=[{"id": "asc"}], search_after=after,
                                      source_includes=["body"])["hits"]["hits"]
            if not hits:
                break
            actions = ({"_index": index, "_id": h["_id"], "_version": h["_version"], "_version_type": "external_gte",
                        "_source": execution_document(Execution.model_validate(h["_source"]["body"]))}
                       for h in hits)
            _ok, errors = helpers.bulk(self.client, actions, raise_on_error=False, refresh=True)
            failed = [e for e in _error_items(errors) if e.get("status") != _CONFLICT]
            if failed:
                raise BackendError(f"cannot add triggeredBy to the executions of '{index}': {failed[0]}")
            rewritten += len(hits)
            after = hits[-1]["sort"]
        if rewritten:
            log.info("search_executions_completed", index=index, executions=rewritten, field="triggeredBy")

    def drop(self) -> None:
        """Delete the indices and templates of this prefix (tests, benchmarks)."""
        for kind in KINDS:
            self.client.options(ignore_status=404).indices.delete(index=self.index(kind))
            self.client.options(ignore_status=404).indices.delete_index_template(name=self.index(kind))

    # ----- writing -----------------------------------------------------------------------------
    def write(self, batch: IndexBatch) -> None:
        if not len(batch):
            return
        try:
            _ok, errors = helpers.bulk(self.client, self._actions(batch), raise_on_error=False,
                                       raise_on_exception=True, chunk_size=2000, max_chunk_bytes=20 * 1024 * 1024)
        except (ApiError, TransportError) as exc:
            raise BackendError(f"bulk indexing into '{self.prefix}-*' failed: {exc}") from exc
        failed = [e for e in _error_items(errors) if e.get("status") != _CONFLICT]
        if failed:
            raise BackendError(f"Elasticsearch refused {len(failed)} documents of a bulk request into "
                               f"'{self.prefix}-*', first: {failed[0]}")
        for execution_id in batch.deleted_executions:
            self.delete_execution(execution_id)
        for purge in batch.purged_logs:
            self.delete_logs(purge)

    def _actions(self, batch: IndexBatch) -> Iterator[dict[str, Any]]:
        # A conflict (409) means the store already has this version or a newer one: the write is done.
        latest: dict[str, tuple[Execution, int]] = {}
        for execution, version in batch.executions:
            if execution.id not in latest or latest[execution.id][1] < version:
                latest[execution.id] = (execution, version)
        for execution, version in latest.values():
            yield {"_index": self.index("executions"), "_id": execution.id, "_version": version,
                   "_version_type": "external", "_source": execution_document(execution)}
        for item in batch.logs:
            yield {"_index": self.index("logs"), "_id": item.id, "_source": log_document(item.entry, item.seq)}
        for flow in batch.flows:
            # Every revision is also published under its own key: the newest revision wins.
            yield {"_index": self.index("flows"), "_id": f"{flow.namespace}/{flow.id}", "_version": flow.revision,
                   "_version_type": "external_gte", "_source": flow_document(flow)}
        for trigger in batch.triggers:
            yield {"_index": self.index("triggers"), "_id": trigger.uid, "_version": trigger.version,
                   "_version_type": "external_gte", "_source": trigger_document(trigger)}

    def delete_execution(self, execution_id: str, *, version: int | None = None) -> None:
        try:
            executions = self.client.options(ignore_status=(404, _CONFLICT))
            if version is None:
                executions.delete(index=self.index("executions"), id=execution_id, refresh=True)
            else:
                # Even with no document, the deletion is kept at its version (for index.gc_deletes): a late
                # write of an older snapshot conflicts. A conflict here: a newer execution of that id, kept.
                executions.delete(index=self.index("executions"), id=execution_id, refresh=True,
                                  version=version, version_type="external")
            # Found then deleted in bulk: _delete_by_query needs the reindex module, which not every
            # distribution has (the integ-test one the tests run has not).
            logs = self.index("logs")
            while True:
                found = self.client.options(ignore_status=404).search(
                    index=logs, query={"term": {"executionId": execution_id}}, size=5000, source=False)
                hits = found.get("hits", {}).get("hits", [])
                if not hits:
                    break
                helpers.bulk(self.client, ({"_op_type": "delete", "_index": logs, "_id": h["_id"]} for h in hits),
                             raise_on_error=False, refresh=True)
        except (ApiError, TransportError) as exc:
            raise BackendError(f"cannot delete execution '{execution_id}' from '{self.prefix}-*': {exc}") from exc

    def _delete_found(self, kind: str, filters: list[dict[str, Any]]) -> int:
        """Delete the documents of ``kind`` the filters find; returns how many.

        Found then deleted in bulk until none is found: _delete_by_query needs the reindex module.
        """
        index, deleted = self.index(kind), 0
        try:
            self.client.indices.refresh(index=index)
            while True:
                page = self.client.search(index=index, query={"bool": {"filter": filters}}, size=5000, source=False)
                hits = page["hits"]["hits"]
                if not hits:
                    return deleted
                helpers.bulk(self.client, ({"_op_type": "delete", "_index": index, "_id": h["_id"]} for h in hits),
                             raise_on_error=False, refresh=True)
                deleted += len(hits)
        except (ApiError, TransportError) as exc:
            raise BackendError(f"cannot delete from '{index}': {exc}") from exc

    def delete_logs(self, purge: LogPurge) -> int:
        """Delete the log lines ``purge`` covers; returns how many."""
        filters: list[dict[str, Any]] = []
        if purge.execution_id is not None:
            filters.append({"term": {"executionId": purge.execution_id}})
        filters += _purged_flows(purge.namespace, purge.flow_id)
        if purge.levels is not None:
            filters.append({"terms": {"level": sorted(level.value for level in purge.levels)}})
        bounds = {op: iso(moment) for op, moment in (("gte", purge.start_date), ("lte", purge.end_date))
                  if moment is not None}
        if bounds:
            filters.append({"range": {"timestamp": bounds}})
        return self._delete_found("logs", filters)

    def count_executions(self, query: CountQuery) -> list[FlowExecutions]:
        """Executions per flow that ``query`` covers, by namespace then flow id (flows with none left out)."""
        wanted: list[dict[str, Any]] = [
            {"bool": {"filter": [{"term": {"namespace": namespace}}, {"term": {"flowId": flow_id}}]}}
            for namespace, flow_id in query.flows]
        wanted += [{"term": {"namespace": namespace}} for namespace in query.namespaces]
        if not wanted:
            return []
        filters: list[dict[str, Any]] = [
            {"bool": {"should": wanted, "minimum_should_match": 1}},
            {"range": {"startDate": {"gte": iso(query.start_date), "lte": iso(query.end_date)}}}]
        if query.states is not None:
            filters.append({"terms": {"state": sorted(state.value for state in query.states)}})
        sources = [{"namespace": {"terms": {"field": "namespace"}}}, {"flowId": {"terms": {"field": "flowId"}}}]
        return [FlowExecutions(b["key"]["namespace"], b["key"]["flowId"], int(b["doc_count"]))
                for b in self._composite("executions", filters, sources, {})]

    def ended_executions(self, purge: ExecutionPurge) -> list[Execution]:
        """The executions ``purge`` covers (as indexed now)."""
        filters: list[dict[str, Any]] = [{"range": {"endDate": {"lte": iso(purge.end_date)}}}]
        if purge.start_date is not None:
            filters.append({"range": {"startDate": {"gte": iso(purge.start_date)}}})
        filters += _purged_flows(purge.namespace, purge.flow_id)
        if purge.states is not None:
            filters.append({"terms": {"state": sorted(state.value for state in purge.states)}})
        found: list[Execution] = []
        index = self.index("executions")
        try:
            self.client.indices.refresh(index=index)
            after: list[Any] | None = None
            while True:
                page = self.client.search(index=index, query={"bool": {"filter": filters}}, size=1000,
                                          sort=[{"_doc": "asc"}], search_after=after, source_includes=["body"])
                hits = page["hits"]["hits"]
                if not hits:
                    break
                after = hits[-1]["sort"]
                found += [execution for h in hits if purge.covers(execution := Execution.model_validate(
                    h["_source"]["body"]))]
        except (ApiError, TransportError) as exc:
            raise BackendError(f"searching '{index}' failed: {exc}") from exc
        return found

    def refresh(self) -> None:
        try:
            self.client.indices.refresh(index=f"{self.prefix}-*")
        except (ApiError, TransportError) as exc:
            raise BackendError(f"cannot refresh '{self.prefix}-*': {exc}") from exc

    # ----- reading -----------------------------------------------------------------------------
    def search_executions(self, query: ExecutionQuery) -> Page[Execution]:
        field = _SORT_FIELDS[query.sort]
        order = "desc" if query.descending else "asc"
        sort: list[dict[str, Any]] = [{field: {"order": order, "missing": "_last"}}]
        if query.sort is not ExecutionSort.START_DATE:
            # Ties broken by id, as on SQLite. Start dates (to the microsecond) practically never tie, and
            # a keyword as second sort key made a deep page (from 9,975) five times slower on 100,000
            # executions (benchmarks/RESULTS.md, bench_ui_queries): ES's own order breaks those ties.
            sort.append({"id": {"order": order}})
        hits, total = self._search("executions", _execution_filter(query), sort, query.paging)
        return Page(items=[Execution.model_validate(h["body"]) for h in hits], total=total,
                    page=query.paging.page, size=query.paging.size)

    def count_by_state(self, query: ExecutionQuery) -> dict[StateType, int]:
        return _state_counts(self._aggregate("executions", _execution_filter(query), _STATES))

    def histogram(self, query: ExecutionQuery, interval: Interval) -> list[HistogramBucket]:
        aggs = {"intervals": {
            "date_histogram": {"field": "startDate", "calendar_interval": _CALENDAR_INTERVALS[interval],
                               "min_doc_count": 1},
            "aggs": {**_STATES, "duration": {"stats": {"field": "duration"}}}}}
        result = self._aggregate("executions", _execution_filter(query), aggs)
        return [_bucket(b) for b in result["intervals"]["buckets"]]

    def count_by_flow(self, query: ExecutionQuery) -> list[FlowCount]:
        sources = [{"namespace": {"terms": {"field": "namespace"}}}, {"flowId": {"terms": {"field": "flowId"}}}]
        return [FlowCount(namespace=b["key"]["namespace"], flow_id=b["key"]["flowId"], counts=_state_counts(b))
                for b in self._composite("executions", _execution_filter(query), sources, _STATES)]

    def search_logs(self, query: LogQuery) -> Page[LogEntry]:
        filters: list[dict[str, Any]] = []
        if query.execution_id is not None:
            filters.append({"term": {"executionId": query.execution_id}})
        if query.taskrun_id is not None:
            filters.append({"term": {"taskRunId": query.taskrun_id}})
        if query.namespace is not None:
            filters.append(_namespace_filter(query.namespace))
        if query.flow_id is not None:
            filters.append({"term": {"flowId": query.flow_id}})
        if query.min_level is not None:
            filters.append({"terms": {"level": levels_at_least(query.min_level)}})
        filters += _range("timestamp", query.start_date, query.end_date)
        filters += _text_filter(query.text)
        sort = [{"timestamp": {"order": "asc"}}, {"seq": {"order": "asc"}}]
        hits, total = self._search("logs", filters, sort, query.paging)
        return Page(items=[LogEntry.model_validate(h["body"]) for h in hits], total=total,
                    page=query.paging.page, size=query.paging.size)

    def search_flows(self, query: FlowQuery) -> Page[FlowRecord]:
        filters: list[dict[str, Any]] = [{"term": {"deleted": False}}]
        if query.namespace is not None:
            filters.append(_namespace_filter(query.namespace))
        filters += _text_filter(query.text)
        sort = [{"namespace": {"order": "asc"}}, {"id": {"order": "asc"}}]
        hits, total = self._search("flows", filters, sort, query.paging)
        return Page(items=[FlowRecord.model_validate(h["body"]) for h in hits], total=total,
                    page=query.paging.page, size=query.paging.size)

    def search_triggers(self, query: TriggerQuery) -> Page[TriggerRecord]:
        filters: list[dict[str, Any]] = []
        if query.namespace is not None:
            filters.append(_namespace_filter(query.namespace))
        if query.flow_id is not None:
            filters.append({"term": {"flowId": query.flow_id}})
        sort = [{"namespace": {"order": "asc"}}, {"flowId": {"order": "asc"}}, {"triggerId": {"order": "asc"}}]
        hits, total = self._search("triggers", filters, sort, query.paging)
        return Page(items=[TriggerRecord.model_validate(h["body"]) for h in hits], total=total,
                    page=query.paging.page, size=query.paging.size)

    def flow_namespaces(self, text: str | None = None) -> list[str]:
        filters: list[dict[str, Any]] = [{"term": {"deleted": False}}]
        if text:
            filters.append({"wildcard": {"namespace": {"value": f"*{_wildcard_literal(text)}*"}}})
        sources = [{"namespace": {"terms": {"field": "namespace"}}}]
        return [b["key"]["namespace"] for b in self._composite("flows", filters, sources)]

    def latest_executions(self, namespace: str | None = None,
                          flows: Sequence[tuple[str, str]] = ()) -> list[Execution]:
        filters: list[dict[str, Any]] = []
        if namespace is not None:
            filters.append(_namespace_filter(namespace))
        if flows:
            filters.append({"bool": {"should": [
                {"bool": {"filter": [{"term": {"namespace": ns}}, {"term": {"flowId": flow_id}}]}}
                for ns, flow_id in flows], "minimum_should_match": 1}})
        sources = [{"namespace": {"terms": {"field": "namespace"}}}, {"flowId": {"terms": {"field": "flowId"}}}]
        latest = {"latest": {"top_hits": {
            "size": 1, "_source": {"includes": ["body"]},
            "sort": [{"startDate": {"order": "desc", "missing": "_last"}}, {"id": {"order": "desc"}}]}}}
        return [Execution.model_validate(b["latest"]["hits"]["hits"][0]["_source"]["body"])
                for b in self._composite("executions", filters, sources, latest)]

    def _composite(self, kind: str, filters: list[dict[str, Any]], sources: list[dict[str, Any]],
                   aggs: dict[str, Any] | None = None) -> Iterator[Mapping[str, Any]]:
        """Every bucket of a composite aggregation, in key order, a page of buckets per request."""
        after: Mapping[str, Any] | None = None
        while True:
            composite: dict[str, Any] = {"sources": sources, "size": _COMPOSITE_PAGE}
            if after is not None:
                composite["after"] = after
            group: dict[str, Any] = {"composite": composite, **({"aggs": aggs} if aggs else {})}
            result = self._aggregate(kind, filters, {"groups": group})["groups"]
            yield from result["buckets"]
            after = result.get("after_key")
            if after is None or len(result["buckets"]) < _COMPOSITE_PAGE:
                return

    def _search(self, kind: str, filters: list[dict[str, Any]], sort: list[dict[str, Any]],
                paging: Paging) -> tuple[list[Mapping[str, Any]], int]:
        try:
            response = self.client.search(index=self.index(kind), query={"bool": {"filter": filters}}, sort=sort,
                                          from_=paging.offset, size=paging.size, track_total_hits=True,
                                          source_includes=["body"])
        except (ApiError, TransportError) as exc:
            raise BackendError(f"searching '{self.index(kind)}' failed: {exc}") from exc
        hits = response["hits"]
        return [h["_source"] for h in hits["hits"]], int(hits["total"]["value"])

    def _aggregate(self, kind: str, filters: list[dict[str, Any]], aggs: dict[str, Any]) -> Mapping[str, Any]:
        try:
            response = self.client.search(index=self.index(kind), query={"bool": {"filter": filters}}, size=0,
                                          aggs=aggs)
        except (ApiError, TransportError) as exc:
            raise BackendError(f"aggregating '{self.index(kind)}' failed: {exc}") from exc
        aggregations: Mapping[str, Any] = response["aggregations"]
        return aggregations

    def close(self) -> None:
        self.client.close()


# ----- documents ---------------------------------------------------------------------------------
def _source(fields: dict[str, Any], body: bytes) -> bytes:
    """The document as the bulk request sends it, ``body`` being the model's own JSON.

    The body is most of the bytes: serialized by pydantic straight to JSON, it skips the dict of
    ``model_dump`` and the standard library's encoder, which were most of the indexer's work.
    """
    return json.dumps(fields, separators=(",", ":")).encode()[:-1] + b',"body":' + body + b"}"


def execution_document(execution: Execution) -> bytes:
    start, end = start_date(execution), end_date(execution)
    return _source({
        "id": execution.id, "namespace": execution.namespace, "flowId": execution.flow_id,
        "flowRevision": execution.flow_revision, "state": execution.state.current.value,
        "startDate": iso(start) if start else None, "endDate": iso(end) if end else None,
        "duration": duration_seconds(execution),
        "labels": [{"key": k, "value": v} for k, v in execution.labels.items()],
        "originalId": execution.original_id,
        "parentId": execution.parent.execution_id if execution.parent else None,
        "triggeredBy": execution.triggered_by.value, "triggerExecutionId": execution.trigger_execution_id,
        "text": execution_text(execution),
    }, execution.model_dump_json().encode())


def log_document(entry: LogEntry, seq: int) -> bytes:
    return _source({"executionId": entry.execution_id, "taskRunId": entry.taskrun_id, "taskId": entry.task_id,
                    "namespace": entry.namespace, "flowId": entry.flow_id, "level": entry.level.value,
                    "timestamp": iso(entry.timestamp), "seq": seq, "text": " ".join(words(entry.message))},
                   entry.model_dump_json().encode())


def flow_document(flow: FlowRecord) -> bytes:
    return _source({"namespace": flow.namespace, "id": flow.id, "revision": flow.revision, "deleted": flow.deleted,
                    "text": " ".join(words(f"{flow.namespace} {flow.id} {flow.source}"))},
                   flow.model_dump_json().encode())


def trigger_document(trigger: TriggerRecord) -> bytes:
    return _source({"namespace": trigger.namespace, "flowId": trigger.flow_id, "triggerId": trigger.trigger_id,
                    "executionId": trigger.execution_id, "date": iso(trigger.date) if trigger.date else None,
                    "nextExecutionDate": iso(trigger.next_execution_date) if trigger.next_execution_date else None,
                    "disabled": trigger.disabled}, trigger.model_dump_json().encode())


# ----- aggregations ------------------------------------------------------------------------------
_STATES = {"states": {"terms": {"field": "state", "size": len(StateType)}}}
_CALENDAR_INTERVALS = {Interval.MINUTE: "1m", Interval.HOUR: "1h", Interval.DAY: "1d", Interval.WEEK: "1w",
                       Interval.MONTH: "1M"}


def _state_counts(aggregations: Mapping[str, Any]) -> dict[StateType, int]:
    """The ``states`` terms aggregation below ``aggregations`` as counts per state."""
    return {StateType(b["key"]): int(b["doc_count"]) for b in aggregations["states"]["buckets"]}


def _bucket(bucket: Mapping[str, Any]) -> HistogramBucket:
    duration = bucket["duration"]
    return HistogramBucket(start=datetime.fromtimestamp(bucket["key"] / 1000, UTC), counts=_state_counts(bucket),
                           ended=int(duration["count"]), duration_min=duration["min"], duration_max=duration["max"],
                           duration_sum=float(duration["sum"] or 0.0))


# ----- queries -----------------------------------------------------------------------------------
def _purged_flows(namespace: str | None, flow_id: str | None) -> list[dict[str, Any]]:
    """A purge's flows: one flow of a namespace, or without a flow id a namespace and its children."""
    filters: list[dict[str, Any]] = []
    if namespace is not None:
        filters.append(_namespace_filter(namespace) if flow_id is None else {"term": {"namespace": namespace}})
    if flow_id is not None:
        filters.append({"term": {"flowId": flow_id}})
    return filters


def _namespace_filter(namespace: str) -> dict[str, Any]:
    return {"bool": {"should": [{"term": {"namespace": namespace}}, {"prefix": {"namespace": namespace + "."}}],
                     "minimum_should_match": 1}}


def _wildcard_literal(text: str) -> str:
    """``text`` matched as itself inside a wildcard pattern."""
    return "".join(f"\\{c}" if c in "\\*?" else c for c in text)


def _text_filter(text: str | None) -> list[dict[str, Any]]:
    found = words(text or "")
    return [{"match": {"text": {"query": " ".join(found), "operator": "and"}}}] if found else []


def _execution_filter(query: ExecutionQuery) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = []
    if query.namespace is not None:
        filters.append({"term": {"namespace": query.namespace}} if query.exact_namespace
                       else _namespace_filter(query.namespace))
    if query.flow_id is not None:
        filters.append({"term": {"flowId": query.flow_id}})
    if query.states:
        filters.append({"terms": {"state": [s.value for s in query.states]}})
    for key, value in query.labels.items():
        filters.append({"nested": {"path": "labels", "query": {"bool": {"filter": [
            {"term": {"labels.key": key}}, {"term": {"labels.value": value}}]}}}})
    if query.triggered_by:
        filters.append({"terms": {"triggeredBy": [t.value for t in query.triggered_by]}})
    if query.trigger_execution_id is not None:
        filters.append({"term": {"triggerExecutionId": query.trigger_execution_id}})
    if query.child is not None:
        started_by_one = {"exists": {"field": "triggerExecutionId"}}
        filters.append(started_by_one if query.child else {"bool": {"must_not": [started_by_one]}})
    filters += _range("startDate", query.start_date, query.end_date)
    filters += _text_filter(query.text)
    return filters


def _range(name: str, start: datetime | None, end: datetime | None) -> list[dict[str, Any]]:
    """``start <= name < end``, either bound optional; no filter without a bound."""
    bounds = {op: iso(moment) for op, moment in (("gte", start), ("lt", end)) if moment is not None}
    return [{"range": {name: bounds}}] if bounds else []


def _error_items(errors: object) -> list[dict[str, Any]]:
    """The failed items of ``helpers.bulk``: ``[{"index": {...status, error...}}, ...]``."""
    found: list[dict[str, Any]] = []
    for item in errors if isinstance(errors, list) else []:
        for detail in item.values():
            if isinstance(detail, dict):
                found.append(detail)
    return found
