"""Test-wide settings: the Hypothesis profile, and plugins discovered before any test."""

import os

from hypothesis import HealthCheck, settings

from kestra_stream.plugins import default_registry

# CI runs the same examples every time (a failure there is reproducible, never a lucky draw);
# developers' runs keep exploring new ones.
settings.register_profile("ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
if os.environ.get("CI") == "true":
    settings.load_profile("ci")

# Plugins are discovered on first use, which imports libraries that touch the global `random` at
# import time (rich does); inside a Hypothesis strategy that is reported as a flaky strategy.
default_registry()
