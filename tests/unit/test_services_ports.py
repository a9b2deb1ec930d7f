"""The message of a service that cannot start because its ports are taken: who holds them, what to do."""

from __future__ import annotations

from pathlib import Path

from kestra_stream.services._ports import PortHolder, listening_inodes, ports_taken_message

HOME = Path("/home/dev/.kestra-stream/services")
OTHER = "/var/tmp/kestra-stream/services"
KAFKA = f"java -Xms512m -cp {OTHER}/kafka/dist/3.9.2/libs/* kafka.Kafka {OTHER}/kafka/config/server.properties"


def test_a_server_of_another_home_is_named_with_its_pid_home_and_the_commands_that_help() -> None:
    message = ports_taken_message("kafka", {"broker": 9092}, {9092: PortHolder(4242, KAFKA)}, HOME)
    assert message.startswith(f"broker port 9092 is in use by pid 4242, started by `kestra-stream services` with "
                               f"another home, {OTHER} (java -Xms512m")
    assert f"`export KESTRA_STREAM_HOME={OTHER}`" in message
    assert f"`kestra-stream services down kafka --home {OTHER}`" in message
    assert message.endswith("or choose other ports (`kestra-stream services up --help`).")


def test_any_other_program_is_named_with_its_pid_and_command_line() -> None:
    holder = PortHolder(77, "/usr/bin/python3 -m http.server 9000")
    message = ports_taken_message("minio", {"s3": 9000}, {9000: holder}, HOME)
    assert message == (f"s3 port 9000 is in use by pid 77, which `kestra-stream services` did not start under "
                       f"{HOME}: /usr/bin/python3 -m http.server 9000. To go on: stop pid 77, or choose other ports "
                       f"(`kestra-stream services up --help`).")


def test_a_holder_this_user_cannot_see_is_said_so_with_the_command_that_names_it() -> None:
    message = ports_taken_message("elasticsearch", {"http": 9200, "transport": 9300},
                                  {9200: None, 9300: PortHolder(5, "/opt/es/bin/java org.elasticsearch.Server")}, HOME)
    assert "http port 9200 is in use by a process this user cannot see (`ss -ltnp` as root names it: " \
           "look for 9200)" in message
    assert "transport port 9300 is in use by pid 5" in message


def test_ports_held_by_one_process_are_named_together() -> None:
    holder = PortHolder(4242, KAFKA)
    message = ports_taken_message("kafka", {"broker": 9092, "controller": 9093}, {9092: holder, 9093: holder}, HOME)
    assert message.startswith("broker port 9092 and controller port 9093 are in use by pid 4242, started by")
    assert message.count("pid 4242") == 1


def test_a_long_command_line_is_cut() -> None:
    holder = PortHolder(1, "java " + "-Dx=y " * 100)
    assert "..." in ports_taken_message("kafka", {"broker": 1}, {1: holder}, HOME)
    assert len(ports_taken_message("kafka", {"broker": 1}, {1: holder}, HOME)) < 400


def test_the_home_of_a_launcher_server_is_read_from_its_command_line() -> None:
    assert PortHolder(1, KAFKA).home == OTHER
    assert PortHolder(1, f"{HOME}/minio/dist/v0/minio server {HOME}/minio/data").home == str(HOME)
    assert PortHolder(1, "nginx: master process").home is None


def test_listening_sockets_are_read_from_the_tcp_tables(tmp_path: Path) -> None:
    (tmp_path / "net").mkdir()
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    (tmp_path / "net" / "tcp").write_text(header + (
        "   0: 0100007F:2384 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1\n"
        "   1: 0100007F:2384 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 222 1\n"))
    (tmp_path / "net" / "tcp6").write_text(header + (
        "   0: 00000000000000000000000000000000:2384 00000000000000000000000000000000:0000 0A 00000000:00000000 "
        "00:00000000 00000000     0        0 333 1\n"))
    assert listening_inodes(0x2384, tmp_path) == {"111", "333"}  # port 9092, listening only
    assert listening_inodes(9200, tmp_path) == set()
