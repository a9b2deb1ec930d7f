"""Documents the search tests index on both repositories: executions, logs, flows, triggers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kestra_stream.kafka import FlowRecord
from kestra_stream.models.execution import Execution
from kestra_stream.models.log import LogEntry
from kestra_stream.models.state import State, StateHistory, StateType
from kestra_stream.models.task import LogLevel
from kestra_stream.search import IndexBatch, IndexedLog, TriggerRecord

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def execution(id_: str, namespace: str, flow_id: str, state: StateType, *, started: datetime,
              seconds: float = 10.0, labels: dict[str, str] | None = None,
              inputs: dict[str, Any] | None = None) -> Execution:
    histories = [StateHistory(state=StateType.CREATED, date=started),
                 StateHistory(state=StateType.RUNNING, date=started + timedelta(seconds=1))]
    if state.is_terminated:
        histories.append(StateHistory(state=state, date=started + timedelta(seconds=seconds)))
    return Execution(id=id_, namespace=namespace, flow_id=flow_id, labels=labels or {}, inputs=inputs,
                     state=State(current=state, histories=tuple(histories)))


def executions() -> list[Execution]:
    """Eight executions over three days, two namespaces with a child, four states."""
    return [
        execution("ex1", "company.team", "etl", StateType.SUCCESS, started=T0, seconds=5,
                  labels={"env": "prod", "owner": "ana"}, inputs={"region": "eu-west", "size": 3}),
        execution("ex2", "company.team", "etl", StateType.FAILED, started=T0 + timedelta(hours=1), seconds=50,
                  labels={"env": "dev"}, inputs={"region": "us-east"}),
        execution("ex3", "company.team.sub", "report", StateType.SUCCESS, started=T0 + timedelta(days=1),
                  seconds=20, labels={"env": "prod"}),
        execution("ex4", "company.team.sub", "report", StateType.RUNNING, started=T0 + timedelta(days=1, hours=2)),
        execution("ex5", "company.teamwork", "etl", StateType.SUCCESS, started=T0 + timedelta(days=2), seconds=1,
                  labels={"env": "prod"}),
        execution("ex6", "other", "ingest", StateType.KILLED, started=T0 + timedelta(days=2, hours=1),
                  seconds=100, inputs={"file": "s3://bucket/orders_2026.csv"}),
        execution("ex7", "other", "ingest", StateType.SUCCESS, started=T0 + timedelta(days=2, hours=3), seconds=2),
        execution("ex8", "company", "cleanup", StateType.FAILED, started=T0 + timedelta(days=2, hours=4),
                  seconds=7, labels={"owner": "ana"}),
    ]


def logs() -> list[IndexedLog]:
    lines = [("ex1", "tr1", LogLevel.DEBUG, "connecting to the warehouse"),
             ("ex1", "tr1", LogLevel.INFO, "loaded 42 rows into orders"),
             ("ex1", "tr2", LogLevel.WARN, "slow query on orders table"),
             ("ex1", "tr2", LogLevel.ERROR, "connection reset by peer"),
             ("ex2", "tr3", LogLevel.INFO, "loaded 7 rows into orders")]
    return [IndexedLog(entry=LogEntry(execution_id=ex, namespace="company.team", flow_id="etl", task_id="t",
                                      taskrun_id=tr, level=level, message=message,
                                      timestamp=T0 + timedelta(seconds=i // 2)), id=f"log{i}", seq=i)
            for i, (ex, tr, level, message) in enumerate(lines)]


def flows() -> list[FlowRecord]:
    def source(ns: str, id_: str, task: str) -> str:
        return f"id: {id_}\nnamespace: {ns}\ntasks:\n  - id: {task}\n    type: io.kestra.plugin.core.log.Log\n"
    return [FlowRecord(namespace="company.team", id="etl", revision=1, source=source("company.team", "etl", "old")),
            FlowRecord(namespace="company.team", id="etl", revision=2, source=source("company.team", "etl", "extract")),
            FlowRecord(namespace="company.team.sub", id="report", revision=1,
                       source=source("company.team.sub", "report", "render")),
            FlowRecord(namespace="other", id="ingest", revision=3, source=source("other", "ingest", "extract")),
            FlowRecord(namespace="other", id="gone", revision=1, source=source("other", "gone", "x"), deleted=True)]


def triggers() -> list[TriggerRecord]:
    return [TriggerRecord(namespace="company.team", flow_id="etl", trigger_id="daily", version=1,
                          next_execution_date=T0),
            TriggerRecord(namespace="company.team", flow_id="etl", trigger_id="hourly", version=2, disabled=True),
            TriggerRecord(namespace="company.team.sub", flow_id="report", trigger_id="weekly", version=1),
            TriggerRecord(namespace="other", flow_id="ingest", trigger_id="files", version=5)]


def full_batch() -> IndexBatch:
    return IndexBatch(executions=[(e, 1) for e in executions()], logs=logs(), flows=flows(), triggers=triggers())
