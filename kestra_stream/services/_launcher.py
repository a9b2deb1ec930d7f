"""``up``, ``down`` and ``status`` over the local services."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import structlog

from kestra_stream.services._base import LocalService
from kestra_stream.services._elasticsearch import Elasticsearch
from kestra_stream.services._kafka import Kafka
from kestra_stream.services._minio import MinIO
from kestra_stream.services._podman import Podman
from kestra_stream.services._ports import port_holder, ports_taken_message
from kestra_stream.services._process import (
    ServiceError,
    group_members,
    locked,
    pid_matches,
    port_open,
    read_pid,
    spawn,
    stop_group,
    wait_ready,
)
from kestra_stream.services._settings import ServiceName, ServicesSettings, parse_names

log = structlog.get_logger("kestra_stream.services")

Reporter = Callable[[str, str], None]
"""Receives (service name, message) as things happen: downloads, builds, starts, readiness."""

_CLASSES: dict[ServiceName, type[LocalService]] = {
    "kafka": Kafka, "elasticsearch": Elasticsearch, "minio": MinIO, "podman": Podman,
}


@dataclass(frozen=True)
class ServiceStatus:
    name: ServiceName
    installed: bool
    running: bool
    ready: bool
    pid: int | None
    endpoint: str
    listens: str
    directory: Path
    logs: tuple[Path, ...]
    rss_bytes: int  # resident memory of the whole process group, 0 when not running


def _quiet(_service: str, _message: str) -> None:
    log.debug("services.progress", service=_service, message=_message)


def service(name: ServiceName, settings: ServicesSettings) -> LocalService:
    """The launcher of one service."""
    return _CLASSES[name](settings)


def up(names: Iterable[str] | None = None, home: Path | str | None = None, *,
       settings: ServicesSettings | None = None, timeout: float | None = None,
       progress: Reporter = _quiet) -> dict[str, str]:
    """Install (once), start (unless running) and wait until ready; return the endpoints by name.

    ``timeout`` bounds the wait for readiness of each service (default: per service, 60-120 s).
    Raises ServiceError with the tail of the service's log when one fails to start.
    """
    settings = settings or ServicesSettings.load(home)
    chosen = [service(n, settings) for n in parse_names(names)]
    if not names:
        # Everything, by default, that this machine can run: Podman only where its packages are installed.
        for svc in [s for s in chosen if not s.available()]:
            progress(svc.name, f"skipped: {svc.unavailable_hint}")
        chosen = [s for s in chosen if s.available()]
    waiting: list[tuple[LocalService, int]] = []
    for svc in chosen:
        def say(line: str, _name: str = svc.name) -> None:
            progress(_name, line)

        with locked(svc.lock_file):
            pid = running_pid(svc)
            if pid is not None:
                say(f"already running (pid {pid})")
                waiting.append((svc, pid))
                continue
            _check_ports_free(svc)
            if not svc.installed():
                began = time.monotonic()
                svc.install(say)
                say(f"installed in {time.monotonic() - began:.0f} s under {svc.dist_dir}")
            spec = svc.prepare()
            pid = spawn(spec)
            svc.pid_file.parent.mkdir(parents=True, exist_ok=True)
            svc.pid_file.write_text(f"{pid}\n")
            log.info("services.started", service=svc.name, pid=pid, log=str(spec.log_file))
            say(f"started (pid {pid}), logs in {svc.logs_dir}")
            waiting.append((svc, pid))
    for svc, pid in waiting:
        def alive(_pgid: int = pid) -> bool:
            return bool(group_members(_pgid))

        waited = wait_ready(svc.name, svc.probe, alive=alive,
                            timeout=timeout if timeout is not None else svc.ready_timeout, logs=svc.logs())
        progress(svc.name, f"ready in {waited:.1f} s at {svc.describe()}")
    return {svc.name: svc.endpoint for svc in chosen}


def down(names: Iterable[str] | None = None, home: Path | str | None = None, *,
         settings: ServicesSettings | None = None, grace: float = 30.0) -> dict[str, str]:
    """Stop the services (SIGTERM, then SIGKILL after ``grace`` s); their data stays in place.

    Returns what happened to each: "stopped", "killed" or "not running".
    """
    settings = settings or ServicesSettings.load(home)
    outcome: dict[str, str] = {}
    for name in parse_names(names):
        svc = service(name, settings)
        with locked(svc.lock_file):
            pid = running_pid(svc)
            if pid is None:
                outcome[name] = "not running"
                continue
            killed = stop_group(pid, grace=grace)
            svc.pid_file.unlink(missing_ok=True)
            outcome[name] = "killed" if killed else "stopped"
            log.info("services.stopped", service=name, pid=pid, killed=killed)
    return outcome


def status(names: Iterable[str] | None = None, home: Path | str | None = None, *,
           settings: ServicesSettings | None = None) -> dict[str, ServiceStatus]:
    """Whether each service is installed, running and answering, and where."""
    settings = settings or ServicesSettings.load(home)
    result: dict[str, ServiceStatus] = {}
    for name in parse_names(names):
        svc = service(name, settings)
        pid = running_pid(svc)
        result[name] = ServiceStatus(
            name=name, installed=svc.installed(), running=pid is not None,
            ready=pid is not None and svc.probe(), pid=pid, endpoint=svc.endpoint, listens=svc.describe(),
            directory=svc.dir, logs=tuple(svc.logs()), rss_bytes=group_rss(pid) if pid else 0,
        )
    return result


def running_pid(svc: LocalService) -> int | None:
    """The pid of the service's live process, or None (a stale pid file is removed)."""
    pid = read_pid(svc.pid_file)
    if pid is None:
        return None
    if pid_matches(pid, svc.marker) or (group_members(pid) and _group_matches(pid, svc.marker)):
        return pid
    svc.pid_file.unlink(missing_ok=True)
    return None


def _group_matches(pgid: int, marker: str) -> bool:
    # The leader may have exited while its children (e.g. the Elasticsearch server JVM) live on.
    return any(pid_matches(member, marker) for member in group_members(pgid))


def _check_ports_free(svc: LocalService) -> None:
    taken = {role: port for role, port in svc.settings.ports(svc.name).items() if port_open(port)}
    if taken:
        holders = {port: port_holder(port) for port in taken.values()}
        raise ServiceError(svc.name, ports_taken_message(svc.name, taken, holders, svc.settings.home))


def group_rss(pgid: int) -> int:
    """Resident memory, in bytes, of every process in the group (from /proc/<pid>/status)."""
    total = 0
    for member in group_members(pgid):
        try:
            for line in (Path("/proc") / str(member) / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total
