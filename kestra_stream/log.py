"""structlog, configured once per process: readable on a terminal, JSON for servers."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Literal, TextIO

import structlog
from structlog.typing import ExcInfo

LogFormat = Literal["console", "json"]
CHATTY_LIBRARIES = ("elastic_transport", "urllib3")


class RepeatedLines(logging.Filter):
    """A library's line repeated with new values (aiokafka logs every reconnect attempt to a broker
    that is away: thousands of lines a minute) passes once, then once every ``every`` seconds,
    saying how many like it were left out. Lines are alike when logger, template and first argument
    are (librdkafka's template is generic, its first argument says what kind of line it is)."""

    _MAX_KEYS = 1000  # templates are few; formatted messages would make keys without end

    def __init__(self, every: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._every = every
        self._clock = clock
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        first = record.args[0] if isinstance(record.args, tuple) and record.args else None
        key = (record.name, f"{record.msg}|{first}")
        now = self._clock()
        last = self._seen.get(key)
        if last is not None and now - last[0] < self._every:
            self._seen[key] = (last[0], last[1] + 1)
            return False
        if len(self._seen) >= self._MAX_KEYS:
            self._seen.clear()
        self._seen[key] = (now, 0)
        if last is not None and last[1]:
            record.msg = f"{record.msg} [{last[1]} more like it in the last {now - last[0]:.0f}s]"
        return True


def rich_traceback(sio: TextIO, exc_info: ExcInfo) -> None:
    """structlog's ``RichTracebackFormatter(show_locals=False)``, importing rich's traceback only when one is
    drawn: ``kestra_stream`` imports structlog without it (see its ``__init__``)."""
    from rich.console import Console
    from rich.traceback import Traceback

    sio.write("\n")
    Console(file=sio, color_system="truecolor").print(
        Traceback.from_exception(*exc_info, show_locals=False, word_wrap=True, width=None, code_width=88))


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
            colors=terminal, exception_formatter=rich_traceback if terminal else structlog.dev.plain_traceback)
    # Libraries log through the standard library (faust, aiokafka, elasticsearch): same level, same stream.
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RepeatedLines())
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
