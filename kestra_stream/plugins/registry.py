"""The plugin registry: every plugin type by each of its names.

Discovery follows Kestra's PluginScanner: one entry-point group; each entry point is loaded
on its own, and a broken one is logged with where it came from and skipped, never taking the
others down. An entry point names either an iterable of plugin classes or a callable
returning one.

Entry points are loaded lazily, until the name asked for is found: first those whose name is the
type asked for or a package of it (an entry point named ``io.kestra.plugin.core.log`` serves
``io.kestra.plugin.core.log.Log``; the longest such name first), then the others in name order. A
distribution may so declare one entry point per module, and a short command (``execute``) imports
only the modules of the types its flow uses, never the script or Kafka plugins and their clients.
Several entry points may name the same object: it is loaded once. Listing, schemas and a name not
found load them all; listings come in type-name order, whatever was loaded first.
"""

from __future__ import annotations

import difflib
import functools
import threading
from collections.abc import Iterable, Mapping
from enum import StrEnum
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import structlog

from kestra_stream.errors import PluginError
from kestra_stream.models.plugin import PluginModel

ENTRY_POINT_GROUP = "kestra_stream.plugins"

log = structlog.get_logger(__name__)


class PluginKind(StrEnum):
    TASK = "task"
    TRIGGER = "trigger"
    CONDITION = "condition"
    TASK_RUNNER = "task_runner"


def kind_of(cls: type[PluginModel]) -> PluginKind:
    from kestra_stream.models.task import Condition, Task, TaskRunner, Trigger

    for base, kind in ((Task, PluginKind.TASK), (Trigger, PluginKind.TRIGGER),
                       (Condition, PluginKind.CONDITION), (TaskRunner, PluginKind.TASK_RUNNER)):
        if issubclass(cls, base):
            return kind
    raise PluginError(f"{cls.__module__}.{cls.__qualname__} is not a task, trigger, condition or task runner")


class PluginRegistry:
    def __init__(self, entry_points: Iterable[EntryPoint] = ()) -> None:
        """A registry of the plugins ``entry_points`` name (loaded when first needed) and those registered."""
        self._names: dict[PluginKind, dict[str, type[PluginModel]]] = {k: {} for k in PluginKind}
        self._classes: list[type[PluginModel]] = []
        self._broken: list[str] = []
        self._pending = sorted(entry_points, key=lambda e: e.name)  # not loaded yet, in name order
        self._loaded: set[str] = set()  # the values (``module:attribute``) of the entry points loaded
        # Held while loading: another thread must not find the list empty while the last one is loading.
        self._loading = threading.RLock()

    @classmethod
    def from_entry_points(cls, group: str = ENTRY_POINT_GROUP) -> PluginRegistry:
        return cls(entry_points(group=group))

    @property
    def broken(self) -> list[str]:
        """Every entry point that failed to load, with why (all of them are loaded to tell)."""
        self._load_all()
        return self._broken

    def _load_next(self, name: str | None = None) -> bool:
        """Load one more entry point, the one serving ``name`` if one does; False once none is left."""
        with self._loading:
            if not self._pending:
                return False
            ep = self._pending.pop(self._serving(name) if name is not None else 0)
            if ep.value in self._loaded:
                return True
            self._loaded.add(ep.value)
            source = f"{ep.name} = {ep.value}" + (f" ({ep.dist.name})" if ep.dist else "")
            try:
                loaded: Any = ep.load()
                classes = loaded() if callable(loaded) and not isinstance(loaded, type) else loaded
                self.register_all(classes, source=source)
            except Exception as exc:  # a broken plugin must not take the others down
                self._broken.append(f"{source}: {exc}")
                log.error("plugin_load_failed", entry_point=source, error=str(exc))
            return True

    def _serving(self, name: str) -> int:
        """Index of the pending entry point named for ``name`` or its longest package, else 0 (the next)."""
        best, length = 0, -1
        for index, ep in enumerate(self._pending):
            covers = name == ep.name or (name.startswith(ep.name) and name[len(ep.name)] in ".$")
            if covers and len(ep.name) > length:
                best, length = index, len(ep.name)
        return best

    def _load_all(self) -> None:
        while self._load_next():
            pass

    def register_all(self, classes: Iterable[type[PluginModel]], *, source: str = "") -> None:
        for plugin_cls in classes:
            self.register(plugin_cls, source=source)

    def register(self, cls: type[PluginModel], *, source: str = "") -> None:
        info = cls.plugin
        if info is None:
            raise PluginError(f"{cls.__qualname__} declares no `plugin = PluginInfo(...)`", plugin_type=None)
        names = self._names[kind_of(cls)]
        for name in info.names:
            other = names.get(name)
            if other is not None and other is not cls:
                raise PluginError(f"plugin name {name!r} from {source or cls.__module__} is already taken by "
                                  f"{other.__module__}.{other.__qualname__}", plugin_type=name)
            names[name] = cls
        if cls not in self._classes:
            self._classes.append(cls)

    def resolve(self, kind: PluginKind, name: str) -> type[PluginModel] | None:
        found = self._names[kind].get(name)
        if found is None:
            with self._loading:  # re-read under the lock: another thread may have just loaded it
                found = self._names[kind].get(name)
                while found is None and self._load_next(name):
                    found = self._names[kind].get(name)
        return found

    def require(self, kind: PluginKind, name: str) -> type[PluginModel]:
        found = self.resolve(kind, name)
        if found is not None:
            return found
        close = self.suggestions(kind, name)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        other = [k for k in PluginKind if k != kind and name in self._names[k]]
        if other:
            hint = f"; {name!r} is a {other[0].value.replace('_', ' ')}, not a {kind.value.replace('_', ' ')}"
        raise PluginError(f"unknown {kind.value.replace('_', ' ')} type {name!r}{hint}", plugin_type=name)

    def suggestions(self, kind: PluginKind, name: str, limit: int = 3) -> list[str]:
        """The closest known names, by whole name and by the last dotted part (``Log`` → ``...log.Log``)."""
        self._load_all()
        names = self._names[kind]
        canonical = sorted({c.plugin.type for c in names.values() if c.plugin})
        close = difflib.get_close_matches(name, canonical, n=limit, cutoff=0.6)
        tail = name.rsplit(".", 1)[-1].lower()
        for known in canonical:
            if known.rsplit(".", 1)[-1].lower() == tail and known not in close:
                close.insert(0, known)
        if not close:
            by_tail = {k.rsplit(".", 1)[-1].lower(): k for k in canonical}
            close = [by_tail[t] for t in difflib.get_close_matches(tail, list(by_tail), n=limit, cutoff=0.7)]
        return close[:limit]

    def classes(self, kind: PluginKind | None = None) -> list[type[PluginModel]]:
        """Every plugin class (of ``kind``), by type name: the order does not depend on what was looked up first."""
        self._load_all()
        return sorted((c for c in self._classes if kind is None or kind_of(c) == kind),
                      key=lambda c: c.plugin.type if c.plugin else "")

    def schema(self, name: str) -> dict[str, Any]:
        """JSON Schema of a plugin's properties, as flows write them (camelCase)."""
        for kind in PluginKind:
            cls = self.resolve(kind, name)
            if cls is not None:
                schema = cls.model_json_schema(by_alias=True, mode="validation")
                info = cls.plugin
                assert info is not None
                schema["title"] = info.type
                schema["description"] = info.title or (cls.__doc__ or "").strip()
                schema["x-kestra-aliases"] = list(info.aliases)
                schema["x-kestra-short-name"] = info.short
                schema["x-kestra-kind"] = kind.value
                return schema
        close = [s for k in PluginKind for s in self.suggestions(k, name)]
        hint = f"; did you mean {' or '.join(repr(c) for c in close[:3])}?" if close else ""
        raise PluginError(f"unknown plugin type {name!r}{hint}", plugin_type=name)


@functools.cache
def default_registry() -> PluginRegistry:
    """Every installed plugin, discovered once per process."""
    return PluginRegistry.from_entry_points()


def registry_from_context(context: Mapping[str, Any] | None) -> PluginRegistry:
    found = (context or {}).get("registry")
    if isinstance(found, PluginRegistry):
        return found
    return default_registry()


