"""The System endpoints."""

from __future__ import annotations

from kestra_stream.api._routes import ApiRoutes

routes = ApiRoutes("System")
