"""A Kafka broker of one's own beside the shared services, for whatever must stop a broker (an outage
benchmark, its test) without stopping everyone's.

It has its own home (data, logs, pid file) and ports; its distribution is the one another home
already installed, through a link, so nothing is downloaded again. ``up`` and ``down`` are the
launcher's, so the broker runs exactly as `kestra-stream services up kafka` runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kestra_stream.services._launcher import down, service, up
from kestra_stream.services._settings import ServicesSettings

__all__ = ["PrivateKafka"]


@dataclass(frozen=True)
class PrivateKafka:
    """A broker under ``home`` on ``port`` (its controller on ``port + 1``), sharing ``shared_home``'s Kafka."""

    home: Path
    port: int
    shared_home: Path

    @property
    def settings(self) -> ServicesSettings:
        return ServicesSettings.load(self.home, overrides={"kafka_port": self.port,
                                                           "kafka_controller_port": self.port + 1})

    @property
    def bootstrap(self) -> str:
        return self.settings.endpoint("kafka")

    def up(self, timeout: float | None = None) -> None:
        """Start it (linking the shared distribution the first time) and wait until it answers."""
        dist = service("kafka", self.settings).dist_dir
        if not dist.exists():
            shared = service("kafka", ServicesSettings.load(self.shared_home)).dist_dir
            if not shared.is_dir():
                raise FileNotFoundError(f"no Kafka distribution under {shared}: run `kestra-stream services up "
                                        f"kafka` with KESTRA_STREAM_HOME={self.shared_home} once, or pass the "
                                        f"home that has one")
            dist.parent.mkdir(parents=True, exist_ok=True)
            dist.symlink_to(shared.resolve(), target_is_directory=True)
        up(["kafka"], settings=self.settings, timeout=timeout)

    def down(self, grace: float = 30.0) -> str:
        """Stop it (SIGTERM, SIGKILL after ``grace`` s); its data stays for the next ``up``."""
        return down(["kafka"], settings=self.settings, grace=grace)["kafka"]
