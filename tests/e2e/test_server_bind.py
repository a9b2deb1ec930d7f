"""Where `kestra-stream server local` listens: loopback unless told otherwise, and a warning when exposed openly."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

import pytest

from kestra_stream.api import ApiSettings
from tests.e2e._cli import CliProcess

STARTED = "kestra-stream embedded server:"  # printed once the API listens (after its warnings)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the IPv4 sockets in LISTEN state on ``port`` (from /proc/net/tcp)."""
    found = set()
    for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = row.split()[1], row.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def start_server(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> CliProcess:
    return CliProcess("--log-format", "json", "--log-level", "INFO", "server", "local", "--home",
                      str(tmp_path / "home"), *extra, env=env)


def events(server: CliProcess, name: str) -> list[dict[str, object]]:
    documents = [json.loads(line) for line in server.stderr if line.startswith("{")]
    return [d for d in documents if d.get("event") == name]


def test_server_local_listens_on_the_loopback_address_by_default(tmp_path: Path) -> None:
    port = free_port()
    server = start_server(tmp_path, "--port", str(port))
    try:
        server.line(server.stderr, STARTED)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30) as answer:
            assert answer.status == 200
        assert listening_addresses(port) == {"127.0.0.1"}
        [listening] = events(server, "api_listening")
        assert listening["host"] == "127.0.0.1"
        assert not events(server, "api_exposed_without_authentication")
    finally:
        server.stop()


def test_server_local_warns_once_when_it_listens_on_every_interface_without_authentication(tmp_path: Path) -> None:
    port = free_port()
    server = start_server(tmp_path, "--host", "0.0.0.0", "--port", str(port))
    try:
        server.line(server.stderr, STARTED)
        assert listening_addresses(port) == {"0.0.0.0"}
        [warning] = events(server, "api_exposed_without_authentication")
        assert warning["level"] == "warning" and warning["host"] == "0.0.0.0"
    finally:
        server.stop()


def test_server_local_does_not_warn_when_exposed_with_authentication(tmp_path: Path) -> None:
    server = start_server(tmp_path, "--port", str(free_port()),
                          env={"KESTRA_STREAM_API_HOST": "0.0.0.0", "KESTRA_STREAM_API_TOKENS": "a-long-token"})
    try:
        server.line(server.stderr, STARTED)
        [listening] = events(server, "api_listening")
        assert listening["host"] == "0.0.0.0" and listening["auth"] is True
        assert not events(server, "api_exposed_without_authentication")
    finally:
        server.stop()


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True),
                                                ("localhost", True), ("0.0.0.0", False), ("::", False),
                                                ("192.168.1.20", False), ("api.example.com", False)])
def test_only_loopback_addresses_count_as_not_exposed(host: str, loopback: bool) -> None:
    assert ApiSettings(host=host).loopback_only is loopback
