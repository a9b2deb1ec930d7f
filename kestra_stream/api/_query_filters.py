"""Kestra 2.x's search filters, ``filters[<field>][<OPERATION>]=value``, read as this server's plain parameters.

Kestra's clients (its UI, the ``kestrapy`` SDK's ``filters=[QueryFilter(...)]``) send a search's filters
in that form: a list value joined by commas, a map value (labels) as ``filters[labels][EQUALS][key]=value``,
and groups as ``filters[and][0][...]`` / ``filters[or][0][...]``. Each endpoint that reads them names the
fields and operations it serves, each as the plain parameter it amounts to exactly; anything else
(another field, another operation, a group) is refused with a 400 that lists what is served, never ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel

from kestra_stream.api._errors import ApiError
from kestra_stream.api._http import is_list_field, query_data, validated_query
from kestra_stream.models.state import StateType

M = TypeVar("M", bound=BaseModel)

FILTERS_PREFIX = "filters["
_LEAF = re.compile(r"^filters\[(\w+)]\[(\w+)](?:\[([^\]]+)])?$")


def _listed(value: str) -> list[str]:
    values = [v.strip() for v in value.split(",") if v.strip()]
    if not values:
        # An empty list would otherwise filter nothing, as if the filter were not given.
        raise ApiError(400, "a filters[...] list is empty: give at least one value, separated by commas")
    return values


def _single(value: str) -> list[str]:
    return [value]


def _states_except(value: str) -> list[str]:
    excluded = set(_listed(value))
    unknown = excluded - {s.value for s in StateType}
    if unknown:
        raise ApiError(400, f"unknown state {', '.join(sorted(unknown))}: the states are "
                            f"{', '.join(s.value for s in StateType)}")
    return [s.value for s in StateType if s.value not in excluded]


def _user_scope(value: str) -> list[str]:
    # This server has no system flows: every execution and log line is of a user's flow.
    scopes = set(_listed(value))
    if scopes != {"USER"}:
        raise ApiError(400, f"scope {value!r}: this server has no system flows, only USER is served "
                            "(filters[scope][EQUALS]=USER), or leave the scope out")
    return []


@dataclass(frozen=True)
class Served:
    """What one ``filters[field][OPERATION]`` amounts to: values of the plain parameter ``param``."""

    param: str
    values: Callable[[str], list[str]] = _single
    # A map value (filters[labels][EQUALS][key]=value) is given as `key:value`.
    keyed: bool = False


# Fields → operations → the plain parameter each amounts to, for the executions' filters (search and
# statistics). The start-date window is start <= date < end: GREATER_THAN_OR_EQUAL_TO and LESS_THAN.
EXECUTION_FILTERS: Mapping[str, Mapping[str, Served]] = {
    "q": {"EQUALS": Served("q")},
    "namespace": {"PREFIX": Served("namespace")},
    "flowId": {"EQUALS": Served("flowId")},
    "state": {"EQUALS": Served("state"), "IN": Served("state", _listed),
              "NOT_EQUALS": Served("state", _states_except), "NOT_IN": Served("state", _states_except)},
    "labels": {"EQUALS": Served("labels", keyed=True)},
    "startDate": {"GREATER_THAN_OR_EQUAL_TO": Served("startDate"), "LESS_THAN": Served("endDate")},
    "timeRange": {"EQUALS": Served("timeRange")},
    "scope": {"EQUALS": Served("scope", _user_scope), "IN": Served("scope", _user_scope)},
    "triggeredBy": {"EQUALS": Served("triggeredBy"), "IN": Served("triggeredBy", _listed)},
    "triggerExecutionId": {"EQUALS": Served("triggerExecutionId")},
    "childFilter": {"EQUALS": Served("childFilter")},
}

# Log lines: the window is on the line's timestamp; the level keeps that level and the more severe ones.
LOG_FILTERS: Mapping[str, Mapping[str, Served]] = {
    "q": {"EQUALS": Served("q")},
    "namespace": {"PREFIX": Served("namespace")},
    "flowId": {"EQUALS": Served("flowId")},
    "level": {"GREATER_THAN_OR_EQUAL_TO": Served("minLevel")},
    "startDate": {"GREATER_THAN_OR_EQUAL_TO": Served("startDate"), "LESS_THAN": Served("endDate")},
    "timeRange": {"EQUALS": Served("timeRange")},
    "scope": {"EQUALS": Served("scope", _user_scope), "IN": Served("scope", _user_scope)},
}

_HINTS = {
    ("namespace", "EQUALS"): "the namespace filter always takes the namespaces below it too: use PREFIX",
    ("namespace", "STARTS_WITH"): "STARTS_WITH would also take `a.bc` for `a.b`; PREFIX takes `a.b` and `a.b.*`",
    ("endDate", None): "the date window is on the start date: use filters[startDate][LESS_THAN]",
    ("level", "EQUALS"): "the level filter keeps that level and the more severe ones: use GREATER_THAN_OR_EQUAL_TO",
}


def served_fields(model: type[BaseModel], fields: Mapping[str, Mapping[str, Served]]) -> dict[str, dict[str, Served]]:
    """The fields of ``fields`` that ``model`` has the plain parameters of (``scope`` needs none)."""
    names = {f.alias or n for n, f in model.model_fields.items()}
    return {field: dict(ops) for field, ops in fields.items()
            if all(s.param in names or s.param == "scope" for s in ops.values())}


def describe(fields: Mapping[str, Mapping[str, Served]]) -> str:
    return "; ".join(f"{field}: {', '.join(ops)}" for field, ops in fields.items())


def _refusal(key: str, field: str | None, operation: str | None,
             fields: Mapping[str, Mapping[str, Served]]) -> ApiError:
    if field is None:
        what = "groups (filters[and][...], filters[or][...]) and other shapes are not served"
    elif field not in fields:
        what = f"the field {field} is not served here"
    else:
        what = f"{field} is not filtered with {operation} here"
    hint = _HINTS.get((field or "", operation)) or _HINTS.get((field or "", None))
    return ApiError(400, f"`{key}`: {what}{f' ({hint})' if hint else ''}. Write filters as "
                         f"filters[<field>][<OPERATION>]=value with one of: {describe(fields)}")


def kestra_filters(request: web.Request, fields: Mapping[str, Mapping[str, Served]]) -> dict[str, list[str]]:
    """The ``filters[...]`` of ``request`` as values of plain parameters, by parameter; 400 on any not served."""
    given: dict[str, list[str]] = {}
    for key in dict.fromkeys(request.query):  # a repeated name once: getall reads its every value
        if not key.startswith(FILTERS_PREFIX):
            continue
        match = _LEAF.match(key)
        if match is None:
            raise _refusal(key, None, None, fields)
        field, operation, map_key = match[1], match[2], match[3]
        served = fields.get(field, {}).get(operation)
        if served is None or (map_key is not None and not served.keyed):
            raise _refusal(key, field, operation, fields)
        for value in request.query.getall(key):
            if served.keyed and map_key is not None:
                value = f"{map_key}:{value}"
            given.setdefault(served.param, []).extend(served.values(value))
    given.pop("scope", None)
    return given


def filtered_query(request: web.Request, model: type[M], fields: Mapping[str, Mapping[str, Served]]) -> M:
    """The query string as ``model``, its ``filters[...]`` read as the plain parameters they amount to.

    A list parameter takes the values of both forms; a single one given in both forms must say the same.
    """
    served = served_fields(model, fields)
    data = {name: value for name, value in query_data(request, model).items() if not name.startswith(FILTERS_PREFIX)}
    for param, values in kestra_filters(request, served).items():
        if is_list_field(model, param):
            data[param] = [*data.get(param, []), *values]
            continue
        distinct = dict.fromkeys([*([data[param]] if param in data else []), *values])
        if len(distinct) > 1:
            raise ApiError(400, f"{param} is given more than once, with the values {', '.join(distinct)}: give one")
        data[param] = next(iter(distinct))
    return validated_query(model, data)
