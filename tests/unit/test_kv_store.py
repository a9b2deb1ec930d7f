"""The KV store of a namespace on real internal storage (a temporary directory), with a fake clock."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from kestra_stream.kv import KVStore, KVStoreError, KVType, coerce, infer_type
from kestra_stream.storage import LocalStorage

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(storage: LocalStorage, clock: Clock) -> KVStore:
    return KVStore(storage, "company.team", now=clock)


async def test_set_then_get_keeps_the_native_type_of_each_value(store: KVStore) -> None:
    values = {"s": "text", "n": 42, "f": 1.5, "b": False, "j": {"a": [1, {"b": None}]}, "l": [1, "x"],
              "dt": T0, "d": date(2024, 1, 2), "dur": timedelta(minutes=90)}
    for key, value in values.items():
        await store.set(key, value)
    for key, value in values.items():
        assert await store.value(key) == value, key
        assert type(await store.value(key)) is type(value), key


async def test_entries_live_in_the_namespace_kv_folder_of_storage(store: KVStore, storage: LocalStorage) -> None:
    await store.set("my.key-1_x", "v")
    path = storage.root / "company" / "team" / "_kv" / "my.key-1_x.json"
    document = json.loads(path.read_bytes())
    assert document["type"] == "STRING" and document["value"] == "v" and document["expirationDate"] is None


async def test_kv_type_parses_text_as_kestra_set_does() -> None:
    assert coerce("42", KVType.NUMBER) == (KVType.NUMBER, 42)
    assert coerce("4.5", KVType.NUMBER) == (KVType.NUMBER, 4.5)
    assert coerce("TRUE", KVType.BOOLEAN) == (KVType.BOOLEAN, True)
    assert coerce("yes", KVType.BOOLEAN) == (KVType.BOOLEAN, False)
    assert coerce("2024-05-01T12:00:00Z", KVType.DATETIME) == (KVType.DATETIME, T0)
    assert coerce("2024-05-01", KVType.DATE) == (KVType.DATE, date(2024, 5, 1))
    assert coerce("2024-05-01T23:00:00Z", KVType.DATE) == (KVType.DATE, date(2024, 5, 1))
    assert coerce("PT1H30M", KVType.DURATION) == (KVType.DURATION, timedelta(hours=1, minutes=30))
    assert coerce('{"a": [1]}', KVType.JSON) == (KVType.JSON, {"a": [1]})
    assert coerce(12, KVType.STRING) == (KVType.STRING, "12")
    assert coerce(True, KVType.STRING) == (KVType.STRING, "true")


@pytest.mark.parametrize(("text", "kv_type", "hint"), [
    ("forty", KVType.NUMBER, "JSON number"),
    ("NaN", KVType.NUMBER, "JSON number"),
    ("yesterday", KVType.DATETIME, "ISO-8601 date-time"),
    ("5 minutes", KVType.DURATION, "PT10M"),
    ("{not json", KVType.JSON, "JSON document"),
])
def test_text_that_does_not_fit_its_kv_type_is_refused_with_the_expected_form(
        text: str, kv_type: KVType, hint: str) -> None:
    with pytest.raises(ValueError, match=hint):
        coerce(text, kv_type)


def test_untyped_values_are_typed_by_their_python_type() -> None:
    samples: tuple[object, ...] = ("a", 1, True, T0, T0.date(), timedelta(1), {}, [], None)
    assert [infer_type(v) for v in samples] == [
        KVType.STRING, KVType.NUMBER, KVType.BOOLEAN, KVType.DATETIME, KVType.DATE, KVType.DURATION,
        KVType.JSON, KVType.JSON, KVType.JSON]


async def test_a_key_past_its_ttl_reads_as_missing_and_is_removed(
        store: KVStore, storage: LocalStorage, clock: Clock) -> None:
    entry = await store.set("token", "abc", ttl=timedelta(minutes=5))
    assert entry.expiration_date == T0 + timedelta(minutes=5)
    clock.now = T0 + timedelta(minutes=4, seconds=59)
    assert await store.value("token") == "abc"
    assert await store.keys() == ["token"]
    clock.now = T0 + timedelta(minutes=5)
    assert await store.get("token") is None
    assert await store.keys() == []
    assert not (storage.root / "company" / "team" / "_kv" / "token.json").exists()


async def test_setting_again_resets_the_ttl(store: KVStore, clock: Clock) -> None:
    await store.set("k", 1, ttl=timedelta(seconds=10))
    await store.set("k", 2)
    clock.now = T0 + timedelta(days=365)
    assert await store.value("k") == 2


async def test_overwrite_false_refuses_a_live_key_but_not_an_expired_one(store: KVStore, clock: Clock) -> None:
    await store.set("k", "first", ttl=timedelta(seconds=10))
    with pytest.raises(KVStoreError, match="already exists and overwrite is false"):
        await store.set("k", "second", overwrite=False)
    assert await store.value("k") == "first"
    clock.now = T0 + timedelta(seconds=11)
    await store.set("k", "third", overwrite=False)
    assert await store.value("k") == "third"


async def test_list_is_sorted_filtered_by_prefix_and_per_namespace(storage: LocalStorage, clock: Clock) -> None:
    team = KVStore(storage, "company.team", now=clock)
    child = KVStore(storage, "company.team.child", now=clock)
    for key in ("b_var", "a_var", "other"):
        await team.set(key, key)
    await child.set("a_var", "child")
    assert await team.keys() == ["a_var", "b_var", "other"]
    assert await team.keys("a_") == ["a_var"]
    assert [(e.key, e.value) for e in await child.list()] == [("a_var", "child")]
    assert await KVStore(storage, "empty.ns").keys() == []


async def test_delete_says_whether_a_live_value_was_there(store: KVStore, clock: Clock) -> None:
    await store.set("k", "v")
    assert await store.delete("k") is True
    assert await store.delete("k") is False
    await store.set("short", "v", ttl=timedelta(seconds=1))
    clock.now = T0 + timedelta(seconds=2)
    assert await store.delete("short") is False


async def test_missing_key_is_none_or_an_error_on_request(store: KVStore) -> None:
    assert await store.value("nope") is None
    with pytest.raises(KVStoreError, match=r"the key 'nope' does not exist in the namespace 'company\.team'"):
        await store.value("nope", error_on_missing=True)


@pytest.mark.parametrize("key", ["", "_x", ".hidden", "a/b", "a b", "../up", "é"])
async def test_invalid_keys_are_refused_before_storage_is_touched(store: KVStore, key: str) -> None:
    with pytest.raises(KVStoreError, match="invalid KV key"):
        await store.set(key, "v")
    with pytest.raises(KVStoreError, match="invalid KV key"):
        await store.get(key)


async def test_a_non_positive_ttl_is_refused(store: KVStore) -> None:
    with pytest.raises(KVStoreError, match="TTL must be positive"):
        await store.set("k", "v", ttl=timedelta(0))


async def test_a_corrupt_entry_names_its_key_and_file(store: KVStore, storage: LocalStorage) -> None:
    await storage.put(store.uri_of("bad"), b"{not json")
    with pytest.raises(KVStoreError, match=r"KV entry 'bad' of namespace 'company.team' at .*bad.json is corrupt"):
        await store.get("bad")
