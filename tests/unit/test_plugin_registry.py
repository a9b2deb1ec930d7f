"""The registry loads the entry point named for a type first: a flow imports only its types' modules."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import kestra_stream_plugin_core as core
import pytest

from kestra_stream.plugins import ENTRY_POINT_GROUP, PluginKind, PluginRegistry
from kestra_stream.plugins.registry import kind_of

MODULE = '''
from typing import ClassVar

from kestra_stream.models.plugin import PluginInfo
from kestra_stream.models.task import TaskRunner


class {cls}(TaskRunner):
    plugin: ClassVar[PluginInfo] = PluginInfo(type="{type}", short="{short}", aliases=("{alias}",))


PLUGINS = ({cls},)
'''


class Recording(EntryPoint):
    """An entry point that writes down its value in ``loads`` when it is loaded."""

    loads: list[str]

    def load(self) -> object:
        Recording.loads.append(self.value)
        return super().load()


@pytest.fixture
def package(tmp_path: Path) -> Iterator[str]:
    """A package ``regpkg`` of three plugin modules, importable for this test only."""
    root = tmp_path / "regpkg"
    root.mkdir()
    (root / "__init__.py").write_text("")
    for module, cls, type_name in (("alpha", "Alpha", "test.reg.alpha.Alpha"),
                                   ("beta", "Beta", "test.reg.beta.Beta"),
                                   ("gamma", "Gamma", "test.reg.alpha.Gamma")):
        (root / f"{module}.py").write_text(textwrap.dedent(MODULE.format(
            cls=cls, type=type_name, short=f"{module}.{cls}", alias=f"old.{module}.{cls}")))
    sys.path.insert(0, str(tmp_path))
    Recording.loads = []
    yield "regpkg"
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m == "regpkg" or m.startswith("regpkg.")]:
        del sys.modules[name]


def registry_of(*pairs: tuple[str, str]) -> PluginRegistry:
    return PluginRegistry(Recording(name, value, ENTRY_POINT_GROUP) for name, value in pairs)


def test_a_type_loads_only_the_entry_point_named_for_its_package(package: str) -> None:
    registry = registry_of(("test.reg.alpha", f"{package}.alpha:PLUGINS"), ("test.reg.beta", f"{package}.beta:PLUGINS"))
    found = registry.resolve(PluginKind.TASK_RUNNER, "test.reg.beta.Beta")
    assert found is not None and found.__name__ == "Beta"
    assert Recording.loads == [f"{package}.beta:PLUGINS"]
    assert f"{package}.alpha" not in sys.modules


def test_the_entry_point_named_for_the_type_itself_wins_over_its_package(package: str) -> None:
    registry = registry_of(("test.reg.alpha", f"{package}.alpha:PLUGINS"),
                           ("test.reg.alpha.Gamma", f"{package}.gamma:PLUGINS"))
    found = registry.resolve(PluginKind.TASK_RUNNER, "test.reg.alpha.Gamma")
    assert found is not None and found.__name__ == "Gamma"
    assert Recording.loads == [f"{package}.gamma:PLUGINS"]


def test_a_name_no_entry_point_is_named_for_loads_them_in_name_order_until_found(package: str) -> None:
    registry = registry_of(("test.reg.beta", f"{package}.beta:PLUGINS"), ("test.reg.alpha", f"{package}.alpha:PLUGINS"),
                           ("test.reg.gamma", f"{package}.gamma:PLUGINS"))
    found = registry.resolve(PluginKind.TASK_RUNNER, "old.beta.Beta")  # an alias: no entry point is named for it
    assert found is not None and found.__name__ == "Beta"
    assert Recording.loads == [f"{package}.alpha:PLUGINS", f"{package}.beta:PLUGINS"]
    assert registry.resolve(PluginKind.TASK_RUNNER, "test.reg.nothing.Here") is None
    assert len(Recording.loads) == 3


def test_an_object_several_entry_points_name_is_loaded_once(package: str) -> None:
    registry = registry_of(("test.reg.alpha", f"{package}.alpha:PLUGINS"),
                           ("test.reg.other", f"{package}.alpha:PLUGINS"))
    assert [c.__name__ for c in registry.classes()] == ["Alpha"]
    assert Recording.loads == [f"{package}.alpha:PLUGINS"]
    assert registry.broken == []


def test_listings_come_in_type_order_whatever_was_looked_up_first(package: str) -> None:
    pairs = (("test.reg.alpha", f"{package}.alpha:PLUGINS"), ("test.reg.beta", f"{package}.beta:PLUGINS"),
             ("test.reg.alpha.Gamma", f"{package}.gamma:PLUGINS"))
    first = registry_of(*pairs)
    first.resolve(PluginKind.TASK_RUNNER, "test.reg.beta.Beta")
    second = registry_of(*pairs)
    second.resolve(PluginKind.TASK_RUNNER, "test.reg.alpha.Gamma")
    expected = ["test.reg.alpha.Alpha", "test.reg.alpha.Gamma", "test.reg.beta.Beta"]
    assert [c.plugin.type for c in first.classes() if c.plugin] == expected
    assert [c.plugin.type for c in second.classes() if c.plugin] == expected


def test_a_broken_module_takes_down_its_entry_point_only(package: str, tmp_path: Path) -> None:
    (tmp_path / package / "beta.py").write_text("raise RuntimeError('beta is broken')\n")
    registry = registry_of(("test.reg.alpha", f"{package}.alpha:PLUGINS"), ("test.reg.beta", f"{package}.beta:PLUGINS"))
    assert registry.resolve(PluginKind.TASK_RUNNER, "test.reg.beta.Beta") is None
    assert [c.__name__ for c in registry.classes()] == ["Alpha"]
    assert registry.broken == [f"test.reg.beta = {package}.beta:PLUGINS: beta is broken"]


def core_entry_points() -> list[EntryPoint]:
    return [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.value.startswith("kestra_stream_plugin_core.")]


@pytest.mark.parametrize("cls", core.plugins(), ids=lambda c: c.__name__)
def test_each_core_type_loads_only_the_core_module_defining_it(cls: type) -> None:
    registry = PluginRegistry(Recording(ep.name, ep.value, ep.group) for ep in core_entry_points())
    Recording.loads = []
    assert cls.plugin is not None
    assert registry.resolve(kind_of(cls), cls.plugin.type) is cls
    assert Recording.loads == [f"{cls.__module__}:PLUGINS"]


def test_the_core_entry_points_register_every_core_plugin_and_nothing_else() -> None:
    registry = PluginRegistry(core_entry_points())
    assert set(registry.classes()) == set(core.plugins())
    assert registry.broken == []
