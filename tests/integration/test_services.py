"""The local service launchers, and the real Kafka, Elasticsearch and MinIO they start."""

from __future__ import annotations

import io
import os
import socket
import stat
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kestra_stream.services import (
    SERVICE_NAMES,
    ServiceError,
    ServicesConfigError,
    ServicesSettings,
    down,
    status,
    up,
)
from kestra_stream.services._base import maven_progress_line
from kestra_stream.services._elasticsearch import unzip_with_modes
from kestra_stream.services._kafka import new_cluster_id
from kestra_stream.services._minio import GoBuildProgress
from kestra_stream.services._process import (
    LaunchSpec,
    group_members,
    pid_matches,
    spawn,
    stop_group,
    wait_ready,
)
from kestra_stream.services._settings import parse_names

pytest_plugins = ["tests._services"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- settings -----------------------------------------------------------------------------


def test_home_defaults_to_kestra_stream_services_under_the_user_home() -> None:
    settings = ServicesSettings.load(environ={})
    assert settings.home == Path("~/.kestra-stream/services").expanduser()


def test_home_argument_wins_over_the_environment_variable(tmp_path: Path) -> None:
    settings = ServicesSettings.load(tmp_path / "a", environ={"KESTRA_STREAM_HOME": str(tmp_path / "b")})
    assert settings.home == tmp_path / "a"
    assert ServicesSettings.load(environ={"KESTRA_STREAM_HOME": str(tmp_path / "b")}).home == tmp_path / "b"


def test_port_variables_move_endpoints_and_options_win_over_them(tmp_path: Path) -> None:
    env = {"KESTRA_STREAM_KAFKA_PORT": "19092", "KESTRA_STREAM_ELASTICSEARCH_PORT": "19200",
           "KESTRA_STREAM_MINIO_PORT": "19000"}
    settings = ServicesSettings.load(tmp_path, environ=env,
                                     overrides={"minio_port": 29000, "kafka_port": None})
    assert settings.endpoint("kafka") == "localhost:19092"
    assert settings.endpoint("elasticsearch") == "http://localhost:19200"
    assert settings.endpoint("minio") == "http://localhost:29000"


def test_invalid_port_variable_is_reported_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(ServicesConfigError, match="KESTRA_STREAM_KAFKA_PORT"):
        ServicesSettings.load(tmp_path, environ={"KESTRA_STREAM_KAFKA_PORT": "70000"})


def test_minio_credentials_default_to_minioadmin_and_follow_minio_root_variables(tmp_path: Path) -> None:
    assert ServicesSettings.load(tmp_path, environ={}).minio_access_key == "minioadmin"
    custom = ServicesSettings.load(tmp_path, environ={"MINIO_ROOT_USER": "kestra",
                                                     "MINIO_ROOT_PASSWORD": "kestra-secret"})
    assert (custom.minio_access_key, custom.minio_secret_key) == ("kestra", "kestra-secret")


def test_no_name_means_every_service_in_canonical_order() -> None:
    assert parse_names(None) == list(SERVICE_NAMES) == ["kafka", "elasticsearch", "minio", "podman"]
    assert parse_names(["minio", "kafka", "minio"]) == ["kafka", "minio"]


def test_unknown_service_name_lists_the_known_ones() -> None:
    with pytest.raises(ServicesConfigError, match="kafka, elasticsearch, minio"):
        parse_names(["zookeeper"])


# --- installers ---------------------------------------------------------------------------


def test_cluster_ids_are_22_url_safe_characters_and_differ() -> None:
    ids = {new_cluster_id() for _ in range(50)}
    assert len(ids) == 50
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert all(len(i) == 22 and set(i) <= allowed for i in ids)


def test_go_build_progress_shows_go_messages_and_every_hundredth_package() -> None:
    show = GoBuildProgress(every=100)
    shown = [show(f"github.com/x/pkg{i}") for i in range(1, 251)]
    assert [s for s in shown if s] == ["compiled 100 packages (now github.com/x/pkg100)",
                                       "compiled 200 packages (now github.com/x/pkg200)"]
    assert show("go: downloading github.com/minio/minio v1") == "go: downloading github.com/minio/minio v1"
    assert show("github.com/go-openapi/errors") is None  # a package, not an error
    assert show("cmd/server.go:12:5: undefined: x") == "cmd/server.go:12:5: undefined: x"


def test_maven_progress_shows_downloaded_archives_and_problems_only() -> None:
    jar = "Downloaded from central: https://repo/kafka_2.13-3.9.2.jar (6.1 MB at 20 MB/s)"
    assert maven_progress_line(f"[INFO] {jar}") == jar
    assert maven_progress_line("[INFO] Downloaded from central: https://repo/kafka_2.13-3.9.2.pom (3 kB)") is None
    assert maven_progress_line("[INFO] Copying a.jar to /x/a.jar") is None
    assert maven_progress_line("[ERROR] Failed to execute goal") == "[ERROR] Failed to execute goal"


def test_unzip_keeps_the_executable_bit(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        script = zipfile.ZipInfo("es/bin/elasticsearch")
        script.external_attr = (stat.S_IFREG | 0o755) << 16
        zf.writestr(script, "#!/bin/sh\n")
        zf.writestr("es/config/jvm.options", "-Xmx1g\n")
    archive = tmp_path / "es.zip"
    archive.write_bytes(buffer.getvalue())
    unzip_with_modes(archive, tmp_path / "out")
    assert os.access(tmp_path / "out/es/bin/elasticsearch", os.X_OK)
    assert (tmp_path / "out/es/config/jvm.options").read_text() == "-Xmx1g\n"


# --- processes ----------------------------------------------------------------------------


@pytest.fixture
def spawned(tmp_path: Path) -> Iterator[list[int]]:
    """Process groups started by a test, stopped whatever happens."""
    groups: list[int] = []
    yield groups
    for pgid in groups:
        stop_group(pgid, grace=0.5)


def _wait_for_text(path: Path, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in {path}")


def test_spawned_group_outlives_the_starter_and_sigterm_stops_all_of_it(tmp_path: Path,
                                                                         spawned: list[int]) -> None:
    marker = str(tmp_path / "marker-dir")
    pid = spawn(LaunchSpec(argv=["/bin/sh", "-c", "sleep 60 & sleep 61; : " + marker], cwd=tmp_path,
                           log_file=tmp_path / "out.log", env={"PATH": os.environ["PATH"]}))
    spawned.append(pid)
    deadline = time.monotonic() + 60
    while len(group_members(pid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(group_members(pid)) == 3  # sh and both sleeps
    assert pid_matches(pid, marker)
    assert not pid_matches(pid, str(tmp_path / "another-dir"))
    assert stop_group(pid, grace=30) is False
    assert group_members(pid) == []
    assert not pid_matches(pid, marker)


def test_a_process_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path,
                                                                     spawned: list[int]) -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); " \
           "time.sleep(60)"
    log = tmp_path / "out.log"
    pid = spawn(LaunchSpec(argv=[sys.executable, "-c", code], cwd=tmp_path, log_file=log))
    spawned.append(pid)
    _wait_for_text(log, "up")
    began = time.monotonic()
    assert stop_group(pid, grace=0.5) is True
    assert time.monotonic() - began >= 0.5  # it was given its grace period before the kill
    assert group_members(pid) == []


def test_wait_ready_fails_fast_with_the_log_tail_when_the_process_dies(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    pid = spawn(LaunchSpec(argv=["/bin/sh", "-c", "echo 'fatal: port taken'; exit 3"], cwd=tmp_path,
                           log_file=log, env={"PATH": os.environ["PATH"]}))
    with pytest.raises(ServiceError, match="exited before it was ready") as caught:
        wait_ready("demo", lambda: False, alive=lambda: bool(group_members(pid)), timeout=30, logs=[log],
                   interval=0.05)
    assert "fatal: port taken" in str(caught.value)


def test_wait_ready_gives_up_after_the_timeout_and_says_how_to_stop(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    log.write_text("still booting\n")
    with pytest.raises(ServiceError, match=r"not ready after 0 s .*services down demo") as caught:
        wait_ready("demo", lambda: False, alive=lambda: True, timeout=0.2, logs=[log], interval=0.05)
    assert "still booting" in str(caught.value)


def test_wait_ready_returns_as_soon_as_the_probe_answers() -> None:
    answers = iter([False, False, True])
    waited = wait_ready("demo", lambda: next(answers), alive=lambda: True, timeout=60, logs=[], interval=0.01)
    # A fourth probe would raise StopIteration: it returned at the first True, after two intervals.
    assert waited >= 0.02


# --- up / down / status without servers ---------------------------------------------------


def test_status_of_a_fresh_home_says_nothing_is_installed_or_running(tmp_path: Path) -> None:
    states = status(home=tmp_path)
    assert list(states) == ["kafka", "elasticsearch", "minio", "podman"]
    assert not any(s.installed or s.running or s.ready for s in states.values())
    assert states["kafka"].directory == tmp_path / "kafka"


def test_down_of_services_that_are_not_running_says_so(tmp_path: Path) -> None:
    assert down(home=tmp_path) == {"kafka": "not running", "elasticsearch": "not running",
                                   "minio": "not running", "podman": "not running"}


def test_a_stale_pid_file_is_ignored_and_removed(tmp_path: Path) -> None:
    pid_file = tmp_path / "minio" / "run" / "minio.pid"
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text(f"{os.getpid()}\n")  # alive, but not a MinIO under this home
    assert status(["minio"], tmp_path)["minio"].running is False
    assert not pid_file.exists()


def test_up_refuses_a_port_another_program_holds_before_installing_anything(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = int(squatter.getsockname()[1])
        settings = ServicesSettings.load(tmp_path, overrides={"minio_port": port,
                                                              "minio_console_port": free_port()})
        with pytest.raises(ServiceError, match=f"s3 port {port} is in use by pid {os.getpid()}, which") as caught:
            up(["minio"], settings=settings)
    # This process's program as the OS reports it (a relative path when pytest was started by one).
    program = Path("/proc/self/cmdline").read_bytes().split(b"\0")[0].decode()
    assert f"did not start under {tmp_path}: {program}" in str(caught.value)
    assert not (tmp_path / "minio" / "dist").exists()


def test_a_port_held_by_the_service_of_another_home_names_that_home_and_how_to_stop_it(
        tmp_path: Path, spawned: list[int]) -> None:
    other = tmp_path / "other-home"
    port, log = free_port(), tmp_path / "holder.log"
    # What a server of another home looks like: its command line runs from <home>/kafka/dist/.
    code = (f"import socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(); "
            "print('listening', flush=True); time.sleep(60)")
    pid = spawn(LaunchSpec(argv=[sys.executable, "-c", code, str(other / "kafka" / "dist" / "3.9.2")],
                           cwd=tmp_path, log_file=log))
    spawned.append(pid)
    _wait_for_text(log, "listening")
    settings = ServicesSettings.load(tmp_path / "mine", overrides={"kafka_port": port,
                                                                   "kafka_controller_port": free_port()})
    with pytest.raises(ServiceError) as caught:
        up(["kafka"], settings=settings)
    message = str(caught.value)
    assert f"broker port {port} is in use by pid {pid}, started by `kestra-stream services` with another home, " \
           f"{other}" in message
    assert f"kestra-stream services down kafka --home {other}" in message
    assert not (tmp_path / "mine" / "kafka" / "dist").exists()


# --- fixtures ------------------------------------------------------------------------------


def test_a_missing_service_fails_the_test_on_ci_with_the_command_that_starts_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests._services import require_service

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="kestra-stream services up kafka"):
        require_service("kafka", "localhost:1", lambda _endpoint: False)


def test_a_missing_service_skips_the_test_off_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests._services import require_service

    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not answering at http://localhost:1"):
        require_service("minio", "http://localhost:1", lambda _endpoint: False)


def test_an_answering_service_gives_its_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests._services import require_service

    monkeypatch.setenv("CI", "true")
    assert require_service("minio", "http://localhost:9000", lambda e: e.endswith(":9000")) == \
        "http://localhost:9000"


# --- the real services --------------------------------------------------------------------


@pytest.mark.kafka
def test_kafka_delivers_a_produced_record_to_a_consumer_of_a_fresh_topic(kafka_bootstrap: str) -> None:
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    topic = f"services-test-{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(timeout=30)
    try:
        producer = Producer({"bootstrap.servers": kafka_bootstrap})
        producer.produce(topic, key=b"execution-1", value=b"hello")
        assert producer.flush(60) == 0
        consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": topic,
                             "auto.offset.reset": "earliest"})
        consumer.subscribe([topic])
        try:
            deadline = time.monotonic() + 30
            message = None
            while message is None and time.monotonic() < deadline:
                message = consumer.poll(0.5)
            assert message is not None and message.error() is None
            assert (message.key(), message.value()) == (b"execution-1", b"hello")
        finally:
            consumer.close()
    finally:
        admin.delete_topics([topic])[topic].result(timeout=30)


@pytest.mark.elasticsearch
def test_elasticsearch_finds_an_indexed_document(elasticsearch_url: str) -> None:
    from elasticsearch import Elasticsearch

    index = f"services-test-{uuid.uuid4().hex[:12]}"
    with Elasticsearch(elasticsearch_url) as client:
        try:
            client.index(index=index, id="e1", document={"flowId": "hello", "state": "SUCCESS"},
                         refresh="wait_for")
            found = client.search(index=index, query={"match": {"flowId": "hello"}})
            assert [hit["_id"] for hit in found["hits"]["hits"]] == ["e1"]
            assert found["hits"]["hits"][0]["_source"]["state"] == "SUCCESS"
        finally:
            client.indices.delete(index=index, ignore_unavailable=True)


@pytest.mark.minio
def test_minio_returns_the_object_that_was_put(minio_endpoint: str,
                                                minio_credentials: tuple[str, str]) -> None:
    from urllib.parse import urlsplit

    from minio import Minio

    parts = urlsplit(minio_endpoint)
    client = Minio(parts.netloc, access_key=minio_credentials[0], secret_key=minio_credentials[1],
                   secure=parts.scheme == "https")
    bucket = f"services-test-{uuid.uuid4().hex[:12]}"
    client.make_bucket(bucket)
    try:
        body = b"kestra://main/flow/execution/file.txt"
        client.put_object(bucket, "dir/file.txt", io.BytesIO(body), length=len(body))
        answer = client.get_object(bucket, "dir/file.txt")
        try:
            assert answer.read() == body
        finally:
            answer.close()
            answer.release_conn()
        client.remove_object(bucket, "dir/file.txt")
    finally:
        client.remove_bucket(bucket)


@pytest.mark.kafka
def test_kafka_launcher_starts_once_reports_already_running_and_stops_keeping_data(
        tmp_path: Path, kafka_bootstrap: str) -> None:
    # A second broker under its own home and ports; the shared one stays untouched.
    settings = ServicesSettings.load(tmp_path, overrides={"kafka_port": free_port(),
                                                          "kafka_controller_port": free_port()})
    messages: list[str] = []
    try:
        endpoints = up(["kafka"], settings=settings, progress=lambda _n, m: messages.append(m))
        assert endpoints == {"kafka": f"localhost:{settings.kafka_port}"}
        assert any(m.startswith("started (pid") for m in messages)
        assert status(["kafka"], settings=settings)["kafka"].ready
        messages.clear()
        up(["kafka"], settings=settings, progress=lambda _n, m: messages.append(m))
        assert messages[0].startswith("already running")
    finally:
        outcome = down(["kafka"], settings=settings)
    assert outcome == {"kafka": "stopped"}
    assert not status(["kafka"], settings=settings)["kafka"].running
    assert (tmp_path / "kafka" / "data" / "meta.properties").exists()


def test_minio_builds_with_go_caches_under_the_home_unless_the_user_chose_others(tmp_path: Path) -> None:
    from kestra_stream.services._minio import MinIO

    minio = MinIO(ServicesSettings.load(tmp_path, environ={}))
    env = minio.go_env(tmp_path / "bin", environ={"PATH": "/usr/bin"})
    assert (env["GOMODCACHE"], env["GOCACHE"]) == (str(tmp_path / "minio/go/mod"), str(tmp_path / "minio/go/cache"))
    assert (env["CGO_ENABLED"], env["GOTOOLCHAIN"], env["GOBIN"]) == ("0", "local", str(tmp_path / "bin"))
    chosen = minio.go_env(tmp_path / "bin", environ={"GOMODCACHE": "/srv/gomod", "GOCACHE": "/srv/gocache"})
    assert (chosen["GOMODCACHE"], chosen["GOCACHE"]) == ("/srv/gomod", "/srv/gocache")
    assert minio.binary == tmp_path / "minio" / "dist" / minio.settings.minio_version / "minio"
