"""The container engine of the tests: Podman's Docker-compatible socket, and a local image.

No public registry is reachable from the machines the suite runs on, so the image the container
tests use is built here from this machine's own files: its Python 3 (interpreter, standard
library, the shared libraries they load) and a few shell tools, imported into the engine once and
found there by tag afterwards. ``python tests/_podman.py`` builds it ahead of a run (``make podman``).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kestra_stream.services import ServicesSettings, podman_ready

TEST_IMAGE = "localhost/kestra-stream-test-python:1"

# The host's interpreter of Debian (not a virtual environment's): its standard library lives in
# /usr/lib/python3.X, and its site-packages (dist-packages) stay out of the image.
_PYTHON = Path("/usr/bin/python3")
_TOOLS = ("sh", "cat", "echo", "ls", "mkdir", "sleep", "env", "true", "false", "rm", "cp", "test")


def docker_host() -> str:
    """The engine the tests talk to: $KESTRA_STREAM_DOCKER_HOST, else the services' Podman socket."""
    return os.environ.get("KESTRA_STREAM_DOCKER_HOST") or ServicesSettings.load().endpoint("podman")


def _shared_libraries(binary: Path) -> Iterator[Path]:
    out = subprocess.run(["ldd", str(binary)], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        for word in line.split():
            if word.startswith("/"):
                yield Path(word)


def _python_files() -> Iterator[Path]:
    real = _PYTHON.resolve()
    yield real
    stdlib = Path(f"/usr/lib/{real.name}")
    for root, dirs, files in os.walk(stdlib):
        dirs[:] = [d for d in dirs if d not in ("dist-packages", "site-packages", "test", "__pycache__")]
        for name in files:
            yield Path(root) / name


def image_tarball() -> bytes:
    """A root filesystem (tar) holding the machine's Python 3 and a few shell tools."""
    if not _PYTHON.exists():
        raise RuntimeError(f"{_PYTHON} is missing: install Debian's python3 (apt-get install python3)")
    binaries = [_PYTHON.resolve()] + [Path(shutil.which(tool) or f"/bin/{tool}").resolve() for tool in _TOOLS]
    files: set[Path] = set(_python_files())
    for binary in binaries:
        files.add(binary)
        files.update(_shared_libraries(binary))
    # Extension modules of the standard library load libraries of their own (ssl, sqlite, ...).
    for ext in Path(f"/usr/lib/{_PYTHON.resolve().name}/lib-dynload").glob("*.so"):
        files.update(_shared_libraries(ext))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(files):
            tar.add(path.resolve(), arcname=str(path).lstrip("/"), recursive=False)
        for tool, target in [("bin/python3", _PYTHON.resolve()), ("bin/python", _PYTHON.resolve()),
                             *[(f"bin/{t}", Path(shutil.which(t) or f"/bin/{t}").resolve()) for t in _TOOLS]]:
            if str(target).lstrip("/") != tool:
                link = tarfile.TarInfo(tool)
                link.type, link.linkname = tarfile.SYMTYPE, str(target)
                tar.addfile(link)
        for directory in ("tmp", "root", "etc"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
    return buffer.getvalue()


def ensure_test_image(host: str) -> str:
    """Import the test image into the engine at ``host`` unless it is there already; return its tag."""
    import docker

    client = docker.DockerClient(base_url=host)
    try:
        try:
            client.images.get(TEST_IMAGE)
            return TEST_IMAGE
        except docker.errors.ImageNotFound:
            pass
        repository, tag = TEST_IMAGE.rsplit(":", 1)
        client.api.import_image_from_data(image_tarball(), repository=repository, tag=tag)
        try:
            client.images.get(TEST_IMAGE)
        except docker.errors.ImageNotFound:
            # Podman's compatible import leaves the tag out (the image is `<repository>:latest`).
            client.images.get(f"{repository}:latest").tag(repository, tag)
        return TEST_IMAGE
    finally:
        client.close()


def require_podman() -> str:
    """The engine's address when it answers; otherwise fail (CI=true) or skip the test."""
    host = docker_host()
    if podman_ready(host):
        return host
    message = (f"no container engine answers at {host}; start Podman's API with `make podman` "
               "(or `kestra-stream services up podman`)")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def podman_host() -> str:
    """The Docker-API address of a running Podman, e.g. "unix:///var/tmp/.../podman.sock"."""
    return require_podman()


@pytest.fixture(scope="session")
def container_image(podman_host: str) -> str:
    """The local image with Python 3, imported once into the engine."""
    return ensure_test_image(podman_host)


if __name__ == "__main__":
    print(ensure_test_image(docker_host()))
