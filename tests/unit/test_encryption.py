"""Encrypted outputs: Kestra's AES-GCM scheme under the server's key, and a worker reading them in clear."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import kestra_stream_plugin_core as core
import pytest

from kestra_stream import encryption
from kestra_stream.errors import ExpressionError, TaskFailure
from kestra_stream.executor.commands import RunTask
from kestra_stream.expressions import FixedFunctions, default_engine
from kestra_stream.models.log import LogEntry
from kestra_stream.models.task import LogLevel, RunnableTask
from kestra_stream.storage import LocalStorage
from kestra_stream.worker import TaskRunContext

# The key of Kestra's own tests (base64 of 24 bytes: AES-192), to show such a key is taken as it is.
KESTRA_TEST_KEY = "I6EGNzRESu3X3pKZidrqCGOHQFUFC0yK"
KEY_256 = base64.b64encode(bytes(range(32))).decode()


def _ctx(tmp_path: Path, outputs: dict[str, object], environ: dict[str, str],
         logs: list[LogEntry] | None = None) -> TaskRunContext:
    task = core.Log.model_validate({"type": "io.kestra.plugin.core.log.Log", "id": "t", "message": "x"})
    assert isinstance(task, RunnableTask)
    job = RunTask(execution_id="E1", taskrun_id="R1", attempt=1, task=task, namespace="company.team",
                  flow_id="flow", variables={"outputs": outputs})
    return TaskRunContext(job, emit_log=(logs if logs is not None else []).append,
                          storage=LocalStorage(tmp_path / "storage"), workdir_root=tmp_path / "work",
                          environ=environ)


@pytest.mark.parametrize("key_text", [KESTRA_TEST_KEY, KEY_256])
def test_a_value_encrypted_under_a_key_decrypts_under_it_and_is_an_iv_then_ciphertext_and_tag(key_text: str) -> None:
    key = encryption.key_from({encryption.KEY_VARIABLE: key_text})
    encrypted = encryption.encrypt(key, "Hello World!")
    assert len(base64.b64decode(encrypted)) == 12 + len("Hello World!") + 16
    assert encrypted != encryption.encrypt(key, "Hello World!")  # a fresh IV each time
    assert encryption.decrypt(key, encrypted) == "Hello World!"


def test_a_value_encrypted_under_another_key_is_refused() -> None:
    key = encryption.key_from({encryption.KEY_VARIABLE: KEY_256})
    other = encryption.key_from({encryption.KEY_VARIABLE: KESTRA_TEST_KEY})
    with pytest.raises(encryption.EncryptionError, match="not encrypted with this server's key"):
        encryption.decrypt(other, encryption.encrypt(key, "secret"))


@pytest.mark.parametrize(("environ", "message"), [
    ({}, "set the environment variable KESTRA_STREAM_ENCRYPTION_SECRET_KEY"),
    ({encryption.KEY_VARIABLE: "not base64!"}, "not valid base64"),
    ({encryption.KEY_VARIABLE: base64.b64encode(b"short").decode()}, "decodes to 5 bytes"),
])
def test_a_missing_or_malformed_key_says_what_to_set(environ: dict[str, str], message: str) -> None:
    with pytest.raises(encryption.EncryptionError, match=message):
        encryption.key_from(environ)


def test_encrypted_values_of_maps_at_any_depth_are_decrypted_and_the_rest_kept() -> None:
    key = encryption.key_from({encryption.KEY_VARIABLE: KEY_256})
    data = {"req": {"code": 200, "encryptedBody": encryption.encrypted_string(key, "clear"),
                    "nested": {"x": encryption.encrypted_string(key, "deep")}}, "other": [1, 2]}
    assert encryption.decrypt_values(data, key) == {
        "req": {"code": 200, "encryptedBody": "clear", "nested": {"x": "deep"}}, "other": [1, 2]}


def test_a_worker_renders_encrypted_outputs_of_earlier_tasks_in_clear_text(tmp_path: Path) -> None:
    key = encryption.key_from({encryption.KEY_VARIABLE: KEY_256})
    ctx = _ctx(tmp_path, {"req": {"encryptedBody": encryption.encrypted_string(key, "the body")}},
               {encryption.KEY_VARIABLE: KEY_256})
    assert ctx.render("{{ outputs.req.encryptedBody }}") == "the body"


def test_without_a_key_encrypted_outputs_stay_encrypted_with_a_warning(tmp_path: Path) -> None:
    key = encryption.key_from({encryption.KEY_VARIABLE: KEY_256})
    value = encryption.encrypted_string(key, "the body")
    logs: list[LogEntry] = []
    ctx = _ctx(tmp_path, {"req": {"encryptedBody": value}}, {}, logs)
    assert ctx.render("{{ outputs.req.encryptedBody }}") == value
    assert [(line.level, "left encrypted" in line.message) for line in logs] == [(LogLevel.WARN, True)]


def test_encrypting_without_a_key_fails_the_task_saying_which_setting_to_set(tmp_path: Path) -> None:
    with pytest.raises(TaskFailure, match="KESTRA_STREAM_ENCRYPTION_SECRET_KEY"):
        _ctx(tmp_path, {}, {}).encrypt("x")


def test_an_encrypted_output_has_kestras_encrypted_string_shape(tmp_path: Path) -> None:
    out = _ctx(tmp_path, {}, {encryption.KEY_VARIABLE: KEY_256}).encrypt("x")
    assert out["type"] == "io.kestra.datatype:aes_encrypted" and set(out) == {"type", "value"}


def test_the_encrypt_and_decrypt_functions_of_a_worker_round_trip_with_the_key_given(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, {}, {})
    encrypted = ctx.render(f"{{{{ encrypt('{KESTRA_TEST_KEY}', 'Hello World!') }}}}")
    assert isinstance(encrypted, str) and encrypted != "Hello World!"
    assert ctx.render(f"{{{{ decrypt('{KESTRA_TEST_KEY}', '{encrypted}') }}}}") == "Hello World!"
    key = encryption.parse_key(KESTRA_TEST_KEY, "key")
    assert encryption.decrypt(key, encrypted) == "Hello World!"
    assert ctx.render(f"{{{{ encrypt('{KESTRA_TEST_KEY}', '') }}}}") == ""


def test_decrypt_with_a_wrong_key_or_a_bad_key_fails_the_render(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, {}, {})
    encrypted = ctx.render(f"{{{{ encrypt('{KESTRA_TEST_KEY}', 'x') }}}}")
    with pytest.raises(ExpressionError, match="not encrypted with this server's key"):
        ctx.render(f"{{{{ decrypt('{KEY_256}', '{encrypted}') }}}}")
    with pytest.raises(ExpressionError, match="not valid base64"):
        ctx.render("{{ decrypt('not a key!', 'x') }}")


def test_encrypt_is_refused_where_renders_are_replayed_and_decrypt_is_not() -> None:
    engine = default_engine()
    functions = FixedFunctions(datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ExpressionError, match="only in the properties of a task run by a worker"):
        engine.render(f"{{{{ encrypt('{KESTRA_TEST_KEY}', 'x') }}}}", {}, functions)
    key = encryption.parse_key(KESTRA_TEST_KEY, "key")
    encrypted = encryption.encrypt(key, "clear")
    assert engine.render(f"{{{{ decrypt('{KESTRA_TEST_KEY}', '{encrypted}') }}}}", {}, functions) == "clear"
