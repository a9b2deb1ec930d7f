"""logToFile and http.Request's encryptBody, run as a user would run them (`kestra-stream execute`).

Both run on both backends (the Kafka one in a process of its own, as the cases do), but for a missing
key, embedded only (the same worker code refuses it on both). Not cases under cases/: their expectations
(a file in internal storage, a local HTTP server, an encryption key in the worker's environment) are
beyond what a case.yaml says.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kestra_stream import encryption
from kestra_stream.cli import main
from kestra_stream.storage import StorageSettings
from tests.compat.test_compat_cases import _execute as run_execute

SECRET_ANSWER = "the account balance is 42"

LOG_TO_FILE = """\
id: log_to_file
namespace: company.team
tasks:
  - id: noisy
    type: io.kestra.plugin.core.log.Log
    logToFile: true
    message:
      - first line to the file
      - second line to the file
  - id: quiet
    type: io.kestra.plugin.core.log.Log
    message: to the log store
"""

ENCRYPT_BODY = """\
id: encrypt_body
namespace: company.team
inputs:
  - id: url
    type: STRING
tasks:
  - id: req
    type: io.kestra.plugin.core.http.Request
    uri: "{{ inputs.url }}"
    encryptBody: true
  - id: clear
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.req.encryptedBody }}"
"""


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = SECRET_ANSWER.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """No request lines on the test's stderr."""


@pytest.fixture
def server() -> Iterator[str]:
    """A local HTTP server on its own thread: `execute` runs its own event loop in the test's thread."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/balance"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _execute(tmp_path: Path, source: str, *args: str, backend: str = "embedded",
             request: pytest.FixtureRequest | None = None) -> tuple[int, dict[str, Any]]:
    flow = tmp_path / "flow.yaml"
    flow.write_text(source)
    argv = ["execute", str(flow), "--home", str(tmp_path / "home"), "--with-logs", "--output", "json", *args]
    if backend == "embedded":
        result = CliRunner().invoke(main, argv, catch_exceptions=False)
        exit_code, stdout, stderr = result.exit_code, result.stdout, result.stderr
    else:
        assert request is not None
        exit_code, stdout, stderr = run_execute(backend, argv, request, False)
    assert stdout, stderr
    return exit_code, json.loads(stdout)


def _run(document: dict[str, Any], task_id: str) -> dict[str, Any]:
    return next(tr for tr in document["taskRunList"] if tr["taskId"] == task_id)


def _read(home: Path, uri: str) -> str:
    """A file of internal storage, where `execute --home` put it."""
    return asyncio.run(StorageSettings.load().build(home).get(uri)).decode()


@pytest.mark.parametrize("backend", ["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def test_log_to_file_puts_the_lines_in_the_attempts_log_file_and_not_in_the_log_store(
        tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    exit_code, document = _execute(tmp_path, LOG_TO_FILE, backend=backend, request=request)
    assert (exit_code, document["state"]["current"]) == (0, "SUCCESS")
    noisy = _run(document, "noisy")
    log_file = noisy["attempts"][0]["logFile"]
    assert log_file.startswith("kestra:///company/team/log-to-file/executions/")
    text = _read(tmp_path / "home", log_file)
    assert "INFO  first line to the file\n" in text and "INFO  second line to the file\n" in text
    assert not [line for line in document["logs"] if line["taskId"] == "noisy"]
    assert [line["message"] for line in document["logs"] if line["taskId"] == "quiet"] == ["to the log store"]
    assert _run(document, "quiet")["attempts"][0]["logFile"] is None


@pytest.mark.parametrize("backend", ["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def test_encrypt_body_outputs_the_body_encrypted_and_a_later_task_reads_it_in_clear(
        tmp_path: Path, server: str, monkeypatch: pytest.MonkeyPatch, backend: str,
        request: pytest.FixtureRequest) -> None:
    key_text = base64.b64encode(bytes(range(32))).decode()
    monkeypatch.setenv(encryption.KEY_VARIABLE, key_text)  # the Kafka run's process inherits it
    exit_code, document = _execute(tmp_path, ENCRYPT_BODY, "--input", f"url={server}", backend=backend,
                                   request=request)
    assert (exit_code, document["state"]["current"]) == (0, "SUCCESS"), document["logs"]
    outputs = _run(document, "req")["outputs"]
    assert outputs["body"] is None and outputs["code"] == 200
    assert outputs["encryptedBody"]["type"] == "io.kestra.datatype:aes_encrypted"
    assert SECRET_ANSWER not in json.dumps(outputs)
    key = encryption.key_from({encryption.KEY_VARIABLE: key_text})
    assert encryption.decrypt(key, outputs["encryptedBody"]["value"]) == SECRET_ANSWER
    assert _run(document, "clear")["outputs"] == {"value": SECRET_ANSWER}


def test_encrypt_body_without_an_encryption_key_fails_the_task_saying_which_setting_to_set(
        tmp_path: Path, server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(encryption.KEY_VARIABLE, raising=False)
    exit_code, document = _execute(tmp_path, ENCRYPT_BODY, "--input", f"url={server}")
    assert (exit_code, document["state"]["current"]) == (1, "FAILED")
    assert _run(document, "req")["state"]["current"] == "FAILED"
    assert [line for line in document["logs"] if line["taskId"] == "req" and line["level"] == "ERROR"
            and encryption.KEY_VARIABLE in line["message"]], document["logs"]
