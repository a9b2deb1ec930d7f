"""`server standalone`'s children get the supervisor's settings, each through its command's options."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from click.testing import CliRunner

from kestra_stream.api import ApiSettings
from kestra_stream.cli import main
from kestra_stream.cli._standalone import StandaloneSettings, children
from kestra_stream.kafka import KafkaSettings

SETTINGS = StandaloneSettings(
    kafka=KafkaSettings(bootstrap_servers="broker:9092", topic_prefix="team.", partitions=8),
    api=ApiSettings(host="0.0.0.0", port=9999), home=Path("/data/home"), flows=Path("/data/flows"),
    config_file=Path("/etc/ks.yaml"), elasticsearch_url="http://es:9200", index_prefix="team_idx", log_level="INFO")


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_every_child_runs_its_component_command_with_the_supervisors_settings() -> None:
    started_last = [spec.name for spec in children(SETTINGS, workers=2) if spec.start_last]
    assert started_last == ["webserver"]  # the API answers once the backend behind it runs
    specs = {spec.name: list(spec.argv) for spec in children(SETTINGS, workers=2)}
    assert list(specs) == ["executor", "worker-1", "worker-2", "indexer", "webserver"]
    for argv in specs.values():
        assert argv[:3] == [sys.executable, "-m", "kestra_stream"]
        assert option(argv, "--log-format") == "json" and option(argv, "--log-level") == "INFO"
        assert option(argv, "--config") == "/etc/ks.yaml"
        assert option(argv, "--bootstrap-servers") == "broker:9092"
    for name in ("executor", "worker-1", "worker-2", "webserver"):
        assert option(specs[name], "--topic-prefix") == "team." and option(specs[name], "--partitions") == "8"
    assert option(specs["indexer"], "--prefix") == "team."
    for name in ("indexer", "webserver", "worker-1", "worker-2"):
        assert option(specs[name], "--elasticsearch-url") == "http://es:9200"
        assert option(specs[name], "--index-prefix") == "team_idx"
    for name in ("worker-1", "worker-2", "webserver"):
        assert option(specs[name], "--home") == "/data/home"
    webserver = specs["webserver"]
    assert "--triggers" in webserver and option(webserver, "--flows") == "/data/flows"
    assert (option(webserver, "--host"), option(webserver, "--port")) == ("0.0.0.0", "9999")


def test_the_executor_child_keeps_one_instance_id_per_supervisor_and_no_two_supervisors_share_one() -> None:
    def instance_id(settings: StandaloneSettings) -> str:
        return option(list(next(s for s in children(settings, workers=1) if s.name == "executor").argv),
                      "--instance-id")

    # Built once per supervisor: every restart of its executor child comes back as the same group member.
    assert instance_id(SETTINGS) == instance_id(SETTINGS) == SETTINGS.executor_instance_id
    # Another supervisor with the same options (a second server on the host): another member of the group.
    same_options = {f.name: getattr(SETTINGS, f.name) for f in dataclasses.fields(SETTINGS)
                    if f.name != "executor_instance_id"}
    assert instance_id(StandaloneSettings(**same_options)) != instance_id(SETTINGS)


def test_every_child_command_parses_the_options_it_is_given(tmp_path: Path) -> None:
    config, flows = tmp_path / "ks.yaml", tmp_path / "flows"
    config.write_text("kafka: {}\n")
    flows.mkdir()
    settings = dataclasses.replace(SETTINGS, config_file=config, flows=flows)
    root = main.make_context("kestra-stream", ["--help"], resilient_parsing=True)
    for spec in children(settings, workers=1):
        args = list(spec.argv)[3:]
        command_at = next(i for i, arg in enumerate(args) if arg in {"executor", "worker", "indexer", "webserver"})
        command = main.get_command(root, args[command_at])
        assert command is not None
        # Parsing only (the command does not run): an unknown option or a bad value raises here.
        context = command.make_context(args[command_at], args[command_at + 1:], parent=root)
        assert context.params["config_file"] == config, spec.name


def test_in_process_refuses_more_than_one_worker() -> None:
    result = CliRunner().invoke(main, ["server", "standalone", "--in-process", "--workers", "2",
                                       "--bootstrap-servers", "127.0.0.1:1", "--elasticsearch-url", "http://127.0.0.1:1"])
    assert result.exit_code == 2
    assert "--workers needs child processes" in result.output


def test_the_worker_group_key_reaches_the_workers_only() -> None:
    plain = {spec.name: list(spec.argv) for spec in children(SETTINGS, workers=1)}
    assert all("--worker-group" not in argv for argv in plain.values())
    grouped = dataclasses.replace(SETTINGS, kafka=SETTINGS.kafka.model_copy(update={"worker_group_key": "gpu"}),
                                  config_file=None)
    specs = {spec.name: list(spec.argv) for spec in children(grouped, workers=2)}
    assert option(specs["worker-1"], "--worker-group") == "gpu" and option(specs["worker-2"], "--worker-group") == "gpu"
    assert all("--worker-group" not in specs[name] for name in ("executor", "indexer", "webserver"))
    root = main.make_context("kestra-stream", ["--help"], resilient_parsing=True)
    args = specs["worker-1"][specs["worker-1"].index("worker") + 1:]
    command = main.get_command(root, "worker")
    assert command is not None
    assert command.make_context("worker", args, parent=root).params["worker_group"] == "gpu"


def test_a_worker_group_key_is_checked_by_the_command() -> None:
    result = CliRunner().invoke(main, ["server", "standalone", "--worker-group-key", "not a key"])
    assert result.exit_code == 2 and "no worker group key" in result.output


def test_the_executor_gets_the_workers_home_where_local_storage_keeps_the_templates() -> None:
    specs = {spec.name: list(spec.argv) for spec in children(SETTINGS, workers=1)}
    assert option(specs["executor"], "--home") == option(specs["worker-1"], "--home") == option(
        specs["webserver"], "--home")
