"""pluginDefaults, merged into a plugin's raw properties at load time as Kestra does.

A default applies to a plugin when its ``type`` is one of the plugin's names or a dotted
prefix of one (``io.kestra.plugin.scripts`` covers every script task). Defaults fill in what
the flow leaves out, maps merged deeply; ``forced`` ones override what the flow says.
Global defaults (server configuration) come first, so the flow's own win over them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kestra_stream.models.plugin import PluginDefault, PluginModel

__all__ = ["PluginDefault", "apply_plugin_defaults", "deep_merge"]


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` wins; nested maps merge, every other value (lists included) is replaced."""
    out = dict(base)
    for key, value in override.items():
        current = out.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            out[key] = deep_merge(current, value)
        else:
            out[key] = value
    return out


def apply_plugin_defaults(raw: dict[str, Any], cls: type[PluginModel],
                          defaults: Iterable[PluginDefault]) -> dict[str, Any]:
    info = cls.plugin
    names = (*info.names, raw.get("type", "")) if info else (raw.get("type", ""),)
    matching = [d for d in defaults if d.applies_to(names)]
    if not matching:
        return raw
    soft: dict[str, Any] = {}
    forced: dict[str, Any] = {}
    for default in matching:
        if default.forced:
            forced = deep_merge(forced, default.values)
        else:
            soft = deep_merge(soft, default.values)
    return deep_merge(deep_merge(soft, raw), forced)
