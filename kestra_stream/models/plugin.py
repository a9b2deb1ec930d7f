"""What every plugin model shares: Kestra's camelCase property names and its declared names."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


@dataclass(frozen=True)
class PluginInfo:
    """How a plugin is named and documented.

    ``type`` is Kestra's current type name, ``short`` ours, ``aliases`` Kestra's older names;
    a flow may use any of them.
    """

    type: str
    short: str
    aliases: tuple[str, ...] = ()
    title: str = ""
    examples: tuple[str, ...] = ()
    deprecated: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.type, self.short, *self.aliases)


class PluginModel(BaseModel):
    """Base of tasks, triggers, conditions and task runners.

    Properties are snake_case in Python and camelCase in flows (``allow_failure`` is
    ``allowFailure``); unknown properties are errors, as in Kestra.
    """

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        serialize_by_alias=True,
        frozen=True,
        arbitrary_types_allowed=False,
        # Dozens of plugin classes are imported and few are used by a flow: build each schema on first use.
        defer_build=True,
    )

    plugin: ClassVar[PluginInfo | None] = None

    type: str


class PluginDefault(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(min_length=1)
    values: dict[str, Any] = Field(default_factory=dict)
    forced: bool = False

    def applies_to(self, names: Iterable[str]) -> bool:
        prefix = self.type.rstrip(".")
        return any(n == prefix or n.startswith(prefix + ".") for n in names)
