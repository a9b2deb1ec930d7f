"""Loading flows from YAML: parse with positions, validate the model, run the load-time checks.

``load_flow`` reports every problem it finds at once (``FlowValidationError.problems``),
each pointing at the key or value at fault: a pydantic error's ``loc`` is walked through the
parsed document to the deepest node it reaches, so a missing property points at the mapping
that lacks it and an unknown one at its key.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any, TypeVar, get_args

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails
from pydantic_core.core_schema import ErrorType

from kestra_stream.errors import FlowProblem, FlowValidationError, KestraStreamError
from kestra_stream.flows._checks import expression_warnings, run_checks
from kestra_stream.flows._source import Path, PathPart, Source, format_path, parse_source
from kestra_stream.flows.defaults import PluginDefault
from kestra_stream.models import flow as flow_model
from kestra_stream.plugins.registry import PluginKind, PluginRegistry, default_registry

if TYPE_CHECKING:
    # models.flow imports flows.defaults, which runs this package's __init__: the model is
    # reached through its module at call time so that either can be imported first.
    from kestra_stream.models.flow import Flow
    from kestra_stream.models.template import FlowTemplate

FLOW_SUFFIXES = (".yml", ".yaml")

_DEFAULTS = TypeAdapter(list[PluginDefault])
_BUILTIN_ERRORS = frozenset(get_args(ErrorType))
# Errors about a plugin's or an input's ``type``: they point at the ``type`` key's value.
_TYPE_ERRORS = frozenset({"unknown_plugin_type", "input_type", "input_type_missing"})
_PATTERNS = {
    r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$": "use letters, digits, '.', '_' or '-', starting with a letter or digit",
    r"^[a-z0-9][a-z0-9._-]*$":
        "use lower-case letters, digits, '.', '_' or '-', starting with a letter or digit",
    r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$": "use letters, digits, '_' or '-', starting with a letter or digit",
    r"^[a-zA-Z0-9][.a-zA-Z0-9_-]*$": "use letters, digits, '.', '_' or '-', starting with a letter or digit",
}
# Errors raised by a model's own checks, whose message is written for a person.
_CHECK_ERRORS = frozenset({"value_error", "assertion_error"})


def load_flow(text: str, *, file: str | None = None, registry: PluginRegistry | None = None,
              global_defaults: Sequence[PluginDefault] = ()) -> Flow:
    """Parse and check a flow completely; raise ``FlowValidationError`` with every problem found."""
    flow = _load(text, file, registry, global_defaults, flow_model.Flow, "flow", "id, namespace and tasks")
    return flow.with_source(text)


def load_template(text: str, *, file: str | None = None, registry: PluginRegistry | None = None,
                  global_defaults: Sequence[PluginDefault] = ()) -> FlowTemplate:
    """Parse and check a template (Kestra's deprecated flow templates) as a flow is checked: its tasks and
    errors are validated by the same models; ``FlowValidationError`` with every problem found."""
    from kestra_stream.models.template import FlowTemplate

    template = _load(text, file, registry, global_defaults, FlowTemplate, "template", "id, namespace and tasks")
    return template.with_source(text)


M = TypeVar("M", bound=BaseModel)


def _load(text: str, file: str | None, registry: PluginRegistry | None, global_defaults: Sequence[PluginDefault],
          model: type[M], kind: str, required: str) -> M:
    parsed = parse_source(text, file=file)
    if isinstance(parsed, FlowProblem):
        raise FlowValidationError([parsed])
    source = parsed
    data = source.data
    if not isinstance(data, dict):
        got = "an empty document" if data is None else f"a {type(data).__name__}"
        raise FlowValidationError([source.problem(
            f"a {kind} must be a YAML mapping with at least {required}; got {got}")])
    registry = registry or default_registry()
    flow_id = data.get("id") if isinstance(data.get("id"), str) else None
    namespace = data.get("namespace") if isinstance(data.get("namespace"), str) else None

    flow_defaults = _plugin_defaults(source)
    checked = run_checks(source, registry)
    problems = list(checked.problems)
    context = {"registry": registry,
               "plugin_defaults": [*global_defaults, *flow_defaults]}
    loaded: M | None = None
    try:
        loaded = model.model_validate(data, context=context)
    except ValidationError as exc:
        covered = {p.path for p in problems}
        for error in exc.errors():
            problem = _problem(source, error, registry)
            repeated = error["type"] in _CHECK_ERRORS and _error_path(source, error) in checked.superseded
            if problem.path not in covered and not repeated:
                problems.append(problem)
    except KestraStreamError as exc:  # raised by plugin code outside pydantic's error handling
        problems.append(source.problem(str(exc)))
    if problems or loaded is None:
        raise FlowValidationError(_ordered(problems), flow_id=flow_id, namespace=namespace)
    return loaded


def flow_warnings(text: str, *, file: str | None = None) -> list[FlowProblem]:
    """What is wrong in a flow but does not refuse it: expressions that will fail when rendered."""
    parsed = parse_source(text, file=file)
    return [] if isinstance(parsed, FlowProblem) else expression_warnings(parsed)


def load_flow_file(path: str | FsPath, *, registry: PluginRegistry | None = None,
                   global_defaults: Sequence[PluginDefault] = ()) -> Flow:
    """``load_flow`` on a file's text; problems carry the file's name."""
    file = FsPath(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlowValidationError([FlowProblem(f"cannot read the flow file: {exc.strerror or exc}",
                                               file=str(file))]) from exc
    except UnicodeDecodeError as exc:
        raise FlowValidationError([FlowProblem(f"the flow file is not UTF-8 text: {exc.reason}",
                                               file=str(file))]) from exc
    return load_flow(text, file=str(file), registry=registry, global_defaults=global_defaults)


def flow_files(paths: Iterable[str | FsPath]) -> list[FsPath]:
    """The flow files named by ``paths``: files as given, directories searched for *.yml / *.yaml.

    A path that does not exist raises ``FlowValidationError`` naming it.
    """
    found: list[FsPath] = []
    for raw in paths:
        path = FsPath(raw)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in FLOW_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise FlowValidationError([FlowProblem(
                "no such file or directory; give a flow file or a directory of *.yml / *.yaml files",
                file=str(path))])
    return found


def load_flows(paths: Iterable[str | FsPath], *, registry: PluginRegistry | None = None,
               global_defaults: Sequence[PluginDefault] = ()) -> list[Flow]:
    """Every flow under ``paths``; one ``FlowValidationError`` with the problems of every bad file."""
    flows: list[Flow] = []
    problems: list[FlowProblem] = []
    for file in flow_files(paths):
        try:
            flows.append(load_flow_file(file, registry=registry, global_defaults=global_defaults))
        except FlowValidationError as exc:
            problems += exc.problems
    if problems:
        raise FlowValidationError(problems)
    return flows


def _plugin_defaults(source: Source) -> list[PluginDefault]:
    """The flow's own pluginDefaults, read before the flow is validated so that they apply to it.

    Invalid ones are reported by the model's validation; only the valid ones are applied.
    """
    key = "pluginDefaults" if "pluginDefaults" in source.data else "taskDefaults"
    raw = source.data.get(key)
    if not isinstance(raw, list):
        return []
    defaults: list[PluginDefault] = []
    for item in raw:
        try:
            defaults += _DEFAULTS.validate_python([item])
        except ValidationError:
            continue
    return defaults


def _ordered(problems: list[FlowProblem]) -> list[FlowProblem]:
    unique: dict[tuple[str, int | None, int | None], FlowProblem] = {}
    for problem in problems:
        unique.setdefault((problem.message, problem.line, problem.column), problem)
    return sorted(unique.values(), key=lambda p: (p.line or 0, p.column or 0))


def _error_path(source: Source, error: ErrorDetails) -> str:
    return format_path(_raw_path(source.data, tuple(error["loc"])))


def _raw_path(data: Any, loc: Sequence[str | int]) -> Path:
    """The part of a pydantic ``loc`` that names nodes of the document.

    Parts that are pydantic's own (a union member's name, a discriminator's tag) are skipped.
    """
    path: list[PathPart] = []
    node = data
    for part in loc:
        in_mapping = isinstance(node, Mapping) and isinstance(part, str) and part in node
        if in_mapping or (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)):
            node = node[part]
            path.append(part)
    return tuple(path)


def _problem(source: Source, error: ErrorDetails, registry: PluginRegistry) -> FlowProblem:
    loc = tuple(error["loc"])
    kind = error["type"]
    path = _raw_path(source.data, loc)
    name = _last_name(loc)
    if kind == "missing":
        if path and isinstance(path[-1], str):  # a nested mapping lacking it: point at its key
            line, column = _pos_key(source, path)
            return FlowProblem(f"missing required property '{name}'{_of(source, path)}; add it",
                               format_path((*path, name)), line, column, source.file)
        line, column = _pos(source, path)
        return FlowProblem(f"missing required property '{name}'{_of(source, path)}; add it",
                           format_path((*path, name)), line, column, source.file)
    if kind == "extra_forbidden":
        message = f"unknown property '{name}'{_of(source, path[:-1])}{_close(source, path, registry)}"
        return source.problem(message, path, key=True)
    node = _node(source.data, path)
    if kind in _TYPE_ERRORS or kind == "union_tag_invalid":
        at_type = (*path, "type") if isinstance(node, Mapping) and "type" in node else path
        message = str(error["msg"]) if kind in _TYPE_ERRORS else _describe(error, name, path)
        return source.problem(message, at_type)
    # raised by a model of ours, already worded for a person
    message = str(error["msg"]) if kind not in _BUILTIN_ERRORS else _describe(error, name, path)
    if isinstance(node, Mapping) and (kind not in _BUILTIN_ERRORS or kind in _CHECK_ERRORS):
        return _at_quoted(source, message, path, node)
    return source.problem(message, path)


def _at_quoted(source: Source, message: str, path: Path, node: Mapping[str, Any]) -> FlowProblem:
    """A problem about a whole mapping, pointed at the key or value its message quotes, if any.

    A model-level check (a cron, a reserved label) fails on the mapping that holds the culprit;
    the message quotes it, which says which entry of the mapping to point at.
    """
    # The id and type name the owner, and messages quote them for that: the culprit is elsewhere.
    entries = sorted(node.items(), key=lambda item: item[0] in ("id", "type"))
    for key, value in entries:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and _quotes(message, value):
            return source.problem(message, (*path, key))
    for key in node:
        if _quotes(message, key):
            return source.problem(message, (*path, key), key=True)
    # A nested mapping is pointed at by its key; a list item at its first line.
    return source.problem(message, path, key=bool(path) and isinstance(path[-1], str))


def _quotes(message: str, value: Any) -> bool:
    text = str(value)
    return bool(text) and (f"'{text}'" in message or f'"{text}"' in message)


def _node(data: Any, path: Path) -> Any:
    node = data
    for part in path:
        node = node[part]
    return node


def _pos(source: Source, path: Path) -> tuple[int | None, int | None]:
    pos = source.position(path)
    return pos if pos is not None else (None, None)


def _pos_key(source: Source, path: Path) -> tuple[int | None, int | None]:
    pos = source.position(path, key=True)
    return pos if pos is not None else (None, None)


def _last_name(loc: Sequence[str | int]) -> str:
    return next((p for p in reversed(loc) if isinstance(p, str)), "")


def _of(source: Source, path: Path) -> str:
    """`` of task 'x' (its type)`` for a path that is a task, trigger or condition mapping."""
    node = _node(source.data, path)
    if isinstance(node, Mapping) and isinstance(node.get("type"), str):
        if isinstance(node.get("id"), str):
            return f" of '{node['id']}' ({node['type']})"
        owner = next((p for p in reversed(path) if isinstance(p, str)), "")
        return f" of {owner} (type {node['type']})" if owner else f" (type {node['type']})"
    if not path:
        return " of the flow"
    return ""


def _close(source: Source, path: Path, registry: PluginRegistry) -> str:
    """Known property names close to the unknown one at ``path``, as a hint."""
    parent: Any = source.data
    for part in path[:-1]:
        parent = parent[part]
    known = _known_properties(parent, registry) if len(path) > 1 else _model_names(flow_model.Flow)
    close = difflib.get_close_matches(str(path[-1]), known, n=2, cutoff=0.6)
    if close:
        return f"; did you mean {' or '.join(repr(c) for c in close)}?"
    return "; remove it or check its spelling"


def _known_properties(node: Any, registry: PluginRegistry) -> list[str]:
    if not isinstance(node, Mapping) or not isinstance(node.get("type"), str):
        return []
    for kind in PluginKind:
        cls = registry.resolve(kind, node["type"])
        if cls is not None:
            return _model_names(cls)
    return []


def _model_names(cls: type[BaseModel]) -> list[str]:
    names: list[str] = []
    for field_name, info in cls.model_fields.items():
        names.append(info.alias or field_name)
    return names


def _describe(error: ErrorDetails, name: str, path: Path) -> str:
    kind = error["type"]
    msg = str(error["msg"])
    ctx = error.get("ctx") or {}
    given = error.get("input")
    if kind in ("value_error", "assertion_error"):
        return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "union_tag_invalid":
        what = name if name and not name.endswith("s") else name[:-1]
        return (f"unknown {what} type {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}")
    if kind == "union_tag_not_found":
        return f"'{name}' needs a 'type'; expected one of its known types"
    if kind == "string_pattern_mismatch":
        rule = _PATTERNS.get(str(ctx.get("pattern")), f"it must match {ctx.get('pattern')}")
        return f"invalid {name} {given!r}: {rule}"
    if kind == "string_too_long":
        return f"'{name}' is too long: at most {ctx.get('max_length')} characters"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return f"invalid {name} {given!r}: it must be {msg.removeprefix('Input should be ')}"
    if kind == "too_short":
        return f"'{name}' {msg.removeprefix('List ')}"
    if kind in ("literal_error", "enum"):
        return f"invalid {name} {given!r}: {msg.removeprefix('Input ')}"
    if error["type"].startswith("pydantic_") or "{" in msg:
        return msg
    if msg.startswith("Input should"):
        return f"wrong type for '{name}': {msg.removeprefix('Input ')}, got {_shown(given)}"
    return f"{name}: {msg}" if name else msg


def _shown(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
