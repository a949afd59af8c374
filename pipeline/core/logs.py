"""Messages for people on stderr: plain text lines, or one JSON object per line for log pipelines.

Every module logs through ``log = logging.getLogger(__name__)``. An event's machine-readable
fields travel in ``extra``, under the one key ``fields``::

    log.info("ferry: 120/300 rows, ...", extra=fields(done=120, total=300, ok=118, failed=2))

:func:`configure` (the CLI calls it from ``--log-format`` / ``FERRY_LOG_FORMAT``) puts one
handler on the root logger. ``text`` prints the message alone, exactly as ``print`` did, so
cron logs stay what they were; ``json`` prints ``{"ts", "level", "msg", **fields}`` per line,
``ts`` in ISO 8601 UTC. ``pipeline`` and ``jobs`` log from INFO up; other
libraries from WARNING up, through the same handler (so in JSON mode their lines are JSON too).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

LOG_FORMATS: Final = ("text", "json")
ENV_VAR: Final = "FERRY_LOG_FORMAT"
#: The loggers of ferry's own packages; they log from INFO up. (``fileapi`` is not one: its
#: access log is ``ferry serve``'s, set up by :func:`fileapi.runner.configure_logging`.)
OWN_LOGGERS: Final = ("pipeline", "jobs")
#: Keys every JSON line has; an event's fields never overwrite them.
RESERVED: Final = frozenset({"ts", "level", "msg", "logger"})

_current = "text"


def fields(**values: Any) -> dict[str, Any]:
    """``extra=fields(done=1, ...)``: the event's fields, for the JSON line."""
    return {"fields": values}


def current_format() -> str:
    """The format :func:`configure` set last (``text`` before any call)."""
    return _current


class TextFormatter(logging.Formatter):
    """The message alone: what ``print(message, file=sys.stderr)`` wrote."""

    def format(self, record: logging.LogRecord) -> str:
        """The message, and the traceback when there is one."""
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts``, ``level``, ``msg``, ``logger`` and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (newlines in the message are escaped)."""
        event: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
            "logger": record.name,
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, Mapping):
            event.update((k, v) for k, v in extra.items() if k not in RESERVED)
        if record.exc_info:
            event["traceback"] = self.formatException(record.exc_info)
        return json.dumps(event, ensure_ascii=False, default=str)


class StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is when the record comes (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write the formatted record and a newline, then flush: cron logs stay in order."""
        try:
            stream = sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # logging must never crash the run
            self.handleError(record)


def formatter_for(log_format: str) -> logging.Formatter:
    """The formatter of ``text`` or ``json``."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure(log_format: str = "text") -> None:
    """Send every log record to stderr in ``log_format``; calling it again replaces the set-up."""
    global _current
    handler = StderrHandler()
    handler.setFormatter(formatter_for(log_format))
    reset()
    logging.getLogger().addHandler(handler)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
    _current = log_format


def reset() -> None:
    """Remove the handler :func:`configure` installed (tests use it to clean up)."""
    global _current
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(handler)
    _current = "text"
