"""The engine (kestra_stream/) depends on no plugin distribution: plugins depend on it, through its SPI."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import kestra_stream

ENGINE = Path(kestra_stream.__file__).parent
PLUGIN_PREFIX = "kestra_stream_plugin_"


def plugin_references(source: str, filename: str) -> list[str]:
    """Every import of a plugin module in ``source``, and every text naming one (``importlib.import_module``,
    ``__import__``, entry-point values written in the engine): ``line: what``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value.strip()]
        else:
            continue
        found += [f"{node.lineno}: {name}" for name in names if name.startswith(PLUGIN_PREFIX)]
    return found


def engine_modules() -> list[Path]:
    return sorted(p for p in ENGINE.rglob("*.py") if "node_modules" not in p.parts)


def test_the_scan_finds_plain_lazy_and_string_imports_of_a_plugin() -> None:
    source = (
        "import kestra_stream_plugin_core\n"
        "def lazy():\n"
        "    from kestra_stream_plugin_core.flow import Sleep\n"
        "    import importlib\n"
        "    return importlib.import_module('kestra_stream_plugin_scripts._env')\n"
        "from kestra_stream.models.task import SleepTask\n"
    )
    assert plugin_references(source, "example.py") == [
        "1: kestra_stream_plugin_core", "3: kestra_stream_plugin_core.flow", "5: kestra_stream_plugin_scripts._env"]


def test_no_engine_module_imports_or_names_a_plugin_module() -> None:
    modules = engine_modules()
    assert ENGINE / "triggers" / "_flow.py" in modules  # the scan reads the engine itself
    offenders = {str(path.relative_to(ENGINE.parent)): refs for path in modules
                 if (refs := plugin_references(path.read_text(encoding="utf-8"), str(path)))}
    assert offenders == {}


def test_importing_every_engine_module_loads_no_plugin_module() -> None:
    # Catches what a text scan cannot: an import through another package that re-exports a plugin.
    names = [".".join(p.relative_to(ENGINE.parent).with_suffix("").parts).removesuffix(".__init__")
             for p in engine_modules() if p.name != "__main__.py"]
    script = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(len({names!r}))\n"
        f"print(sorted(m for m in sys.modules if m.startswith({PLUGIN_PREFIX!r})))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240, check=False,
                          stdin=subprocess.DEVNULL, cwd=ENGINE.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    count, loaded = done.stdout.splitlines()[-2:]
    assert int(count) == len(names) > 100
    assert loaded == "[]"
