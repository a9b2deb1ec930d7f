"""The KV store endpoints (Kestra's KVController paths and payloads), on both backends."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from kestra_stream.api._kv import parse_kv_value
from kestra_stream.kv import KVStore, KVType
from tests.api.conftest import ApiHarness


def _namespace() -> str:
    # Both backends' storage outlives a test on Kafka (one stack per module): keys never collide.
    return f"api.kv.t{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize(("body", "kv_type", "value"), [
    ('"hello"', "STRING", "hello"),
    ("hello world", "STRING", "hello world"),
    ("42", "NUMBER", 42),
    ("3.5", "NUMBER", 3.5),
    ("true", "BOOLEAN", True),
    ('{"a": [1, 2]}', "JSON", {"a": [1, 2]}),
    ("[1, 2]", "JSON", [1, 2]),
    ("2024-05-01T10:00:00Z", "DATETIME", "2024-05-01T10:00:00Z"),
    ("2024-05-01", "DATE", "2024-05-01"),
    ("PT5M", "DURATION", "PT5M"),
])
async def test_a_value_put_is_read_back_with_its_type(api: ApiHarness, body: str, kv_type: str,
                                                      value: object) -> None:
    namespace = _namespace()
    put = await api.client.put(f"/api/v1/namespaces/{namespace}/kv/my-key", data=body,
                               headers={"Content-Type": "application/json"})
    assert put.status == 200, await put.text()
    assert (await put.json())["key"] == "my-key"
    answer = await api.client.get(f"/api/v1/main/namespaces/{namespace}/kv/my-key")
    assert answer.status == 200
    assert await answer.json() == {"type": kv_type, "value": value}


async def test_the_value_is_the_one_tasks_read_from_the_namespace_store(api: ApiHarness) -> None:
    namespace = _namespace()
    await api.client.put(f"/api/v1/namespaces/{namespace}/kv/counter", data="7")
    entry = await KVStore(api.storage, namespace).get("counter")
    assert entry is not None and entry.type == KVType.NUMBER and entry.value == 7


async def test_a_ttl_header_sets_the_expiration_and_the_key_disappears_after_it(api: ApiHarness) -> None:
    namespace = _namespace()
    before = datetime.now(UTC)
    put = await api.client.put(f"/api/v1/namespaces/{namespace}/kv/short", data='"soon gone"',
                               headers={"ttl": "PT3S"})
    assert put.status == 200
    await api.client.put(f"/api/v1/namespaces/{namespace}/kv/long", data='"stays"', params={"ttl": "P1D"})
    listing = await (await api.client.get(f"/api/v1/namespaces/{namespace}/kv")).json()
    assert [e["key"] for e in listing] == ["long", "short"]
    expiry = datetime.fromisoformat(listing[0]["expirationDate"])
    assert before + timedelta(hours=23) < expiry < before + timedelta(days=1, minutes=1)
    assert datetime.fromisoformat(listing[1]["updateDate"]) >= before.replace(microsecond=0)
    await asyncio.sleep(3.1)  # past the TTL, which a loaded machine may spend on the listing above
    assert (await api.client.get(f"/api/v1/namespaces/{namespace}/kv/short")).status == 404
    assert [e["key"] for e in await (await api.client.get(f"/api/v1/namespaces/{namespace}/kv")).json()] == ["long"]


async def test_delete_answers_whether_a_live_key_was_removed(api: ApiHarness) -> None:
    namespace = _namespace()
    await api.client.put(f"/api/v1/namespaces/{namespace}/kv/gone", data="1")
    first = await api.client.delete(f"/api/v1/namespaces/{namespace}/kv/gone")
    second = await api.client.delete(f"/api/v1/namespaces/{namespace}/kv/gone")
    assert (first.status, await first.json()) == (200, True)
    assert (second.status, await second.json()) == (200, False)
    missing = await api.client.get(f"/api/v1/namespaces/{namespace}/kv/gone")
    assert missing.status == 404 and "gone" in (await missing.json())["message"]


async def test_bulk_delete_answers_the_keys_it_removed(api: ApiHarness) -> None:
    namespace = _namespace()
    for key in ("a", "b", "c"):
        await api.client.put(f"/api/v1/namespaces/{namespace}/kv/{key}", data="1")
    answer = await api.client.delete(f"/api/v1/namespaces/{namespace}/kv", json={"keys": ["a", "c", "zz", "a"]})
    assert answer.status == 200 and await answer.json() == {"keys": ["a", "c"]}
    assert [e["key"] for e in await (await api.client.get(f"/api/v1/namespaces/{namespace}/kv")).json()] == ["b"]


async def test_inheritance_lists_the_keys_of_the_parent_namespaces_nearest_first(api: ApiHarness) -> None:
    parent = _namespace()
    for namespace, key in ((parent, "top"), (f"{parent}.team", "middle"), (f"{parent}.team.app", "own")):
        put = await api.client.put(f"/api/v1/namespaces/{namespace}/kv/{key}", data='"v"')
        assert put.status == 200, await put.text()
    answer = await api.client.get(f"/api/v1/main/namespaces/{parent}.team.app/kv/inheritance")
    assert answer.status == 200, await answer.text()
    assert [(e["namespace"], e["key"]) for e in await answer.json()] == [(f"{parent}.team", "middle"), (parent, "top")]


async def test_an_empty_namespace_lists_no_keys(api: ApiHarness) -> None:
    answer = await api.client.get(f"/api/v1/namespaces/{_namespace()}/kv")
    assert answer.status == 200 and await answer.json() == []


@pytest.mark.parametrize(("path", "headers", "status", "says"), [
    ("/api/v1/namespaces/api.kv/kv/-bad", {}, 400, "invalid KV key"),
    ("/api/v1/namespaces/Bad..NS/kv/key", {}, 400, "invalid namespace"),
    ("/api/v1/namespaces/api.kv/kv/key", {"ttl": "ten minutes"}, 400, "invalid ttl"),
    ("/api/v1/namespaces/api.kv/kv/key", {"ttl": "-PT1M"}, 422, "TTL must be positive"),
])
async def test_refusals_say_what_is_wrong(api: ApiHarness, path: str, headers: dict[str, str], status: int,
                                          says: str) -> None:
    answer = await api.client.put(path, data="1", headers=headers)
    assert answer.status == status
    assert says in (await answer.json())["message"]


@pytest.mark.parametrize(("body", "expected"), [
    ("NaN", (KVType.STRING, "NaN")),
    ("Paris", (KVType.STRING, "Paris")),
    ("null", (None, None)),
    ('"2024-05-01"', (None, "2024-05-01")),  # a JSON string stays a string, as in Kestra
])
def test_put_bodies_are_read_as_kestra_reads_them(body: str, expected: tuple[KVType | None, object]) -> None:
    assert parse_kv_value(body) == expected


async def test_all_keys_are_listed_across_the_namespaces_of_flows_and_their_parents(api: ApiHarness) -> None:
    parent = _namespace()
    api.flows.deploy(f"id: holder\nnamespace: {parent}.team\ntasks:\n  - id: t\n"
                     "    type: io.kestra.plugin.core.log.Log\n    message: hi\n")
    for namespace, key in ((parent, "zeta"), (f"{parent}.team", "alpha"), (f"{parent}.team", "beta")):
        put = await api.client.put(f"/api/v1/namespaces/{namespace}/kv/{key}", data='"v"',
                                   params={"ttl": "P1D"} if key == "beta" else {})
        assert put.status == 200, await put.text()

    async def listed(**params: str) -> list[tuple[str, str]]:
        answer = await api.client.get("/api/v1/main/kv", params={"namespace": parent, **params})
        assert answer.status == 200, await answer.text()
        return [(e["namespace"], e["key"]) for e in (await answer.json())["results"]]

    async def all_three() -> list[tuple[str, str]] | None:
        found = await listed()  # on Kafka the flow reaches the API's catalog through its topic
        return found if len(found) == 3 else None

    assert await api.eventually(all_three, within=60.0) == [
        (parent, "zeta"), (f"{parent}.team", "alpha"), (f"{parent}.team", "beta")]
    assert await listed(sort="key:desc") == [(parent, "zeta"), (f"{parent}.team", "beta"), (f"{parent}.team", "alpha")]
    assert (await listed(sort="expirationDate:asc"))[0] == (f"{parent}.team", "beta")
    second = await (await api.client.get("/api/v1/kv", params={"namespace": parent, "size": "2", "page": "2"})).json()
    assert (second["total"], [e["key"] for e in second["results"]]) == (3, ["beta"])
    narrowed = await (await api.client.get("/api/v1/kv", params={"namespace": f"{parent}.team", "q": "alp"})).json()
    assert [(e["namespace"], e["key"]) for e in narrowed["results"]] == [(f"{parent}.team", "alpha")]
    bad = await api.client.get("/api/v1/kv", params={"sort": "value:asc"})
    assert bad.status == 400 and "cannot sort keys by 'value:asc'" in (await bad.json())["message"]
