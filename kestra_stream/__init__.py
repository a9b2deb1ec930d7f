"""kestra-stream: Kestra's flow language on an event-sourced engine (embedded or Apache Kafka)."""

__version__ = "0.1.0"
