"""Who holds a TCP port on this machine, for a message that says what to stop.

The listening socket is found in /proc/net/tcp{,6} and its owner by the socket's inode among
/proc/<pid>/fd (what ``ss -ltnp`` does, without psutil). Another user's processes cannot be
inspected without root: the message then says so and how to find out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kestra_stream.services._settings import SERVICE_NAMES

_LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp
# A server this launcher started runs from <home>/<service>/dist/...: its command line tells its home.
_HOME_IN_COMMAND = re.compile(rf"(/\S*?)/(?:{'|'.join(SERVICE_NAMES)})/dist/")


@dataclass(frozen=True)
class PortHolder:
    pid: int
    command: str  # the command line, arguments separated by spaces

    @property
    def home(self) -> str | None:
        """The services home of a server started by `kestra-stream services`, None for any other program."""
        found = _HOME_IN_COMMAND.search(self.command)
        return found.group(1) if found else None


def listening_inodes(port: int, proc: Path = Path("/proc")) -> set[str]:
    """Inodes of the sockets listening on ``port`` (any address, IPv4 or IPv6)."""
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def port_holder(port: int, proc: Path = Path("/proc")) -> PortHolder | None:
    """The process listening on ``port``, or None when it cannot be seen (another user's, or none)."""
    wanted = {f"socket:[{inode}]" for inode in listening_inodes(port, proc)}
    if not wanted:
        return None
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
            if any(_readlink(fd) in wanted for fd in fds):
                raw = (entry / "cmdline").read_bytes()
                return PortHolder(int(entry.name), raw.replace(b"\0", b" ").decode(errors="replace").strip())
        except OSError:  # gone, or not ours to look at
            continue
    return None


def _readlink(path: Path) -> str:
    try:
        return str(path.readlink())
    except OSError:
        return ""


def ports_taken_message(service: str, taken: Mapping[str, int], holders: Mapping[int, PortHolder | None],
                        home: Path) -> str:
    """Why ``service`` cannot start in ``home``: the taken ports by holder, who that is, and what to do."""
    by_holder: dict[PortHolder | None, list[str]] = {}
    for role, port in taken.items():
        by_holder.setdefault(holders.get(port), []).append(f"{role} port {port}")
    found: list[str] = []
    advice: list[str] = []
    for holder, ports in by_holder.items():
        which = " and ".join(ports) + (" are" if len(ports) > 1 else " is")
        if holder is None:
            numbers = ", ".join(p.rsplit(" ", 1)[1] for p in ports)
            found.append(f"{which} in use by a process this user cannot see (`ss -ltnp` as root names it: "
                         f"look for {numbers})")
            continue
        command = holder.command if len(holder.command) <= 160 else holder.command[:157] + "..."
        other = holder.home
        if other is not None and Path(other) != home:
            found.append(f"{which} in use by pid {holder.pid}, started by `kestra-stream services` with another "
                         f"home, {other} ({command})")
            advice.append(f"use that home (`export KESTRA_STREAM_HOME={other}`), or stop it "
                          f"(`kestra-stream services down {service} --home {other}`)")
        else:
            found.append(f"{which} in use by pid {holder.pid}, which `kestra-stream services` did not start "
                         f"under {home}: {command}")
            advice.append(f"stop pid {holder.pid}")
    advice.append("choose other ports (`kestra-stream services up --help`)")
    return "; ".join(found) + ". To go on: " + ", or ".join(advice) + "."
