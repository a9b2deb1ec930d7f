"""Apache Kafka, one combined KRaft broker+controller, from its jars on Maven Central."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

from kestra_stream.services._base import LocalService, java_home, maven_argv, maven_progress_line
from kestra_stream.services._process import LaunchSpec, Progress, ServiceError, port_open, run_tool
from kestra_stream.services._settings import BIND_ADDRESS, ServiceName

# The broker's runtime classpath is kafka_2.13 and its runtime dependencies; Kafka logs
# through slf4j 1.7, so the reload4j binding (what Kafka's own distribution ships) sends
# it to a rolling file configured below.
_POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.kestra-stream.services</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>{version}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{version}</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-reload4j</artifactId>
      <version>1.7.36</version>
    </dependency>
  </dependencies>
</project>
"""

_LOG4J = """log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File={log_file}
log4j.appender.file.MaxFileSize=50MB
log4j.appender.file.MaxBackupIndex=3
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.controller=INFO
"""

_SERVER = """# Written by `kestra-stream services up kafka`; rewritten at every start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{bind}:{controller_port}
listeners=PLAINTEXT://{bind}:{port},CONTROLLER://{bind}:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{port}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
# Tests create many short-lived consumer groups: do not hold the first join for 3 s.
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
log.retention.hours=168
log.segment.bytes=268435456
"""


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (22 characters)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


class Kafka(LocalService):
    name: ServiceName = "kafka"
    ready_timeout = 180.0  # the JVM start under load: see Elasticsearch.ready_timeout

    @property
    def version_dir(self) -> Path:
        return self.dist_dir / self.settings.kafka_version

    @property
    def libs_dir(self) -> Path:
        return self.version_dir / "libs"

    @property
    def config_dir(self) -> Path:
        return self.dir / "config"

    @property
    def server_log(self) -> Path:
        return self.logs_dir / "server.log"

    def logs(self) -> list[Path]:
        return [self.out_log, self.server_log]

    def installed(self) -> bool:
        return (self.version_dir / ".complete").exists()

    def install(self, progress: Progress) -> None:
        self.require_tool("mvn", "install Apache Maven (e.g. `apt-get install maven`)")
        self.version_dir.mkdir(parents=True, exist_ok=True)
        (self.version_dir / "pom.xml").write_text(_POM.format(version=self.settings.kafka_version))
        progress(f"fetching org.apache.kafka:kafka_2.13:{self.settings.kafka_version} and its runtime "
                 f"dependencies with Maven into {self.libs_dir}")
        run_tool(self.name, maven_argv("dependency:copy-dependencies", f"-DoutputDirectory={self.libs_dir}",
                                       "-DincludeScope=runtime"),
                 cwd=self.version_dir, progress=progress, log_file=self.install_log, show=maven_progress_line)
        (self.version_dir / ".complete").write_text(self.settings.kafka_version + "\n")

    def prepare(self) -> LaunchSpec:
        for d in (self.config_dir, self.data_dir, self.logs_dir):
            d.mkdir(parents=True, exist_ok=True)
        s = self.settings
        server = self.config_dir / "server.properties"
        server.write_text(_SERVER.format(bind=BIND_ADDRESS, host="localhost", port=s.kafka_port,
                                         controller_port=s.kafka_controller_port, data=self.data_dir))
        log4j = self.config_dir / "log4j.properties"
        log4j.write_text(_LOG4J.format(log_file=self.server_log))
        java = str(java_home() / "bin" / "java")
        classpath = ["-cp", f"{self.libs_dir}/*"]
        if not (self.data_dir / "meta.properties").exists():
            # KRaft storage is formatted once; later starts reuse it (and its data).
            run_tool(self.name, [java, "-Xmx256m", f"-Dlog4j.configuration=file:{log4j}", *classpath,
                                 "kafka.tools.StorageTool", "format", "--ignore-formatted",
                                 f"--cluster-id={new_cluster_id()}", f"--config={server}"],
                     progress=lambda _line: None, log_file=self.install_log)
        return LaunchSpec(argv=[java, *self._jvm_flags(log4j), *classpath, "kafka.Kafka", str(server)],
                          cwd=self.dir, log_file=self.out_log, env=_java_env())

    def _jvm_flags(self, log4j: Path) -> list[str]:
        heap = self.settings.kafka_heap
        return [f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
                "-Djava.awt.headless=true", f"-Dlog4j.configuration=file:{log4j}",
                f"-Dkafka.logs.dir={self.logs_dir}"]

    def probe(self) -> bool:
        return kafka_ready(self.endpoint)


def kafka_ready(bootstrap: str, timeout: float = 3.0) -> bool:
    """True when a metadata request to ``bootstrap`` lists at least one broker."""
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    if port.isdigit() and host in ("localhost", "127.0.0.1") and not port_open(int(port)):
        return False  # spare librdkafka's connection-refused log lines while the broker boots
    try:
        from confluent_kafka.admin import AdminClient
    except ImportError as exc:
        raise ServiceError("kafka", "the readiness check needs confluent-kafka: "
                                    "`pip install confluent-kafka`") from exc
    client = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": int(timeout * 1000),
                          "log_level": 0})
    try:
        metadata = client.list_topics(timeout=timeout)
    except Exception:  # KafkaException: not reachable yet, or a transient broker error
        return False
    return bool(metadata.brokers)


def _java_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "JAVA_TOOL_OPTIONS"))}
    env["JAVA_HOME"] = str(java_home())
    return env
