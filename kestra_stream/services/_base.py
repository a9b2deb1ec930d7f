"""What every local service has in common: its directory layout and its lifecycle hooks."""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from pathlib import Path

from kestra_stream.services._process import LaunchSpec, Progress, ServiceError
from kestra_stream.services._settings import ServiceName, ServicesSettings


class LocalService(ABC):
    """One server run from files under ``<home>/<name>/``.

    Layout: ``dist/`` what was downloaded or built, ``data/`` what the server stores,
    ``logs/`` its output, ``run/`` its pid file and lock.
    """

    name: ServiceName
    ready_timeout: float = 90.0  # seconds, cold JVM start on a busy 2-core machine included

    def __init__(self, settings: ServicesSettings) -> None:
        self.settings = settings
        self.dir = settings.service_dir(self.name)

    @property
    def dist_dir(self) -> Path:
        return self.dir / "dist"

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def logs_dir(self) -> Path:
        return self.dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.dir / "run"

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def lock_file(self) -> Path:
        return self.run_dir / f"{self.name}.lock"

    @property
    def out_log(self) -> Path:
        """The server process's stdout and stderr."""
        return self.logs_dir / f"{self.name}.out"

    @property
    def install_log(self) -> Path:
        return self.logs_dir / "install.log"

    @property
    def marker(self) -> str:
        """A string found in the server's command line, to tell it from a recycled pid."""
        return str(self.dist_dir)

    @property
    def endpoint(self) -> str:
        return self.settings.endpoint(self.name)

    def logs(self) -> list[Path]:
        """Logs worth showing when the server fails to start, most useful last."""
        return [self.out_log]

    def describe(self) -> str:
        """Where it listens, in one line for people."""
        ports = ", ".join(f"{role} 127.0.0.1:{port}" for role, port in self.settings.ports(self.name).items())
        return f"{self.endpoint}  ({ports})"

    # What to install when ``available()`` is False (services that need system packages).
    unavailable_hint: str = ""

    def available(self) -> bool:
        """Whether this machine can install and run it (``up`` without names leaves out those that cannot)."""
        return True

    @abstractmethod
    def installed(self) -> bool:
        """True when everything needed to start is already on disk."""

    @abstractmethod
    def install(self, progress: Progress) -> None:
        """Download or build what the server needs (idempotent, reuses tool caches)."""

    @abstractmethod
    def prepare(self) -> LaunchSpec:
        """Write configuration, initialise storage on first use; return how to start the server."""

    @abstractmethod
    def probe(self) -> bool:
        """True when the server answers requests (quick: at most a couple of seconds)."""

    def require_tool(self, tool: str, hint: str) -> str:
        path = shutil.which(tool)
        if path is None:
            raise ServiceError(self.name, f"`{tool}` was not found on PATH; {hint}")
        return path


def java_home() -> Path:
    """The JDK that runs `java` on PATH (or $JAVA_HOME when set)."""
    import os

    if os.environ.get("JAVA_HOME"):
        return Path(os.environ["JAVA_HOME"])
    java = shutil.which("java")
    if java is None:
        raise ServiceError("java", "no `java` on PATH and JAVA_HOME is unset; install a JDK 17 "
                                   "(e.g. `apt-get install openjdk-17-jdk-headless`)")
    return Path(java).resolve().parent.parent


def maven_argv(*goals: str) -> list[str]:
    """A batch-mode, colourless Maven invocation (downloads are still reported, one line each)."""
    return ["mvn", "-B", "-Dstyle.color=never", *goals]


def maven_progress_line(line: str) -> str | None:
    """Maven's lines worth showing: each jar or zip it downloads, and what goes wrong."""
    text = line.removeprefix("[INFO] ")
    if text.startswith("Downloaded from") and (".jar " in text or ".zip " in text):
        return text
    return line if line.startswith(("[ERROR]", "[WARNING]")) else None
