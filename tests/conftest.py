"""Fixtures shared by every test: real services (Kafka, Elasticsearch, MinIO) when a test asks for them."""

import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["tests._services"]

# CI runs the same examples every time (a failure there is reproducible, never a lucky draw);
# developers' runs keep exploring new ones.
settings.register_profile("ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
if os.environ.get("CI") == "true":
    settings.load_profile("ci")
