"""MinIO, built from source through the Go module proxy, at a pinned version."""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from kestra_stream.services._base import LocalService
from kestra_stream.services._process import LaunchSpec, Progress, run_tool
from kestra_stream.services._settings import BIND_ADDRESS, ServiceName


class GoBuildProgress:
    """Turns `go install -v` output (one line per package) into a line every ``every`` packages."""

    def __init__(self, every: int = 100) -> None:
        self.every = every
        self.compiled = 0

    def __call__(self, line: str) -> str | None:
        # go messages, "# package" headers of compile errors, and the "file.go:12:5: ..." lines
        if line.startswith(("go: ", "#")) or ".go:" in line:
            return line
        self.compiled += 1
        if self.compiled % self.every == 0:
            return f"compiled {self.compiled} packages (now {line})"
        return None


# What makes a cold build as fast as Go allows: no cgo (nothing for a C compiler to do), no DWARF
# or symbol tables to write at link time (-s -w), no VCS stamping; -trimpath keeps the local paths
# out of the binary so that it does not depend on where the home was when it was built.
GO_BUILD_FLAGS = ("-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-modcacherw")


class MinIO(LocalService):
    name: ServiceName = "minio"
    ready_timeout = 120.0

    @property
    def version_dir(self) -> Path:
        """Keyed by the MinIO version: a home shared by several machines (a CI cache) builds it once."""
        return self.dist_dir / self.settings.minio_version

    @property
    def binary(self) -> Path:
        return self.version_dir / "minio"

    @property
    def go_dir(self) -> Path:
        """Go's module and build caches, kept with the home so that one cached directory holds them."""
        return self.dir / "go"

    def installed(self) -> bool:
        return self.binary.exists() and os.access(self.binary, os.X_OK)

    def install(self, progress: Progress) -> None:
        go = self.require_tool("go", "install Go 1.24 or newer (https://go.dev/dl/)")
        module = f"github.com/minio/minio@{self.settings.minio_version}"
        progress(f"building {module} with `go install` (minutes the first time; the binary is kept in "
                 f"{self.version_dir} and Go's caches in {self.go_dir}, so this home never builds it again)")
        # Built beside its final place and renamed into it: an interrupted build leaves no binary
        # that `installed()` would take for a complete one.
        staging = self.version_dir.with_name(f".{self.version_dir.name}.building")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        run_tool(self.name, [go, "install", "-v", *GO_BUILD_FLAGS, module], env=self.go_env(staging),
                 cwd=staging, progress=progress, log_file=self.install_log, show=GoBuildProgress())
        self.version_dir.mkdir(parents=True, exist_ok=True)
        os.replace(staging / "minio", self.binary)
        shutil.rmtree(staging, ignore_errors=True)

    def go_env(self, gobin: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The go command's environment: caches under the home unless the caller chose others."""
        env = dict(os.environ if environ is None else environ)
        env["GOBIN"] = str(gobin)
        env["CGO_ENABLED"] = "0"
        env.setdefault("GOMODCACHE", str(self.go_dir / "mod"))
        env.setdefault("GOCACHE", str(self.go_dir / "cache"))
        # MinIO's go.mod names a toolchain; any Go >= its `go` line builds it, so do not let the
        # go command go and download another toolchain.
        env.setdefault("GOTOOLCHAIN", "local")
        return env

    def prepare(self) -> LaunchSpec:
        s = self.settings
        for d in (self.data_dir, self.logs_dir):
            d.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update({"MINIO_ROOT_USER": s.minio_access_key, "MINIO_ROOT_PASSWORD": s.minio_secret_key,
                    "MINIO_UPDATE": "off", "MINIO_BROWSER_REDIRECT": "off"})
        argv = [str(self.binary), "server", str(self.data_dir),
                "--address", f"{BIND_ADDRESS}:{s.minio_port}",
                "--console-address", f"{BIND_ADDRESS}:{s.minio_console_port}"]
        return LaunchSpec(argv=argv, cwd=self.dir, log_file=self.out_log, env=env)

    def describe(self) -> str:
        s = self.settings
        return (f"{self.endpoint}  (s3 127.0.0.1:{s.minio_port}, console http://127.0.0.1:"
                f"{s.minio_console_port}, access key {s.minio_access_key})")

    def probe(self) -> bool:
        return minio_ready(self.endpoint)


def minio_ready(endpoint: str, timeout: float = 3.0) -> bool:
    """True when MinIO's liveness endpoint answers 200."""
    url = endpoint if "://" in endpoint else f"http://{endpoint}"
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/minio/health/live", timeout=timeout) as answer:
            return int(answer.status) == 200
    except (urllib.error.URLError, OSError):
        return False
