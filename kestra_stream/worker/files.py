"""Files in and out of a task's working directory: ``inputFiles``, ``outputFiles`` and the output folder.

Shared by every task that works in a directory (scripts, LocalFiles) and by the worker itself
(a WorkingDirectory's seed and output files)."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from kestra_stream.errors import TaskFailure
from kestra_stream.models.task import RunContext
from kestra_stream.storage import PREFIX
from kestra_stream.worker._files import task_file_uri


def safe_join(root: Path, relative: str, *, what: str) -> Path:
    """``root / relative``, refused when ``relative`` is absolute or climbs out of ``root``."""
    pure = PurePosixPath(relative)
    if not relative or pure.is_absolute() or ".." in pure.parts or "\\" in relative:
        raise TaskFailure(f"{what} {relative!r} must be a relative path inside the working directory, "
                          "without '..'")
    return root.joinpath(*pure.parts)


def _as_mapping(rendered: Any) -> Mapping[str, Any]:
    # An expression may render to the JSON text of a map (Kestra accepts both).
    if isinstance(rendered, str):
        try:
            rendered = json.loads(rendered)
        except ValueError as exc:
            raise TaskFailure("inputFiles must be a map of file name to content or kestra:// URI, "
                              f"got text that is not a JSON object: {rendered[:100]!r}") from exc
    if not isinstance(rendered, Mapping):
        raise TaskFailure(f"inputFiles must be a map of file name to content, got {type(rendered).__name__}")
    return rendered


async def write_input_files(ctx: RunContext, workdir: Path, input_files: Any) -> list[str]:
    """Create each input file (inline text, or a kestra:// URI downloaded from storage);
    returns their names."""
    written: list[str] = []
    for raw_name, content in _as_mapping(ctx.render(input_files)).items():
        name = ctx.render_string(raw_name)
        target = safe_join(workdir, name, what="input file name")
        target.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            target.touch()
        elif isinstance(content, str) and content.startswith(PREFIX):
            await ctx.storage.open_to(content, target)
        else:
            text = content if isinstance(content, str) else json.dumps(content)
            await asyncio.to_thread(target.write_text, text, encoding="utf-8")
        written.append(name)
    return written


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """A Java-style glob (``*`` within one folder, ``**`` across folders, ``?``, ``[...]``, ``{a,b}``)
    as a regular expression over ``/``-separated relative paths."""
    out: list[str] = []
    i = 0
    depth = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:end].replace("\\", "\\\\")
                out.append("[^" + body[1:] + "]" if body.startswith("!") else "[" + body + "]")
                i = end
        elif c == "{":
            out.append("(?:")
            depth += 1
        elif c == "}" and depth:
            out.append(")")
            depth -= 1
        elif c == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + "\\Z")


def match_output_files(workdir: Path, patterns: Sequence[str]) -> list[Path]:
    """Files of ``workdir`` whose relative path matches a glob; links leading outside are skipped."""
    regexes = [glob_to_regex(p.removeprefix("./")) for p in patterns]
    if not regexes:
        return []
    root = Path(os.path.realpath(workdir))
    found: list[Path] = []
    for folder, dirs, files in os.walk(workdir, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder, name)
            relative = path.relative_to(workdir).as_posix()
            if any(r.match(relative) for r in regexes) and Path(os.path.realpath(path)).is_relative_to(root):
                found.append(path)
    return found


async def upload_output_files(ctx: RunContext, workdir: Path, patterns: Sequence[str],
                              output_dir: Path | None) -> dict[str, str]:
    """Upload every matched file (and every file of the output folder); name → kestra:// URI."""
    def matched() -> list[tuple[str, Path]]:
        pairs = [(p.relative_to(workdir).as_posix(), p) for p in match_output_files(workdir, patterns)]
        if output_dir is not None and output_dir.is_dir():
            in_dir = match_output_files(output_dir, ["**"])
            pairs += [(p.relative_to(output_dir).as_posix(), p) for p in in_dir]
        return pairs

    uploaded: dict[str, str] = {}
    if not patterns and output_dir is None:
        return uploaded  # most scripts: not even a thread hop
    for name, path in await asyncio.to_thread(matched):
        uploaded[name] = await ctx.storage.put(task_file_uri(ctx, path.name), path)
    return uploaded
