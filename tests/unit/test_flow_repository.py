"""Flow revisions and deletions as Kestra has them: the catalog, and the embedded flows stored in SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kestra_stream.embedded import FlowCatalog, FlowNotFoundError
from kestra_stream.embedded._flows import EmbeddedFlows
from kestra_stream.embedded._store import Store
from kestra_stream.errors import FlowValidationError
from kestra_stream.flows import load_flow
from kestra_stream.models.flow import Flow


def _source(message: str = "hi", flow_id: str = "f", namespace: str = "unit.repo") -> str:
    return (f"id: {flow_id}\nnamespace: {namespace}\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n"
            f"    message: {message}\n")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "flows.db")
    yield store
    store.close()


@pytest.fixture
def flows(store: Store) -> EmbeddedFlows:
    return EmbeddedFlows(store, FlowCatalog(), registry=None, global_defaults=())


def test_catalog_hides_a_deleted_flow_but_keeps_its_earlier_revisions() -> None:
    catalog = FlowCatalog()
    first = load_flow(_source()).model_copy(update={"revision": 1})
    catalog.add(first, 1)
    catalog.add(first.model_copy(update={"revision": 2, "deleted": True}), 2)
    with pytest.raises(FlowNotFoundError, match="was deleted"):
        catalog.get("unit.repo", "f")
    with pytest.raises(FlowNotFoundError, match="was deleted"):
        catalog.get("unit.repo", "f", 2)
    assert catalog.get("unit.repo", "f", 1)[1] == 1
    assert catalog.all_latest() == []
    assert [f.revision for f in catalog.all_latest(include_deleted=True)] == [2]
    assert catalog.latest_revision("unit.repo", "f") == 2
    assert [f.deleted for f in catalog.revisions("unit.repo", "f")] == [False, True]


def test_deploy_numbers_revisions_and_an_unchanged_source_is_the_same_revision(flows: EmbeddedFlows) -> None:
    assert flows.deploy(_source("a")).revision == 1
    assert flows.deploy(_source("a")).revision == 1
    assert flows.deploy(_source("b")).revision == 2
    assert [f.revision for f in flows.revisions("unit.repo", "f")] == [1, 2]
    assert flows.get("unit.repo", "f", 1)[0].source == _source("a")


def test_delete_is_a_revision_and_deploying_again_continues_the_numbers(flows: EmbeddedFlows) -> None:
    flows.deploy(_source("a"))
    deleted = flows.delete("unit.repo", "f")
    assert (deleted.revision, deleted.deleted, deleted.source) == (2, True, _source("a"))
    with pytest.raises(FlowNotFoundError):
        flows.get("unit.repo", "f")
    assert flows.all_latest() == []
    assert flows.get("unit.repo", "f", 1)[0].source == _source("a")
    # The same source again is a new revision: the flow was deleted.
    again = flows.deploy(_source("a"))
    assert (again.revision, again.deleted) == (3, False)
    assert flows.get("unit.repo", "f")[1] == 3


def test_deleting_a_flow_that_is_not_live_is_not_found(flows: EmbeddedFlows) -> None:
    with pytest.raises(FlowNotFoundError, match="does not exist"):
        flows.delete("unit.repo", "nothing")
    flows.deploy(_source())
    flows.delete("unit.repo", "f")
    with pytest.raises(FlowNotFoundError, match="was deleted"):
        flows.delete("unit.repo", "f")


def test_deletions_survive_a_restart(tmp_path: Path, flows: EmbeddedFlows) -> None:
    flows.deploy(_source("a"))
    flows.deploy(_source("a", flow_id="kept"))
    flows.delete("unit.repo", "f")
    reopened = Store(tmp_path / "flows.db")
    restarted = EmbeddedFlows(reopened, FlowCatalog(), registry=None, global_defaults=())
    restarted.load()
    assert [f.id for f in restarted.all_latest()] == ["kept"]
    assert [(f.revision, f.deleted) for f in restarted.revisions("unit.repo", "f")] == [(1, False), (2, True)]
    assert restarted.deploy(_source("a")).revision == 3
    reopened.close()


def test_listeners_hear_deploys_and_deletions_once_stored(flows: EmbeddedFlows) -> None:
    heard: list[tuple[str, int | None, bool]] = []

    def listener(flow: Flow) -> None:
        heard.append((flow.id, flow.revision, flow.deleted))

    flows.subscribe(listener)
    flows.deploy(_source("a"))
    flows.deploy(_source("a"))  # unchanged: nothing stored, nothing heard
    flows.delete("unit.repo", "f")
    assert heard == [("f", 1, False), ("f", 2, True)]


def test_parse_validates_like_deploy_without_storing(flows: EmbeddedFlows) -> None:
    assert flows.parse(_source()).id == "f"
    assert flows.revisions("unit.repo", "f") == []
    with pytest.raises(FlowValidationError) as caught:
        flows.parse("id: f\nnamespace: unit.repo\ntasks:\n  - id: t\n    type: no.such.Task\n")
    assert caught.value.problems[0].line == 5
