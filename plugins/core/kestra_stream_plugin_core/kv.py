"""``kv.Set``, ``kv.Get``, ``kv.Delete`` and ``kv.GetKeys``: the KV store of a namespace.

The namespace defaults to the flow's; any namespace is reachable, as in Kestra's open-source edition.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import Field, field_validator

from kestra_stream.durations import Duration
from kestra_stream.errors import TaskFailure
from kestra_stream.kv import KVStore, KVStoreError, KVType
from kestra_stream.models.plugin import PluginInfo, PluginModel
from kestra_stream.models.task import RunContext, RunnableTask

FLOW_NAMESPACE = "{{ flow.namespace }}"


@runtime_checkable
class _HasKVStore(Protocol):
    def kv_store(self, namespace: str | None = None) -> KVStore: ...


def _store(ctx: RunContext, namespace: str) -> KVStore:
    # The worker's context hands out KV stores on its unscoped storage; any other context (a test
    # fake) keeps its KV entries in its own storage.
    if isinstance(ctx, _HasKVStore):
        return ctx.kv_store(namespace)
    return KVStore(ctx.storage, namespace)


def _namespace(ctx: RunContext, raw: str) -> str:
    namespace = ctx.render_string(raw).strip()
    if not namespace:
        raise TaskFailure(f"the namespace {raw!r} rendered empty; set `namespace` or leave it out to use "
                          "the flow's namespace")
    return namespace


def _key(ctx: RunContext, raw: str) -> str:
    return ctx.render_string(raw).strip()


def _example(task: str, body: str) -> str:
    return f"id: kv_{task.lower()}\nnamespace: company.team\ntasks:\n  - id: kv\n" \
           f"    type: io.kestra.plugin.core.kv.{task}\n{body}"


def _info(name: str, title: str, body: str) -> PluginInfo:
    return PluginInfo(type=f"io.kestra.plugin.core.kv.{name}", short=f"kv.{name}", title=title,
                      examples=(_example(name, body),))


class KVSet(RunnableTask):
    """Create or replace a key-value pair, optionally typed and expiring."""

    plugin: ClassVar[PluginInfo] = _info(
        "Set", "Create or replace a key-value pair, optionally typed and expiring.",
        "    key: orders_file\n    value: \"{{ execution.id }}\"\n    kvType: STRING\n    ttl: P1D\n")

    key: str = Field(description="The key; letters, digits, dots, underscores and dashes.")
    value: Any = Field(description="The value, rendered; a lone expression keeps its type.")
    namespace: str = Field(default=FLOW_NAMESPACE, description="The namespace (the flow's by default).")
    overwrite: bool = Field(default=True, description="Replace an existing value, or fail when there is one.")
    ttl: Duration | None = Field(default=None, description="How long the pair lives (ISO-8601, e.g. PT1H).")
    kv_type: KVType | None = Field(default=None, description="The value's type; text is parsed into it.")

    @field_validator("kv_type", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        namespace = _namespace(ctx, self.namespace)
        value = ctx.render(self.value)
        try:
            await _store(ctx, namespace).set(_key(ctx, self.key), value, kv_type=self.kv_type, ttl=self.ttl,
                                             overwrite=self.overwrite, description=self.description)
        except KVStoreError as exc:
            raise TaskFailure(str(exc), task_id=self.id) from exc
        return None


class KVGet(RunnableTask):
    """Get the value of a key (``outputs.<task>.value``; null when missing)."""

    plugin: ClassVar[PluginInfo] = _info(
        "Get", "Get the value of a key.", "    key: my_variable\n    namespace: dev\n    errorOnMissing: true\n")

    key: str = Field(description="The key to read.")
    namespace: str = Field(default=FLOW_NAMESPACE, description="The namespace (the flow's by default).")
    error_on_missing: bool = Field(default=False, description="Fail when the key is missing or expired.")

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        namespace = _namespace(ctx, self.namespace)
        key = _key(ctx, self.key)
        try:
            entry = await _store(ctx, namespace).get(key)
        except KVStoreError as exc:
            raise TaskFailure(str(exc), task_id=self.id) from exc
        if entry is None and self.error_on_missing:
            raise TaskFailure(f"No value found for key '{key}' in namespace '{namespace}' and `errorOnMissing` "
                              "is set to true", task_id=self.id)
        return {"value": entry.value if entry is not None else None}


class KVDelete(RunnableTask):
    """Delete a key (``outputs.<task>.deleted`` says whether it had a value)."""

    plugin: ClassVar[PluginInfo] = _info("Delete", "Delete a key-value pair.", "    key: my_variable\n")

    key: str = Field(description="The key to delete.")
    namespace: str = Field(default=FLOW_NAMESPACE, description="The namespace (the flow's by default).")
    error_on_missing: bool = Field(default=False, description="Fail when there was no value to delete.")

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        namespace = _namespace(ctx, self.namespace)
        key = _key(ctx, self.key)
        try:
            deleted = await _store(ctx, namespace).delete(key)
        except KVStoreError as exc:
            raise TaskFailure(str(exc), task_id=self.id) from exc
        if not deleted and self.error_on_missing:
            raise TaskFailure(f"No value found for key '{key}' in namespace '{namespace}' and `errorOnMissing` "
                              "is set to true", task_id=self.id)
        return {"deleted": deleted}


class KVGetKeys(RunnableTask):
    """List the live keys of a namespace, optionally only those with a prefix (``outputs.<task>.keys``)."""

    plugin: ClassVar[PluginInfo] = _info("GetKeys", "List the keys of a namespace.", "    prefix: my_var\n")

    prefix: str | None = Field(default=None, description="Only keys starting with this text.")
    namespace: str = Field(default=FLOW_NAMESPACE, description="The namespace (the flow's by default).")

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        namespace = _namespace(ctx, self.namespace)
        prefix = ctx.render_string(self.prefix) if self.prefix is not None else None
        try:
            keys = await _store(ctx, namespace).keys(prefix or None)
        except KVStoreError as exc:
            raise TaskFailure(str(exc), task_id=self.id) from exc
        return {"keys": keys}


# What this module's entry points register (see the distribution's pyproject.toml).
PLUGINS: tuple[type[PluginModel], ...] = (KVSet, KVGet, KVDelete, KVGetKeys)
