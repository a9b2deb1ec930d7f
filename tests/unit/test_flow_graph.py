"""The topology of a flow (``flow_graph``): clusters per flowable, relations per edge, Kestra's shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kestra_stream.flows import load_flow
from kestra_stream.flows._graph import (
    CLUSTER_END,
    CLUSTER_FINALLY,
    CLUSTER_ROOT,
    GRAPH_TASK,
    GRAPH_TRIGGER,
    SUBFLOW_TASK,
    FlowGraph,
    RelationType,
    flow_graph,
)

LOG = "io.kestra.plugin.core.log.Log"
VALID = Path(__file__).parents[1] / "flows" / "valid"


def _graph(tasks: str, extra: str = "") -> FlowGraph:
    return flow_graph(load_flow(f"id: g\nnamespace: company.team\ntasks:\n{tasks}{extra}"))


def _log(task_id: str, indent: int = 2) -> str:
    pad = " " * indent
    return f"{pad}- id: {task_id}\n{pad}  type: {LOG}\n{pad}  message: hi\n"


def _edges(graph: FlowGraph) -> set[tuple[str, str, str | None, str | None]]:
    return {(e.source, e.target, e.relation.relation_type, e.relation.value) for e in graph.edges}


def _reachable(graph: FlowGraph, start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        here = todo.pop()
        for edge in graph.edges:
            if edge.source == here and edge.target not in seen:
                seen.add(edge.target)
                todo.append(edge.target)
    return seen


def test_a_sequence_runs_from_the_root_start_to_its_end() -> None:
    graph = _graph(_log("a") + _log("b"))
    assert [n.uid for n in graph.nodes] == ["root._start", "root._end", "root.a", "root.b"]
    assert [n.type for n in graph.nodes] == [CLUSTER_ROOT, CLUSTER_END, GRAPH_TASK, GRAPH_TASK]
    assert _edges(graph) == {("root._start", "root.a", RelationType.SEQUENTIAL, None),
                             ("root.a", "root.b", RelationType.SEQUENTIAL, None),
                             ("root.b", "root._end", None, None)}
    assert graph.clusters == []
    task = graph.nodes[2].task
    assert task is not None and {k: task[k] for k in ("id", "type", "message")} == {"id": "a", "type": LOG,
                                                                                     "message": "hi"}


def test_parallel_is_a_cluster_whose_children_fan_out_from_the_flowable_node() -> None:
    graph = _graph(f"  - id: par\n    type: io.kestra.plugin.core.flow.Parallel\n    tasks:\n"
                   f"{_log('x', 6)}{_log('y', 6)}" + _log("after"))
    [cluster] = graph.clusters
    assert cluster.cluster.uid == "cluster_root.par" and cluster.cluster.relation_type == RelationType.PARALLEL
    assert cluster.cluster.task_node is not None and cluster.cluster.task_node.uid == "root.par"
    assert (cluster.start, cluster.end, cluster.parents) == ("root.par._start", "root.par._end", [])
    assert cluster.nodes == ["root.par._start", "root.par._end", "root.par", "root.par.x", "root.par.y"]
    assert {("root.par", "root.par.x", RelationType.PARALLEL, None), ("root.par", "root.par.y", RelationType.PARALLEL,
            None), ("root.par.x", "root.par._end", None, None), ("root.par.y", "root.par._end", None, None),
            ("root._start", "root.par._start", RelationType.SEQUENTIAL, None), ("root.par._start", "root.par", None,
            None), ("root.par._end", "root.after", RelationType.SEQUENTIAL, None)} <= _edges(graph)


def test_foreach_is_a_dynamic_cluster_of_its_sequence() -> None:
    graph = _graph("  - id: each\n    type: io.kestra.plugin.core.flow.ForEach\n    values: [a, b]\n    tasks:\n"
                   + _log("one", 6) + _log("two", 6))
    [cluster] = graph.clusters
    assert cluster.cluster.relation_type == RelationType.DYNAMIC
    assert {("root.each", "root.each.one", RelationType.DYNAMIC, None),
            ("root.each.one", "root.each.two", RelationType.SEQUENTIAL, None),
            ("root.each.two", "root.each._end", None, None)} <= _edges(graph)


def test_if_then_and_else_are_choices_named_after_their_branch() -> None:
    graph = _graph("  - id: check\n    type: io.kestra.plugin.core.flow.If\n    condition: \"{{ true }}\"\n"
                   "    then:\n" + _log("yes", 6) + _log("yes2", 6) + "    else:\n" + _log("no", 6))
    [cluster] = graph.clusters
    assert cluster.cluster.relation_type == RelationType.CHOICE
    assert {("root.check", "root.check.yes", RelationType.CHOICE, "then"),
            ("root.check.yes", "root.check.yes2", RelationType.SEQUENTIAL, None),
            ("root.check", "root.check.no", RelationType.CHOICE, "else"),
            ("root.check.yes2", "root.check._end", None, None),
            ("root.check.no", "root.check._end", None, None)} <= _edges(graph)


def test_if_without_else_has_a_single_choice() -> None:
    graph = _graph("  - id: check\n    type: io.kestra.plugin.core.flow.If\n    condition: \"{{ true }}\"\n"
                   "    then:\n" + _log("yes", 6))
    choices = [e for e in graph.edges if e.relation.relation_type == RelationType.CHOICE]
    assert [(e.target, e.relation.value) for e in choices] == [("root.check.yes", "then")]


def test_switch_cases_and_defaults_are_choices_by_case_value() -> None:
    graph = _graph("  - id: route\n    type: io.kestra.plugin.core.flow.Switch\n    value: A\n    cases:\n"
                   "      A:\n" + _log("on_a", 8) + "      B:\n" + _log("on_b", 8) + "    defaults:\n"
                   + _log("other", 6))
    choices = {(e.target, e.relation.value) for e in graph.edges if e.relation.relation_type == RelationType.CHOICE}
    assert choices == {("root.route.on_a", "A"), ("root.route.on_b", "B"), ("root.route.other", "defaults")}


def test_a_dag_joins_each_task_to_what_it_depends_on() -> None:
    def node(task_id: str, depends: str = "") -> str:
        return (f"      - task:\n          id: {task_id}\n          type: {LOG}\n          message: m\n"
                + (f"        dependsOn: [{depends}]\n" if depends else ""))

    graph = _graph("  - id: dag\n    type: io.kestra.plugin.core.flow.Dag\n    tasks:\n"
                   + node("e") + node("t", "e") + node("s"))
    edges = _edges(graph)
    assert ("root.dag", "root.dag.e", RelationType.PARALLEL, None) in edges
    assert ("root.dag", "root.dag.s", RelationType.PARALLEL, None) in edges
    assert ("root.dag.e", "root.dag.t", RelationType.PARALLEL, None) in edges
    assert ("root.dag", "root.dag.t", RelationType.PARALLEL, None) not in edges
    assert ("root.dag.e", "root.dag._end", None, None) not in edges
    assert {("root.dag.t", "root.dag._end", None, None), ("root.dag.s", "root.dag._end", None, None)} <= edges


def test_the_flow_errors_branch_leaves_the_start_and_is_marked_as_errors() -> None:
    graph = _graph(_log("a"), "errors:\n" + _log("alert") + _log("page"))
    assert {("root._start", "root.alert", RelationType.ERROR, None),
            ("root.alert", "root.page", RelationType.ERROR, None),
            ("root.page", "root._end", None, None)} <= _edges(graph)
    errors = {n.uid for n in graph.nodes if n.error}
    assert errors == {"root.alert", "root.page"}


def test_finally_is_a_cluster_both_the_tasks_and_the_errors_lead_to() -> None:
    graph = _graph(_log("a"), "errors:\n" + _log("alert") + "finally:\n" + _log("cleanup"))
    [cluster] = graph.clusters
    assert cluster.cluster.type == CLUSTER_FINALLY and cluster.cluster.relation_type == RelationType.FINALLY
    assert {("root.a", "root.finally._start", None, None), ("root.alert", "root.finally._start", None, None),
            ("root.finally._start", "root.finally.cleanup", RelationType.FINALLY, None),
            ("root.finally.cleanup", "root.finally._end", None, None),
            ("root.finally._end", "root._end", None, None)} <= _edges(graph)


def test_errors_and_finally_of_a_flowable_stay_inside_its_cluster() -> None:
    graph = _graph("  - id: seq\n    type: io.kestra.plugin.core.flow.Sequential\n    tasks:\n" + _log("in", 6)
                   + "    errors:\n" + _log("oops", 6) + "    finally:\n" + _log("tidy", 6))
    edges = _edges(graph)
    assert ("root.seq._start", "root.seq.oops", RelationType.ERROR, None) in edges
    assert ("root.seq.in", "root.seq.finally._start", None, None) in edges
    assert ("root.seq.finally._end", "root.seq._end", None, None) in edges
    finally_cluster = next(c for c in graph.clusters if c.cluster.uid == "cluster_root.seq.finally")
    assert finally_cluster.parents == ["cluster_root.seq"]


def test_nested_flowables_are_clusters_inside_clusters_listed_parents_first() -> None:
    graph = _graph("  - id: outer\n    type: io.kestra.plugin.core.flow.Parallel\n    tasks:\n"
                   "      - id: inner\n        type: io.kestra.plugin.core.flow.ForEach\n        values: [1]\n"
                   "        tasks:\n" + _log("deep", 10) + _log("side", 6))
    assert [(c.cluster.uid, c.parents) for c in graph.clusters] == [
        ("cluster_root.outer", []), ("cluster_root.outer.inner", ["cluster_root.outer"])]
    outer = graph.clusters[0]
    assert "cluster_root.outer.inner" in outer.nodes and "root.outer.inner.deep" not in outer.nodes
    assert ("root.outer", "root.outer.inner._start", RelationType.PARALLEL, None) in _edges(graph)
    assert ("root.outer.inner._end", "root.outer._end", None, None) in _edges(graph)


def test_triggers_are_nodes_of_their_own_cluster_leading_to_the_start() -> None:
    graph = _graph(_log("a"), "triggers:\n  - id: daily\n    type: io.kestra.plugin.core.trigger.Schedule\n"
                              "    cron: '0 9 * * *'\n  - id: hook\n    type: io.kestra.plugin.core.trigger.Webhook\n"
                              "    key: abc\n")
    [cluster] = graph.clusters
    assert cluster.cluster.uid == "cluster_root.Triggers"
    triggers = [n for n in graph.nodes if n.type == GRAPH_TRIGGER]
    assert [n.uid for n in triggers] == ["root.Triggers.daily", "root.Triggers.hook"]
    assert triggers[0].trigger_declaration is not None and triggers[0].trigger_declaration["cron"] == "0 9 * * *"
    assert {("root.Triggers._start", "root.Triggers.daily", None, None),
            ("root.Triggers.daily", "root.Triggers._end", None, None),
            ("root.Triggers._end", "root._start", None, None)} <= _edges(graph)


def test_a_subflow_is_a_subflow_node() -> None:
    graph = _graph("  - id: call\n    type: io.kestra.plugin.core.flow.Subflow\n    namespace: a.b\n    flowId: c\n")
    assert next(n for n in graph.nodes if n.uid == "root.call").type == SUBFLOW_TASK


def test_the_answer_is_kestras_json_shape() -> None:
    graph = _graph(_log("a"))
    dumped = graph.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert set(dumped) == {"nodes", "edges", "clusters"}
    assert dumped["edges"][0] == {"source": "root._start", "target": "root.a",
                                  "relation": {"relationType": "SEQUENTIAL"}}
    assert dumped["nodes"][2]["relationType"] == "SEQUENTIAL" and "task" in dumped["nodes"][2]


def _valid_flows() -> Iterator[Path]:
    return iter(sorted(VALID.glob("*.yaml")))


@pytest.mark.parametrize("path", list(_valid_flows()), ids=lambda p: p.stem)
def test_every_task_of_every_valid_flow_is_drawn_once_and_reaches_the_end(path: Path) -> None:
    flow = load_flow(path.read_text(), file=str(path))
    graph = flow_graph(flow)
    uids = [n.uid for n in graph.nodes]
    assert len(uids) == len(set(uids))
    drawn = {u.rsplit(".", 1)[-1] for u in uids}
    assert {t.id for t in flow.all_tasks()} <= drawn
    known = set(uids)
    assert all(e.source in known and e.target in known for e in graph.edges)
    start = "root.Triggers._start" if flow.triggers else "root._start"
    reachable = _reachable(graph, start)
    assert "root._end" in reachable
    assert known <= reachable | {"root.Triggers._start"}
