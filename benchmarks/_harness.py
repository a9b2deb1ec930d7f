"""What every benchmark script shares: flow fixtures, statistics, the machine, the printed table.

The scripts run as ``.venv/bin/python benchmarks/bench_x.py``, so this module is imported from
the scripts' own folder rather than as part of the ``kestra_stream`` package.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FLOWS_DIR = Path(__file__).resolve().parent / "flows"


def flow_source(name: str) -> str:
    """The YAML text of ``benchmarks/flows/<name>.yaml``."""
    path = FLOWS_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in FLOWS_DIR.glob("*.yaml")))
        raise SystemExit(f"no benchmark flow '{name}' in {FLOWS_DIR}; known flows: {known}")
    return path.read_text()


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``pct`` % of the values at or below it."""
    if not values:
        raise ValueError("percentile of no values: run at least one repetition")
    if not 0 < pct <= 100:
        raise ValueError(f"percentile {pct} is outside (0, 100]")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of no values: run at least one repetition")
    return float(statistics.median(values))


@dataclass
class Row:
    """One line of a result table: a named figure, its unit, and the spread behind it."""

    name: str
    value: float
    unit: str
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def machine() -> dict[str, Any]:
    """The machine a figure was measured on, as recorded next to it in RESULTS.md."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gib: float | None = None
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
        # The figures are only as quiet as the machine: other processes share these CPUs.
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def format_value(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def document(title: str, rows: Sequence[Row], settings: dict[str, Any]) -> dict[str, Any]:
    """What ``--json`` prints and ``results/*.json`` hold: the machine, the settings and every row."""
    return {"benchmark": title, "machine": machine(), "settings": settings, "results": [asdict(row) for row in rows]}


def report(title: str, rows: Sequence[Row], settings: dict[str, Any], *, as_json: bool) -> None:
    """Print the rows as a small aligned table, or as one JSON document with the machine and settings."""
    if as_json:
        json.dump(document(title, rows, settings), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    info = machine()
    print(f"{title} — {info['cpu']}, {info['nproc']} CPU, {info['memory_gib']} GiB, Python {info['python']}, "
          f"{info['date']}, load {info['load_average_1m']}")
    print("settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    width = max(len(row.name) for row in rows)
    for row in rows:
        value = f"{format_value(row.value)} {row.unit}"
        print(f"  {row.name:<{width}}  {value:>18}  {row.detail}")


# ----- CPU per process, from /proc ---------------------------------------------------------------------
@dataclass(frozen=True)
class ProcStat:
    """One line of ``/proc/<pid>/stat``, the part a CPU account needs."""

    pid: int
    ppid: int
    name: str
    cpu_seconds: float  # utime + stime: the process's own threads, not its reaped children


def parse_proc_stat(text: str, ticks_per_second: float) -> ProcStat:
    """Parse ``/proc/<pid>/stat``; the command name is in parentheses and may itself hold spaces or ')'."""
    head, tail = text.split(" (", 1)
    name, rest = tail.rsplit(")", 1)
    fields = rest.split()
    # After the name: state(0) ppid(1) ... utime(11) stime(12), per proc(5).
    return ProcStat(pid=int(head), ppid=int(fields[1]), name=name,
                    cpu_seconds=(int(fields[11]) + int(fields[12])) / ticks_per_second)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process (a child's rusage is only known after it exits)."""
    return parse_proc_stat(Path(f"/proc/{pid}/stat").read_text(), os.sysconf("SC_CLK_TCK")).cpu_seconds


def proc_table() -> dict[int, ProcStat]:
    """Every process of the machine now; one that exits while being read is left out."""
    ticks = float(os.sysconf("SC_CLK_TCK"))
    table: dict[int, ProcStat] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                table[int(entry.name)] = parse_proc_stat((entry / "stat").read_text(), ticks)
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
    return table


def process_tree(table: dict[int, ProcStat], root: int) -> list[int]:
    """``root`` and all its descendants in ``table``, root first (empty when root is not there)."""
    if root not in table:
        return []
    children: dict[int, list[int]] = {}
    for stat in table.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop(0)
        tree.append(pid)
        todo.extend(sorted(children.get(pid, [])))
    return tree


COMPONENTS = ("executor", "worker", "indexer", "webserver", "scheduler")


def command_name(pid: int, name: str) -> str:
    """``name``, or for a child of ``server standalone`` the component it runs (``python executor``)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return name
    if "kestra_stream" not in args:
        return name
    return next((f"{name} {arg}" for arg in args[args.index("kestra_stream"):] if arg in COMPONENTS), name)


def cpu_used(before: dict[int, ProcStat], after: dict[int, ProcStat], roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds each named process tree used between two snapshots, one entry per process.

    The root is reported under its name, a descendant as ``<name> / <command> <pid>``. A process
    started between the snapshots counts from zero; one that exited before ``after`` is not seen
    (its time went to its parent's children counters, which are not read).
    """
    used: dict[str, float] = {}
    for name, root in roots.items():
        for pid in process_tree(after, root):
            stat = after[pid]
            earlier = before.get(pid)
            # A recycled pid (another command now) starts from zero like a new process.
            base = earlier.cpu_seconds if earlier is not None and earlier.name == stat.name else 0.0
            label = name if pid == root else f"{name} / {command_name(pid, stat.name)} {pid}"
            used[label] = round(stat.cpu_seconds - base, 2)
    return used
