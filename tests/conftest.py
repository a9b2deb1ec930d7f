"""Fixtures shared by every test: real services (Kafka, Elasticsearch, MinIO) when a test asks for them."""

pytest_plugins = ["tests._services"]
