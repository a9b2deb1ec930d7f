"""The real-service fixtures for every test folder (tests/, benchmarks/), run together or alone."""

pytest_plugins = ["tests._services"]
