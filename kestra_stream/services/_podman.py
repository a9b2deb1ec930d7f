"""Podman's Docker-compatible API on a unix socket under the home: the container engine of workers.

Debian's `podman` (with `runc`) runs as root. Its configuration and image store live under the
home, so that it shares nothing with a Podman the machine runs otherwise. Two settings make it run
on machines like these: `runc`, since crun refuses cgroups in hybrid (v1 + v2) mode, and default
ulimits well under this process's own hard limits, since raising them needs CAP_SYS_RESOURCE, which
these machines lack (crun and runc fail with "setrlimit: operation not permitted").
"""

from __future__ import annotations

import http.client
import os
import resource
import shutil
import socket
from pathlib import Path

from kestra_stream.services._base import LocalService
from kestra_stream.services._process import LaunchSpec, Progress
from kestra_stream.services._settings import ServiceName

_TOOLS_HINT = "install Debian's podman and runc as root (`make podman`, or `apt-get install podman runc`)"


class Podman(LocalService):
    name: ServiceName = "podman"
    ready_timeout = 30.0

    @property
    def socket_path(self) -> Path:
        return self.run_dir / "podman.sock"

    @property
    def containers_conf(self) -> Path:
        return self.dist_dir / "containers.conf"

    @property
    def storage_conf(self) -> Path:
        return self.dist_dir / "storage.conf"

    @property
    def marker(self) -> str:
        return str(self.socket_path)

    unavailable_hint = f"podman or runc is not on PATH; {_TOOLS_HINT}"

    def available(self) -> bool:
        return shutil.which("podman") is not None and shutil.which("runc") is not None

    def installed(self) -> bool:
        return self.containers_conf.exists() and self.storage_conf.exists() and self.available()

    def install(self, progress: Progress) -> None:
        self.require_tool("podman", _TOOLS_HINT)
        runc = self.require_tool("runc", _TOOLS_HINT)
        self.dist_dir.mkdir(parents=True, exist_ok=True)
        ulimits = ", ".join(f'"{name}={_hard_limit(limit)}:{_hard_limit(limit)}"'
                            for name, limit in (("nofile", resource.RLIMIT_NOFILE),
                                                ("nproc", resource.RLIMIT_NPROC)))
        self.containers_conf.write_text(
            "[containers]\n"
            f"default_ulimits = [{ulimits}]\n"
            "[engine]\n"
            'runtime = "runc"\n'
            f'tmp_dir = "{self.run_dir / "tmp"}"\n'
            "[engine.runtimes]\n"
            f'runc = ["{runc}"]\n')
        self.storage_conf.write_text(
            "[storage]\n"
            'driver = "overlay"\n'
            f'graphroot = "{self.data_dir / "storage"}"\n'
            f'runroot = "{self.run_dir / "storage"}"\n')
        progress(f"configured under {self.dist_dir} (images are stored in {self.data_dir})")

    def prepare(self) -> LaunchSpec:
        for d in (self.data_dir, self.logs_dir, self.run_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.socket_path.unlink(missing_ok=True)  # left by a server that was killed
        env = dict(os.environ)
        env.update({"CONTAINERS_CONF": str(self.containers_conf),
                    "CONTAINERS_STORAGE_CONF": str(self.storage_conf)})
        argv = [self.require_tool("podman", _TOOLS_HINT), "system", "service", "--time=0",
                f"unix://{self.socket_path}"]
        return LaunchSpec(argv=argv, cwd=self.dir, log_file=self.out_log, env=env)

    def describe(self) -> str:
        return f"{self.endpoint}  (Docker Engine API; worker setting KESTRA_STREAM_DOCKER_HOST={self.endpoint})"

    def probe(self) -> bool:
        return podman_ready(self.endpoint)


# Below this process's hard limits, and no higher than this: on these machines runc was refused
# nofile 20000 (the hard limit) and nproc 48000 (of 96362), and runs with 16384 for both.
_ULIMIT_CAP = 16384


def _hard_limit(limit: int) -> int:
    hard = resource.getrlimit(limit)[1]
    return _ULIMIT_CAP if hard == resource.RLIM_INFINITY else min(hard, _ULIMIT_CAP)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def podman_ready(endpoint: str, timeout: float = 3.0) -> bool:
    """True when a Docker-compatible engine answers ``GET /_ping`` at ``unix://<socket>``."""
    if not endpoint.startswith("unix://"):
        return False
    connection = _UnixConnection(endpoint.removeprefix("unix://"), timeout)
    try:
        connection.request("GET", "/_ping")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()
