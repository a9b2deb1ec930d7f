"""Where the local services live, which versions they run and where they listen.

One frozen settings object, loaded in one place (`ServicesSettings.load`): explicit
arguments win over environment variables, which win over the defaults below.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kestra_stream.errors import KestraStreamError

ServiceName = Literal["kafka", "elasticsearch", "minio", "podman"]
SERVICE_NAMES: tuple[ServiceName, ...] = get_args(ServiceName)

# Pinned versions. Kafka: latest 3.9 patch on Maven Central. Elasticsearch: latest 8.x
# integ-test zip (8.x still runs on JDK 17; 9.x needs 21). MinIO: upstream publishes only
# source now; this pseudo-version builds with the Go toolchains >= 1.24 found on the machines.
KAFKA_VERSION = "3.9.2"
ELASTICSEARCH_VERSION = "8.19.21"
MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"

DEFAULT_HOST = "localhost"  # what clients dial; servers bind 127.0.0.1 only
BIND_ADDRESS = "127.0.0.1"
DEFAULT_KAFKA_PORT = 9092
DEFAULT_KAFKA_CONTROLLER_PORT = 9093
DEFAULT_ELASTICSEARCH_PORT = 9200
DEFAULT_ELASTICSEARCH_TRANSPORT_PORT = 9300
DEFAULT_MINIO_PORT = 9000
DEFAULT_MINIO_CONSOLE_PORT = 9001

DEFAULT_KAFKA_BOOTSTRAP = f"{DEFAULT_HOST}:{DEFAULT_KAFKA_PORT}"
DEFAULT_ELASTICSEARCH_URL = f"http://{DEFAULT_HOST}:{DEFAULT_ELASTICSEARCH_PORT}"
DEFAULT_MINIO_ENDPOINT = f"http://{DEFAULT_HOST}:{DEFAULT_MINIO_PORT}"
DEFAULT_MINIO_ACCESS_KEY = "minioadmin"
DEFAULT_MINIO_SECRET_KEY = "minioadmin"

HOME_ENV = "KESTRA_STREAM_HOME"

# field name -> environment variable that overrides it
_ENV: dict[str, str] = {
    "kafka_port": "KESTRA_STREAM_KAFKA_PORT",
    "kafka_controller_port": "KESTRA_STREAM_KAFKA_CONTROLLER_PORT",
    "kafka_heap": "KESTRA_STREAM_KAFKA_HEAP",
    "kafka_version": "KESTRA_STREAM_KAFKA_VERSION",
    "elasticsearch_port": "KESTRA_STREAM_ELASTICSEARCH_PORT",
    "elasticsearch_transport_port": "KESTRA_STREAM_ELASTICSEARCH_TRANSPORT_PORT",
    "elasticsearch_heap": "KESTRA_STREAM_ELASTICSEARCH_HEAP",
    "elasticsearch_version": "KESTRA_STREAM_ELASTICSEARCH_VERSION",
    "elasticsearch_user": "KESTRA_STREAM_ELASTICSEARCH_USER",
    "minio_port": "KESTRA_STREAM_MINIO_PORT",
    "minio_console_port": "KESTRA_STREAM_MINIO_CONSOLE_PORT",
    "minio_version": "KESTRA_STREAM_MINIO_VERSION",
    "minio_access_key": "MINIO_ROOT_USER",
    "minio_secret_key": "MINIO_ROOT_PASSWORD",
}
# Read by the launcher only: other settings that share a prefix (the Kafka backend's
# KESTRA_STREAM_KAFKA_*) leave these to it.
LAUNCHER_VARIABLES = frozenset(_ENV.values())


class ServicesConfigError(KestraStreamError):
    """The services' settings (options or environment variables) are invalid."""


class ServicesSettings(BaseModel):
    """Everything the launchers need to know; immutable once loaded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    home: Path
    kafka_port: int = Field(DEFAULT_KAFKA_PORT, ge=1, le=65535)
    kafka_controller_port: int = Field(DEFAULT_KAFKA_CONTROLLER_PORT, ge=1, le=65535)
    kafka_heap: str = Field("512m", pattern=r"^[0-9]+[mMgG]$")
    kafka_version: str = KAFKA_VERSION
    elasticsearch_port: int = Field(DEFAULT_ELASTICSEARCH_PORT, ge=1, le=65535)
    elasticsearch_transport_port: int = Field(DEFAULT_ELASTICSEARCH_TRANSPORT_PORT, ge=1, le=65535)
    elasticsearch_heap: str = Field("512m", pattern=r"^[0-9]+[mMgG]$")
    elasticsearch_version: str = ELASTICSEARCH_VERSION
    elasticsearch_user: str = "kestra-es"
    minio_port: int = Field(DEFAULT_MINIO_PORT, ge=1, le=65535)
    minio_console_port: int = Field(DEFAULT_MINIO_CONSOLE_PORT, ge=1, le=65535)
    minio_version: str = MINIO_VERSION
    minio_access_key: str = Field(DEFAULT_MINIO_ACCESS_KEY, min_length=3)
    minio_secret_key: str = Field(DEFAULT_MINIO_SECRET_KEY, min_length=8)

    @classmethod
    def load(cls, home: Path | str | None = None, *, overrides: Mapping[str, Any] | None = None,
             environ: Mapping[str, str] | None = None) -> ServicesSettings:
        """Settings from explicit values, then ``KESTRA_STREAM_*`` variables, then defaults.

        ``overrides`` whose value is None are ignored, so CLI options can be passed as they come.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {"home": resolve_home(home, env)}
        for field, var in _ENV.items():
            if env.get(var):
                values[field] = env[var]
        overrides = overrides or {}
        unknown = set(overrides) - set(_ENV)
        if unknown:
            raise ServicesConfigError(f"Unknown services setting(s) {sorted(unknown)}; "
                                      f"known: {sorted(_ENV)}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{_describe(str(err['loc'][0]))}: {err['msg']}" for err in exc.errors()
            )
            raise ServicesConfigError(f"Invalid services settings: {problems}") from exc

    def service_dir(self, name: ServiceName) -> Path:
        return self.home / name

    def endpoint(self, name: ServiceName) -> str:
        """The address a client on this machine dials for ``name``."""
        if name == "kafka":
            return f"{DEFAULT_HOST}:{self.kafka_port}"
        if name == "elasticsearch":
            return f"http://{DEFAULT_HOST}:{self.elasticsearch_port}"
        if name == "podman":
            # Docker's spelling of an engine's address (DOCKER_HOST), a socket rather than a port.
            return f"unix://{self.service_dir(name) / 'run' / 'podman.sock'}"
        return f"http://{DEFAULT_HOST}:{self.minio_port}"

    def ports(self, name: ServiceName) -> dict[str, int]:
        """Every port ``name`` binds on the loopback address, by role."""
        if name == "kafka":
            return {"broker": self.kafka_port, "controller": self.kafka_controller_port}
        if name == "elasticsearch":
            return {"http": self.elasticsearch_port, "transport": self.elasticsearch_transport_port}
        if name == "podman":
            return {}
        return {"s3": self.minio_port, "console": self.minio_console_port}


def resolve_home(home: Path | str | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """``home`` if given, else ``$KESTRA_STREAM_HOME``, else ``~/.kestra-stream/services``."""
    env = os.environ if environ is None else environ
    if home is not None and str(home) != "":
        chosen = Path(home)
    elif env.get(HOME_ENV):
        chosen = Path(env[HOME_ENV])
    else:
        chosen = Path("~/.kestra-stream/services")
    return chosen.expanduser().absolute()


def parse_names(names: Iterable[str] | None) -> list[ServiceName]:
    """Validated, de-duplicated service names in canonical order; nothing given means all."""
    wanted = list(names or ())
    if not wanted:
        return list(SERVICE_NAMES)
    unknown = [n for n in wanted if n not in SERVICE_NAMES]
    if unknown:
        raise ServicesConfigError(
            f"Unknown service(s) {', '.join(unknown)}; choose among {', '.join(SERVICE_NAMES)}"
        )
    return [n for n in SERVICE_NAMES if n in wanted]


def _describe(field: str) -> str:
    var = _ENV.get(field)
    return f"{field} (option --{field.replace('_', '-')} or ${var})" if var else field
