"""The Plugins endpoints: every installed plugin type, and the JSON schema of one.

A type is known by Kestra's current name, our short name and Kestra's older aliases; any of them
finds it. An unknown name is a 404 that proposes the closest known ones.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from kestra_stream.api._errors import ApiError
from kestra_stream.api._http import json_response, query, services
from kestra_stream.api._routes import ApiRoutes
from kestra_stream.errors import PluginError
from kestra_stream.models.plugin import PluginModel
from kestra_stream.plugins import PluginKind, PluginRegistry
from kestra_stream.plugins.registry import kind_of

routes = ApiRoutes("Plugins")

_OUT = ConfigDict(frozen=True, alias_generator=to_camel, validate_by_name=True, validate_by_alias=True,
                  serialize_by_alias=True)


class PluginOut(BaseModel):
    """One plugin type: its names, what it is and what it does."""

    model_config = _OUT

    type: str = Field(description="Kestra's current name of the type")
    short_name: str = Field(description="kestra-stream's short name, usable as `type` in flows")
    aliases: list[str] = Field(description="Kestra's older names, still accepted")
    kind: PluginKind
    title: str
    deprecated: bool = False


class PluginSchemaOut(PluginOut):
    """A plugin type and the JSON schema of its properties, as flows write them (camelCase).

    ``schema.properties`` lists them, as in Kestra's answer; ``markdown`` is its documentation.
    """

    markdown: str
    examples: list[str] = []
    schema_: dict[str, Any] = Field(alias="schema")


class PluginsQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: PluginKind | None = Field(default=None, description="Only plugins of this kind")


def _describe(cls: type[PluginModel]) -> dict[str, Any]:
    info = cls.plugin
    assert info is not None, "registered plugins carry their PluginInfo"
    return {"type": info.type, "short_name": info.short, "aliases": list(info.aliases), "kind": kind_of(cls),
            "title": info.title or (cls.__doc__ or "").strip().split("\n\n")[0], "deprecated": info.deprecated}


def _markdown(cls: type[PluginModel]) -> str:
    info = cls.plugin
    assert info is not None
    parts = [f"# {info.type}", info.title or "", (cls.__doc__ or "").strip()]
    for example in info.examples:
        parts.append(f"```yaml\n{example.strip()}\n```")
    return "\n\n".join(p for p in parts if p)


def find_plugin(registry: PluginRegistry, name: str) -> type[PluginModel]:
    """The plugin named ``name`` (any of its names, any kind); a 404 proposing close names otherwise."""
    for kind in PluginKind:
        found = registry.resolve(kind, name)
        if found is not None:
            return found
    close = list(dict.fromkeys(s for kind in PluginKind for s in registry.suggestions(kind, name)))[:3]
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else "; GET /api/v1/plugins lists them"
    raise ApiError(404, f"unknown plugin type {name!r}{hint}")


@routes.route("GET", "/plugins", summary="Every installed plugin type", query=PluginsQuery,
              response=list[PluginOut])
async def list_plugins(request: web.Request) -> web.StreamResponse:
    registry = services(request).registry
    kind = query(request, PluginsQuery).kind
    found = sorted((PluginOut.model_validate(_describe(cls)) for cls in registry.classes(kind)),
                   key=lambda p: (p.kind.value, p.type))
    return json_response([p.model_dump(mode="json", by_alias=True) for p in found])


@routes.route("GET", "/plugins/{cls}", summary="A plugin type and the JSON schema of its properties",
              response=PluginSchemaOut)
async def plugin_schema(request: web.Request) -> web.StreamResponse:
    registry = services(request).registry
    cls = find_plugin(registry, request.match_info["cls"])
    info = cls.plugin
    assert info is not None
    try:
        schema = registry.schema(info.type)
    except PluginError as exc:  # the name resolved above: only a plugin whose model cannot be described
        raise ApiError(422, f"the schema of {info.type!r} cannot be produced: {exc}") from exc
    answer = PluginSchemaOut.model_validate({**_describe(cls), "markdown": _markdown(cls),
                                             "examples": list(info.examples), "schema": schema})
    return json_response(answer.model_dump(mode="json", by_alias=True))
