"""Options shared by several commands, the API key lookup, and the error-to-exit-code mapping."""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from pipeline.core import logs
from pipeline.core.errors import ExitCode, MissingKeyError, PipelineError, UsageError
from pipeline.core.settings import (
    DEFAULT_AUTO_MAXIMUM,
    DEFAULT_BASE_URL,
    DEFAULT_CONCURRENCY,
    DEFAULT_RUN_CONCURRENCY,
    MAX_CONCURRENCY,
    parse_concurrency,
)
from pipeline.core.units import Rate, parse_duration, parse_rate

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)


def say(message: str, **event: Any) -> None:
    """A message for people: stderr (a log line, JSON with ``--log-format json``), never stdout.

    ``event`` are the machine-readable fields of the JSON line.
    """
    log.info(message, extra=logs.fields(**event))


def api_key(api_key_file: Path | None) -> str:
    """The API key from ``--api-key-file`` or ``KIE_API_KEY``; never from argv."""
    if api_key_file is not None:
        try:
            key = api_key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(f"--api-key-file {api_key_file}: {exc.strerror}") from None
        if not key:
            raise MissingKeyError(f"--api-key-file {api_key_file}: the file is empty")
        return key
    key = os.environ.get("KIE_API_KEY", "").strip()
    if not key:
        raise MissingKeyError(
            "no API key: set KIE_API_KEY in the environment or pass --api-key-file PATH "
            "(ferry never takes the key on the command line)"
        )
    return key


_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def source_headers(values: tuple[str, ...]) -> dict[str, str]:
    """``--source-header 'Name: value'`` pairs, with ``${VAR}`` read from the environment."""
    headers: dict[str, str] = {}
    for raw in values:
        name, sep, value = raw.partition(":")
        name = name.strip()
        if not sep or not name or any(c in name for c in " \t\r\n"):
            raise UsageError(f"--source-header: expected 'Name: value', got '{name[:40]}...'")
        missing = [v for v in _ENV_REFERENCE.findall(value) if v not in os.environ]
        if missing:
            raise UsageError(f"--source-header {name}: ${{{missing[0]}}} is not set")
        headers[name] = _ENV_REFERENCE.sub(lambda m: os.environ[m.group(1)], value.strip())
    return headers


def base_url_option(
    envvar: str = "FERRY_BASE_URL", default: str = DEFAULT_BASE_URL
) -> Callable[[F], F]:
    """``--base-url``, defaulting to ``envvar`` and then the live service."""
    return click.option(
        "--base-url",
        envvar=envvar,
        default=default,
        show_default=True,
        show_envvar=True,
        help="Upload API base URL.",
    )


def api_key_file_option(func: F) -> F:
    """``--api-key-file PATH``: the alternative to ``KIE_API_KEY``."""
    return click.option(
        "--api-key-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Read the API key from this file instead of KIE_API_KEY.",
    )(func)


def concurrency_option(func: F) -> F:
    """``--concurrency N``: requests in flight at most."""
    return click.option(
        "--concurrency",
        type=click.IntRange(1, MAX_CONCURRENCY),
        default=DEFAULT_CONCURRENCY,
        show_default=True,
        help="Requests in flight at most.",
    )(func)


def adaptive_concurrency_option(func: F) -> F:
    """``--concurrency N|auto[:MAX]`` of ``ferry run``: the value is (N or MAX, adaptive)."""

    def convert(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[int, bool]:
        try:
            return parse_concurrency(value)
        except UsageError as exc:
            raise click.BadParameter(str(exc).removeprefix("--concurrency: ")) from None

    return click.option(
        "--concurrency",
        metavar="N|auto[:MAX]",
        default=DEFAULT_RUN_CONCURRENCY,
        show_default=True,
        callback=convert,
        help="Requests in flight at most: a number, or auto: a limit that starts small, grows "
        "while the API answers as fast as before and shrinks when it slows down or answers "
        f"429/5xx (at most MAX, default {DEFAULT_AUTO_MAXIMUM}).",
    )(func)


def progress_option(func: F) -> F:
    """``--progress/--no-progress``: a bar on stderr; by default only when stderr is a terminal."""

    def resolve(_ctx: click.Context, _param: click.Parameter, value: bool | None) -> bool:
        if value is None:  # a bar is not a JSON line: JSON logs get the periodic line instead
            return sys.stderr.isatty() and logs.current_format() == "text"
        return value

    return click.option(
        "--progress/--no-progress",
        default=None,
        callback=resolve,
        help="Progress bar on stderr. Default: on when stderr is a terminal; otherwise one "
        "log line every few seconds.",
    )(func)


def metrics_file_option(func: F) -> F:
    """``--metrics-file PATH``: Prometheus text file, written atomically at checkpoints and end."""
    return click.option(
        "--metrics-file",
        type=click.Path(dir_okay=False, path_type=Path),
        callback=_existing_folder,
        help="Write Prometheus metrics (node_exporter textfile format) to this file, atomically, "
        "at every checkpoint and at the end.",
    )(func)


def _existing_folder(
    _ctx: click.Context, _param: click.Parameter, value: Path | None
) -> Path | None:
    if value is not None and not value.parent.is_dir():
        raise click.BadParameter(f"{value}: the folder {value.parent} does not exist")
    return value


def log_format_option(func: F) -> F:
    """``--log-format text|json`` (also ``FERRY_LOG_FORMAT``): set up logging before other options.

    Every command has it. ``text`` prints plain lines; ``json`` one object per line.
    """

    def configure(_ctx: click.Context, _param: click.Parameter, value: str) -> None:
        logs.configure(value)

    return click.option(
        "--log-format",
        type=click.Choice(logs.LOG_FORMATS),
        default="text",
        show_default=True,
        envvar=logs.ENV_VAR,
        show_envvar=True,
        is_eager=True,
        expose_value=False,
        callback=configure,
        help="Messages on stderr as plain lines, or one JSON object per line.",
    )(func)


def debug_option(func: F) -> F:
    """``--debug``: show a traceback instead of a one-line error."""
    return click.option("--debug", is_flag=True, help="Show tracebacks for errors.")(func)


def duration(option: str) -> Callable[[click.Context, click.Parameter, str | None], float | None]:
    """A click callback that parses ``90s``/``15m``/``12h``/``3d``."""

    def convert(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
        if value is None:
            return None
        try:
            return parse_duration(value, option=option)
        except UsageError as exc:
            raise click.BadParameter(str(exc)) from None

    return convert


def rate(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Rate | None:
    """A click callback that parses ``20/10s``/``5/s``/``300/min``."""
    if value is None:
        return None
    try:
        return parse_rate(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc)) from None


def reports_errors(func: F) -> F:
    """Turn :class:`PipelineError` into one ``ferry: error: ...`` line and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = bool(kwargs.get("debug"))
        try:
            return func(*args, **kwargs)
        except PipelineError as exc:
            if debug:
                raise
            log.error(f"ferry: error: {exc}", extra=logs.fields(**error_fields(exc)))
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            log.warning(
                "ferry: interrupted", extra=logs.fields(exit_code=int(ExitCode.INTERRUPTED))
            )
            sys.exit(ExitCode.INTERRUPTED)

    return wrapper  # type: ignore[return-value]


def error_fields(exc: PipelineError) -> dict[str, Any]:
    """The JSON fields of an error line: its kind, exit code, and the file, row and column."""
    event: dict[str, Any] = {"error": type(exc).__name__, "exit_code": exc.exit_code}
    for name, attribute in (("file", "path"), ("row", "row"), ("column", "column")):
        value = getattr(exc, attribute, None)
        if value is not None:
            event[name] = str(value) if name == "file" else value
    return event
