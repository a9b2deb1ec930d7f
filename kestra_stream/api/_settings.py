"""The API server's settings: where it listens, who may call it, how much a request may carry."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from ruamel.yaml import YAML

from kestra_stream.errors import BackendError

ENV_PREFIX = "KESTRA_STREAM_API_"


class ApiSettings(BaseModel):
    """The ``api:`` section of the settings file; ``KESTRA_STREAM_API_*`` variables override it.

    Authentication is on as soon as a user or a token is configured: every endpoint then needs
    HTTP basic credentials of a user or ``Authorization: Bearer <token>``, except health checks
    and webhooks (whose key is their secret).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Loopback unless told otherwise: an unauthenticated API must not reach the network by accident.
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # username -> password
    basic_auth: dict[str, SecretStr] = Field(default_factory=dict)
    tokens: tuple[SecretStr, ...] = ()
    # Uploads (FILE inputs, namespace files, flow bundles) are bounded; bigger ones get a 413.
    max_body_bytes: int = Field(default=100 * 1024 * 1024, ge=1024)
    # A client that sends its body slower than this gets a 408 instead of holding a handler.
    body_timeout_seconds: float = Field(default=60.0, gt=0)

    @property
    def auth_enabled(self) -> bool:
        return bool(self.basic_auth or self.tokens)

    @property
    def loopback_only(self) -> bool:
        """Whether the API listens on this machine's loopback interface alone."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:  # a host name: it may resolve to any interface
            return False

    @classmethod
    def load(cls, path: Path | None = None, environ: Mapping[str, str] | None = None) -> ApiSettings:
        data: dict[str, Any] = {}
        if path is not None:
            data = dict((YAML(typ="safe").load(path.read_text()) or {}).get("api") or {})
        env = os.environ if environ is None else environ
        for key, value in env.items():
            if not key.startswith(ENV_PREFIX):
                continue
            name = key[len(ENV_PREFIX):].lower()
            if name == "tokens":
                data["tokens"] = [t for t in value.split(",") if t]
            elif name == "basic_auth":  # user:password[,user:password]
                data["basic_auth"] = dict(pair.split(":", 1) for pair in value.split(",") if ":" in pair)
            else:
                data[name] = value
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise BackendError(f"invalid api settings{f' in {path}' if path else ''}: {exc}") from exc
