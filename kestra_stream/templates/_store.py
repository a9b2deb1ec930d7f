"""Templates in internal storage: one YAML source per template, under its namespace's ``_templates`` folder.

Internal storage is what every component of both backends already shares (a local directory, or
MinIO / S3), so the API, the CLI and the executors read and write the same templates without a
store of their own. A template is kept as the source it was saved with (comments included) and
validated again, by the reader's plugins, when it is read; parsed templates are cached by source,
so an executor reading one at every event parses it once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from kestra_stream.errors import FlowValidationError
from kestra_stream.flows import PluginDefault, load_template
from kestra_stream.models.template import FlowTemplate
from kestra_stream.plugins import PluginRegistry
from kestra_stream.storage import Storage, StorageFileNotFoundError, parse_uri, templates_uri

_PARSED_CACHE = 256


class TemplateStore:
    def __init__(self, storage: Storage, *, registry: PluginRegistry | None = None,
                 global_defaults: Sequence[PluginDefault] = ()) -> None:
        self.storage = storage
        self._registry = registry
        self._defaults = list(global_defaults)
        self._parsed: OrderedDict[str, FlowTemplate] = OrderedDict()

    def parse(self, source: str, *, file: str | None = None) -> FlowTemplate:
        """Validate a template as ``save`` would; ``FlowValidationError`` with every problem."""
        hit = self._parsed.get(source)
        if hit is not None:
            self._parsed.move_to_end(source)
            return hit
        template = load_template(source, file=file, registry=self._registry, global_defaults=self._defaults)
        self._parsed[source] = template
        if len(self._parsed) > _PARSED_CACHE:
            self._parsed.popitem(last=False)
        return template

    async def source(self, namespace: str, template_id: str) -> str | None:
        """The stored source of a template, or None when there is none (storage errors are raised)."""
        try:
            data = await self.storage.get(templates_uri(namespace, template_id))
        except StorageFileNotFoundError:
            return None
        return data.decode("utf-8")

    async def get(self, namespace: str, template_id: str) -> FlowTemplate | None:
        """The template, or None; ``FlowValidationError`` when its stored source is no longer valid."""
        source = await self.source(namespace, template_id)
        return None if source is None else self.parse(source, file=f"{namespace}.{template_id}")

    async def save(self, source: str) -> FlowTemplate:
        """Validate ``source`` and store it (replacing the template of the same namespace and id)."""
        template = self.parse(source)
        await self.storage.put(templates_uri(template.namespace, template.id), source.encode("utf-8"))
        return template

    async def delete(self, namespace: str, template_id: str) -> bool:
        return await self.storage.delete(templates_uri(namespace, template_id))

    async def ids(self, namespace: str) -> list[str]:
        """The ids of the templates of ``namespace`` (not of its children), sorted."""
        found = []
        for uri in await self.storage.list(templates_uri(namespace)):
            name = parse_uri(uri)[-1]
            if name.endswith(".yaml"):
                found.append(name.removesuffix(".yaml"))
        return sorted(found)

    async def all_of(self, namespace: str) -> list[FlowTemplate | FlowValidationError]:
        """Every template of ``namespace``, an invalid one as its error."""
        out: list[FlowTemplate | FlowValidationError] = []
        for template_id in await self.ids(namespace):
            try:
                template = await self.get(namespace, template_id)
            except FlowValidationError as exc:
                out.append(exc)
                continue
            if template is not None:
                out.append(template)
        return out
