"""The topology of a flow in Kestra's FlowGraph shape: what the UI lays out and draws.

    {nodes, edges, clusters}

``nodes`` are tasks, triggers and the start and end of every cluster; ``edges`` join them, each
with the relation it stands for; ``clusters`` group the nodes of a flowable task (its own start,
the flowable's node, its children, errors and finally, its end), of the triggers, and of the
flow's ``finally`` and ``afterExecution`` lists. The flow itself is the implicit root cluster:
its start and end are ``root._start`` and ``root._end``.

Uids are dotted paths (``root.each.item``), stable while the flow keeps its task ids, so a layout
survives an edit. A cluster's uid is ``cluster_`` and its path; its start and end add ``._start``
and ``._end`` (task ids cannot begin with ``_``).

What shape a flowable's children take is read from the flowable itself: named lists other than
``tasks`` (If's then / else, Switch's cases) are choices; a single ``tasks`` list is laid out as the
flowable's pure ``resolve`` asks the executor to run it (in sequence, in parallel, per value or as
a DAG), learnt by calling it with a context that only records the request. A flowable whose
``resolve`` cannot run without an execution is drawn as a sequence.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from kestra_stream.executor.flowables import WAIT, Resolution
from kestra_stream.models.execution import Execution, TaskRun
from kestra_stream.models.flow import Flow
from kestra_stream.models.state import StateType
from kestra_stream.models.task import FlowableTask, SubflowTask, Task, Trigger

_HIERARCHIES = "io.kestra.core.models.hierarchies"
GRAPH_TASK = f"{_HIERARCHIES}.GraphTask"
SUBFLOW_TASK = f"{_HIERARCHIES}.SubflowGraphTask"
GRAPH_TRIGGER = f"{_HIERARCHIES}.GraphTrigger"
CLUSTER = f"{_HIERARCHIES}.GraphCluster"
CLUSTER_ROOT = f"{_HIERARCHIES}.GraphClusterRoot"
CLUSTER_END = f"{_HIERARCHIES}.GraphClusterEnd"
CLUSTER_FINALLY = f"{_HIERARCHIES}.GraphClusterFinally"
CLUSTER_AFTER_EXECUTION = f"{_HIERARCHIES}.GraphClusterAfterExecution"
ROOT = "root"
TRIGGERS = "Triggers"
FINALLY = "finally"
AFTER_EXECUTION = "afterExecution"


class RelationType(StrEnum):
    SEQUENTIAL = "SEQUENTIAL"
    CHOICE = "CHOICE"
    ERROR = "ERROR"
    FINALLY = "FINALLY"
    PARALLEL = "PARALLEL"
    DYNAMIC = "DYNAMIC"


_OUT = ConfigDict(frozen=True, alias_generator=to_camel, validate_by_name=True, validate_by_alias=True,
                  serialize_by_alias=True)


class Relation(BaseModel):
    """What an edge stands for; none for the edges that only close a cluster. ``value``: the branch."""

    model_config = _OUT

    relation_type: RelationType | None = None
    value: str | None = None


class GraphNode(BaseModel):
    """A node, or a cluster's own description. ``type`` is Kestra's class name of the node's kind."""

    model_config = _OUT

    uid: str
    type: str
    error: bool = False
    relation_type: RelationType | None = None
    task: dict[str, Any] | None = None
    trigger_declaration: dict[str, Any] | None = None
    # A flowable's cluster: the node of the flowable task itself, inside the cluster.
    task_node: GraphNode | None = None
    # In an execution's graph (``execution_graph``), a task's node: its latest task run, and the state
    # that colours it, summed up over all its runs (iterations, restarts).
    task_run: dict[str, Any] | None = None
    state: StateType | None = None


class GraphEdge(BaseModel):
    model_config = _OUT

    source: str
    target: str
    relation: Relation


class GraphClusterOut(BaseModel):
    """A cluster: its description, the uids of its direct members, its ancestors (outermost first)."""

    model_config = _OUT

    cluster: GraphNode
    nodes: list[str]
    parents: list[str]
    start: str
    end: str


class FlowGraph(BaseModel):
    model_config = _OUT

    nodes: list[GraphNode]
    edges: list[GraphEdge]
    clusters: list[GraphClusterOut]


# ----- the shape a flowable asks for -------------------------------------------------------------
@dataclass
class _Shape:
    kind: RelationType = RelationType.SEQUENTIAL
    tasks: Sequence[Task] = ()
    dag: Sequence[tuple[Task, Sequence[str]]] = ()


class _Recorder:
    """A FlowableContext that runs nothing: it keeps the first shape ``resolve`` asks for."""

    def __init__(self) -> None:
        self.shape: _Shape | None = None

    def _keep(self, shape: _Shape) -> Resolution:
        if self.shape is None:
            self.shape = shape
        return WAIT

    def render(self, value: Any) -> Any:
        return value

    def render_once(self, key: str, value: Any) -> Any:
        return value

    def sequence(self, tasks: Sequence[Task]) -> Resolution:
        return self._keep(_Shape(RelationType.SEQUENTIAL, tasks))

    def parallel(self, tasks: Sequence[Task], concurrent: int = 0) -> Resolution:
        return self._keep(_Shape(RelationType.PARALLEL, tasks))

    def each(self, values: Any, tasks: Sequence[Task], *, concurrency: int = 1,
             parallel_tasks: bool = False) -> Resolution:
        return self._keep(_Shape(RelationType.PARALLEL if parallel_tasks else RelationType.DYNAMIC, tasks))

    def dag(self, nodes: Sequence[tuple[Task, Sequence[str]]], concurrent: int = 0) -> Resolution:
        return self._keep(_Shape(RelationType.PARALLEL, [task for task, _ in nodes], nodes))


def _shape(task: FlowableTask, tasks: Sequence[Task]) -> _Shape:
    recorder = _Recorder()
    try:
        task.resolve(recorder)
    except Exception:  # a resolve that needs a real execution (its outputs, its children's states)
        return _Shape(RelationType.SEQUENTIAL, tasks)
    return recorder.shape or _Shape(RelationType.SEQUENTIAL, tasks)


# ----- building ----------------------------------------------------------------------------------
@dataclass
class _Cluster:
    path: str
    parents: list[str]
    slot: int  # where its description goes in the clusters list: parents before their children
    members: list[str] = field(default_factory=list)

    @property
    def uid(self) -> str:
        return f"cluster_{self.path}"

    @property
    def start(self) -> str:
        return f"{self.path}._start"

    @property
    def end(self) -> str:
        return f"{self.path}._end"


@dataclass(frozen=True)
class _Piece:
    """A task drawn in a cluster: where edges come in, and where they leave."""

    entry: str
    exit: str


class _Builder:
    def __init__(self) -> None:
        self.nodes: list[GraphNode] = []
        self.edges: list[GraphEdge] = []
        self.clusters: list[GraphClusterOut | None] = []

    def node(self, cluster: _Cluster, node: GraphNode) -> str:
        self.nodes.append(node)
        cluster.members.append(node.uid)
        return node.uid

    def edge(self, source: str, target: str, relation: RelationType | None = None, value: str | None = None) -> None:
        self.edges.append(GraphEdge(source=source, target=target,
                                    relation=Relation(relation_type=relation, value=value)))

    def open(self, parent: _Cluster | None, name: str, *, error: bool) -> _Cluster:
        path = f"{parent.path}.{name}" if parent is not None else name
        parents = [*parent.parents, parent.uid] if parent is not None and parent.path != ROOT else []
        cluster = _Cluster(path, parents, slot=len(self.clusters) if parent is not None else -1)
        if parent is not None:
            parent.members.append(cluster.uid)
            self.clusters.append(None)
        for uid, kind in ((cluster.start, CLUSTER_ROOT), (cluster.end, CLUSTER_END)):
            self.node(cluster, GraphNode(uid=uid, type=kind, error=error))
        return cluster

    def close(self, cluster: _Cluster, description: GraphNode) -> None:
        self.clusters[cluster.slot] = GraphClusterOut(cluster=description, nodes=list(cluster.members),
                                                      parents=cluster.parents, start=cluster.start, end=cluster.end)

    # -- tasks --
    def task(self, cluster: _Cluster, task: Task, relation: RelationType, *, error: bool) -> _Piece:
        uid = f"{cluster.path}.{task.id}"
        if not isinstance(task, FlowableTask):
            kind = SUBFLOW_TASK if isinstance(task, SubflowTask) else GRAPH_TASK
            self.node(cluster, GraphNode(uid=uid, type=kind, error=error, relation_type=relation, task=_dump(task)))
            return _Piece(uid, uid)
        inner = self.open(cluster, task.id, error=error)
        task_node = GraphNode(uid=uid, type=GRAPH_TASK, error=error, relation_type=relation, task=_dump(task))
        self.node(inner, task_node)
        self.edge(inner.start, uid)
        branches = task.branches()
        if set(branches) == {"tasks"}:
            shape = _shape(task, branches["tasks"])
            own = shape.kind
            self.body(inner, uid, shape, error=error, errors=task.errors, finally_=task.finally_)
        else:
            own = RelationType.CHOICE
            choices = [(name.removeprefix("cases."), list(tasks)) for name, tasks in branches.items() if tasks]
            self.body(inner, uid, None, error=error, errors=task.errors, finally_=task.finally_, choices=choices)
        self.close(inner, GraphNode(uid=inner.uid, type=CLUSTER, error=error, relation_type=own, task_node=task_node))
        return _Piece(inner.start, inner.end)

    def body(self, cluster: _Cluster, entry: str, shape: _Shape | None, *, error: bool,
             errors: Sequence[Task] | None, finally_: Sequence[Task] | None,
             after: Sequence[Task] | None = None, choices: Sequence[tuple[str, list[Task]]] = ()) -> None:
        """The children of ``cluster`` from ``entry``, then its errors, finally and afterExecution lists."""
        exit_ = cluster.end
        if after:
            exit_ = self.closing_list(cluster, AFTER_EXECUTION, after, RelationType.SEQUENTIAL, exit_,
                                      CLUSTER_AFTER_EXECUTION, error=error)
        if finally_:
            exit_ = self.closing_list(cluster, FINALLY, finally_, RelationType.FINALLY, exit_, CLUSTER_FINALLY,
                                      error=error)
        if shape is None:
            for value, tasks in choices:
                self.chain(cluster, entry, tasks, RelationType.CHOICE, exit_, error=error, value=value)
        elif shape.dag:
            self.dag(cluster, entry, shape.dag, exit_, error=error)
        elif shape.kind == RelationType.PARALLEL:
            for task in shape.tasks:
                piece = self.task(cluster, task, RelationType.PARALLEL, error=error)
                self.edge(entry, piece.entry, RelationType.PARALLEL)
                self.edge(piece.exit, exit_)
        else:
            self.chain(cluster, entry, shape.tasks, shape.kind, exit_, error=error)
        if errors:
            self.chain(cluster, cluster.start, errors, RelationType.ERROR, exit_, error=True, all_edges=True)

    def chain(self, cluster: _Cluster, entry: str, tasks: Sequence[Task], relation: RelationType, exit_: str, *,
              error: bool, value: str | None = None, all_edges: bool = False) -> None:
        """Tasks one after another from ``entry`` to ``exit_``; the first edge says how the list is entered."""
        previous = entry
        for index, task in enumerate(tasks):
            first = index == 0
            kind = relation if first or all_edges else RelationType.SEQUENTIAL
            piece = self.task(cluster, task, relation, error=error)
            self.edge(previous, piece.entry, kind, value if first else None)
            previous = piece.exit
        self.edge(previous, exit_)

    def dag(self, cluster: _Cluster, entry: str, nodes: Sequence[tuple[Task, Sequence[str]]], exit_: str, *,
            error: bool) -> None:
        pieces = {task.id: self.task(cluster, task, RelationType.PARALLEL, error=error) for task, _ in nodes}
        needed = {dep for _, deps in nodes for dep in deps}
        for task, deps in nodes:
            for source in [pieces[d].exit for d in deps if d in pieces] or [entry]:
                self.edge(source, pieces[task.id].entry, RelationType.PARALLEL)
            if task.id not in needed:
                self.edge(pieces[task.id].exit, exit_)

    def closing_list(self, parent: _Cluster, name: str, tasks: Sequence[Task], relation: RelationType, exit_: str,
                     kind: str, *, error: bool) -> str:
        """A cluster of tasks run after the others (finally, afterExecution); its start, which they lead to."""
        cluster = self.open(parent, name, error=error)
        self.chain(cluster, cluster.start, tasks, relation, cluster.end, error=error)
        self.close(cluster, GraphNode(uid=cluster.uid, type=kind, error=error, relation_type=relation))
        self.edge(cluster.end, exit_)
        return cluster.start

    def triggers(self, root: _Cluster, triggers: Sequence[Trigger]) -> None:
        cluster = self.open(root, TRIGGERS, error=False)
        for trigger in triggers:
            uid = self.node(cluster, GraphNode(uid=f"{cluster.path}.{trigger.id}", type=GRAPH_TRIGGER,
                                               trigger_declaration=_dump(trigger)))
            self.edge(cluster.start, uid)
            self.edge(uid, cluster.end)
        self.close(cluster, GraphNode(uid=cluster.uid, type=CLUSTER))
        self.edge(cluster.end, root.start)


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def flow_graph(flow: Flow) -> FlowGraph:
    """The topology of ``flow``: triggers, then its tasks, errors, finally and afterExecution."""
    builder = _Builder()
    root = builder.open(None, ROOT, error=False)
    if flow.triggers:
        builder.triggers(root, flow.triggers)
    builder.body(root, root.start, _Shape(RelationType.SEQUENTIAL, flow.tasks), error=False, errors=flow.errors,
                 finally_=flow.finally_, after=flow.after_execution)
    return FlowGraph(nodes=builder.nodes, edges=builder.edges, clusters=[c for c in builder.clusters if c is not None])


# A task run several times (iterations, restarts) is coloured by the first of these that one of its runs is in.
_STATE_PRECEDENCE = (StateType.RUNNING, StateType.KILLING, StateType.PAUSED, StateType.RETRYING, StateType.QUEUED,
                     StateType.CREATED, StateType.RESTARTED, StateType.FAILED, StateType.KILLED, StateType.WARNING,
                     StateType.CANCELLED)


def summed_state(runs: Sequence[TaskRun]) -> StateType:
    """The state that stands for every run of one task: one still going, else the worst ending, else the last."""
    states = {run.state.current for run in runs}
    return next((state for state in _STATE_PRECEDENCE if state in states), runs[-1].state.current)


def _with_runs(node: GraphNode, runs: dict[str, list[TaskRun]]) -> GraphNode:
    task_node = _with_runs(node.task_node, runs) if node.task_node is not None else None
    mine = runs.get(str(node.task.get("id"))) if node.task is not None else None
    if not mine:
        return node.model_copy(update={"task_node": task_node})
    return node.model_copy(update={"task_node": task_node, "task_run": _dump(mine[-1]),
                                   "state": summed_state(mine)})


def execution_graph(flow: Flow, execution: Execution) -> FlowGraph:
    """The topology of ``flow`` (the revision ``execution`` ran) with each task node's runs in ``execution``."""
    runs: dict[str, list[TaskRun]] = {}
    for run in execution.task_run_list:
        runs.setdefault(run.task_id, []).append(run)
    graph = flow_graph(flow)
    return FlowGraph(nodes=[_with_runs(node, runs) for node in graph.nodes], edges=graph.edges,
                     clusters=[c.model_copy(update={"cluster": _with_runs(c.cluster, runs)}) for c in graph.clusters])
