"""Kestra's templates (deprecated by Kestra, off unless ``KESTRA_STREAM_TEMPLATES_ENABLED=true``).

``TemplateStore`` keeps them in internal storage, shared by every component; ``TemplateInjector``
is where the executor gives a flow's ``flow.Template`` tasks their template each time it reads the
flow; ``inject_templates`` is the pure part of that. The models are in ``kestra_stream.models.template``.
"""

from collections.abc import Mapping, Sequence

from kestra_stream.flows import PluginDefault
from kestra_stream.models.template import (
    DISABLED_REASON,
    ENV_ENABLED,
    FlowTemplate,
    Included,
    TemplateTask,
    templates_enabled,
)
from kestra_stream.plugins import PluginRegistry
from kestra_stream.storage import Storage
from kestra_stream.templates._inject import TemplateInjector, inject_templates, not_found, template_tasks
from kestra_stream.templates._store import TemplateStore


def template_injector(storage: Storage, *, registry: PluginRegistry | None = None,
                      global_defaults: Sequence[PluginDefault] = (),
                      environ: Mapping[str, str] | None = None) -> TemplateInjector | None:
    """The executor's template injection over ``storage``, or None when templates are off (nothing to inject:
    a flow.Template task is refused when its flow is loaded). ``environ``: the process's by default, which is
    also what flow validation reads."""
    if not templates_enabled(environ):
        return None
    return TemplateInjector(TemplateStore(storage, registry=registry, global_defaults=global_defaults))

__all__ = [
    "DISABLED_REASON",
    "ENV_ENABLED",
    "FlowTemplate",
    "Included",
    "TemplateInjector",
    "TemplateStore",
    "TemplateTask",
    "inject_templates",
    "not_found",
    "template_injector",
    "template_tasks",
    "templates_enabled",
]
