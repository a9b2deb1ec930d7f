"""kestra-stream: Kestra's flow language on an event-sourced engine (embedded or Apache Kafka)."""

import sys

__version__ = "0.1.0"


def _import_structlog_without_rich_tracebacks() -> None:
    """structlog's package imports rich's traceback and pretty-printer (pygments with them) whenever rich is
    installed: 0.07 s of CPU at every command's start, for tracebacks that only a terminal shows
    (``kestra_stream.log`` imports them when it draws one). They are hidden while structlog is imported
    (a ``None`` entry in ``sys.modules`` makes an import fail); importing them later works as usual."""
    if "structlog" in sys.modules:
        return
    hidden = [name for name in ("rich.traceback", "rich.pretty") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import structlog  # noqa: F401
    finally:
        for name in hidden:
            if sys.modules.get(name, "") is None:
                del sys.modules[name]


_import_structlog_without_rich_tracebacks()
