"""Plugin discovery: tasks, triggers, conditions and task runners from the ``kestra_stream.plugins`` group."""

from kestra_stream.plugins.registry import (
    ENTRY_POINT_GROUP,
    PluginKind,
    PluginRegistry,
    default_registry,
    registry_from_context,
)

__all__ = ["ENTRY_POINT_GROUP", "PluginKind", "PluginRegistry", "default_registry", "registry_from_context"]
