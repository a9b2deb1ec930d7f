"""Reading flow YAML with ruamel.yaml in round-trip mode, keeping where every key and value is.

The round-trip loader keeps each mapping's and sequence's line and column, so a problem
found later (by pydantic, or by a check on the raw values) can point at the offending key or
value. Values are handed on as plain Python data (``dict``, ``list``, ``str`` ...), never
ruamel's subclasses, so that models and expressions see what a JSON document would give.

Timestamps stay text, as Kestra's YAML reader leaves them: a ``DATE`` input's
``defaults: 2024-01-01`` is the string ``"2024-01-01"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from kestra_stream.errors import FlowProblem

PathPart = str | int
Path = tuple[PathPart, ...]


class _FlowConstructor(RoundTripConstructor):
    """The round-trip constructor, with timestamps kept as the text that was written."""

    def construct_yaml_timestamp_text(self, node: Any, values: Any = None) -> str:
        return str(self.construct_scalar(node))


_FlowConstructor.add_constructor("tag:yaml.org,2002:timestamp",
                                 _FlowConstructor.construct_yaml_timestamp_text)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Constructor = _FlowConstructor
    return yaml


@dataclass(frozen=True)
class Source:
    """A parsed flow document: its plain data, and the round-trip tree that knows positions."""

    text: str
    data: Any
    tree: Any
    file: str | None = None

    def position(self, path: Sequence[PathPart], *, key: bool = False) -> tuple[int, int] | None:
        """1-based (line, column) of the deepest node ``path`` reaches.

        With ``key`` the last part is a mapping key and the key itself is pointed at (an unknown
        property); otherwise its value is. A path leaving the document stops where the
        document ends (a missing property points at the mapping that lacks it).
        """
        node = self.tree
        where = _start_of(node)
        for index, part in enumerate(path):
            last = index == len(path) - 1
            lc = getattr(node, "lc", None)
            if isinstance(node, Mapping) and isinstance(part, str) and part in node and lc is not None:
                line, col = lc.key(part) if (key and last) else lc.value(part)
                where = (line, col)
                node = node[part]
                inner = _start_of(node)
                if inner is not None and not (key and last):
                    where = inner
            elif (isinstance(node, Sequence) and not isinstance(node, str) and isinstance(part, int)
                  and 0 <= part < len(node) and lc is not None):
                where = lc.item(part)
                node = node[part]
                inner = _start_of(node)
                if inner is not None:
                    where = inner
            else:
                break
        if where is None:
            return None
        return where[0] + 1, where[1] + 1

    def problem(self, message: str, path: Sequence[PathPart] = (), *, key: bool = False) -> FlowProblem:
        pos = self.position(path, key=key)
        line, column = pos if pos is not None else (None, None)
        return FlowProblem(message=message, path=format_path(path), line=line, column=column, file=self.file)


def _start_of(node: Any) -> tuple[int, int] | None:
    lc = getattr(node, "lc", None)
    if lc is None or lc.line is None:
        return None
    return int(lc.line), int(lc.col)


def format_path(path: Sequence[PathPart]) -> str:
    """``("tasks", 0, "retry")`` -> ``tasks[0].retry``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def plain(value: Any) -> Any:
    """ruamel's round-trip values as plain Python data (dict, list, str, int, float, bool, None)."""
    if isinstance(value, Mapping):
        # Keys are text, as Kestra reads them: a Switch case `1:` is the case "1", `true:` is "true".
        return {_key_text(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def _key_text(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return "" if key is None else str(key)


def parse_source(text: str, *, file: str | None = None) -> Source | FlowProblem:
    """Parse ``text``; a YAML syntax error comes back as a problem at its line and column."""
    try:
        tree = _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # At the end of the text (an unclosed quote or bracket) the construct's start says more.
        if exc.context_mark is not None and mark is not None and mark.line >= len(text.splitlines()):
            mark = exc.context_mark
        reason = " ".join(p for p in (exc.context, exc.problem) if p) or "malformed YAML"
        reason = reason.replace("\n", " ")
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        return FlowProblem(message=f"invalid YAML: {reason}; fix the syntax (indentation, quotes, colons)",
                           line=line, column=column, file=file)
    except YAMLError as exc:
        return FlowProblem(message=f"invalid YAML: {exc}", file=file)
    return Source(text=text, data=plain(tree), tree=tree, file=file)
