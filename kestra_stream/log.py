"""structlog, configured once per process: readable on a terminal, JSON for servers."""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

LogFormat = Literal["console", "json"]
CHATTY_LIBRARIES = ("elastic_transport", "urllib3")


def configure_logging(fmt: LogFormat = "console", level: str = "WARNING") -> None:
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.typing.Processor
    if fmt == "json":
        processors.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer()
    else:
        terminal = sys.stderr.isatty()
        # No locals and no wrapping at 80 columns: a piped log keeps one line per event, and a
        # traceback (a bug) stays readable instead of pages of variables.
        renderer = structlog.dev.ConsoleRenderer(
            colors=terminal,
            exception_formatter=structlog.dev.RichTracebackFormatter(show_locals=False) if terminal
            else structlog.dev.plain_traceback)
    # Libraries log through the standard library (faust, aiokafka, elasticsearch): same level, same stream.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *processors]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Clients that log every retry of a connection, with its traceback, before raising what the
    # caller reports in one line: their own lines only from ERROR up, unless debugging.
    for chatty in CHATTY_LIBRARIES:
        logging.getLogger(chatty).setLevel(level.upper() if level.upper() == "DEBUG" else "ERROR")
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
