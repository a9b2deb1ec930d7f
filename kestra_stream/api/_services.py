"""What the handlers work with, handed to ``create_app`` once (no globals, no lookups by name)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kestra_stream.api._settings import ApiSettings
    from kestra_stream.backend import Backend, FlowRepository
    from kestra_stream.plugins import PluginRegistry
    from kestra_stream.scheduler import TriggerStore
    from kestra_stream.search import SearchRepository
    from kestra_stream.storage import Storage


@dataclass(frozen=True)
class ApiServices:
    backend: Backend
    flows: FlowRepository
    search: SearchRepository
    storage: Storage
    registry: PluginRegistry
    settings: ApiSettings
    # Trigger state (the scheduler's): listed, enabled and disabled, unlocked, backfilled through the API.
    triggers: TriggerStore | None = None
    # "embedded" or "kafka": told in /configs, and in metrics labels.
    backend_name: str = "embedded"
