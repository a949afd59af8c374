"""``ferry serve``: the File Upload API as a local server (thin: options → settings → run)."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

import click

from fileapi.settings import (
    DEFAULT_CREDITS,
    DEFAULT_FAIL_RATE,
    DEFAULT_HOST,
    DEFAULT_LATENCY_MS,
    DEFAULT_MAX_BASE64_BYTES,
    DEFAULT_MAX_STREAM_BYTES,
    DEFAULT_MAX_URL_BYTES,
    DEFAULT_PORT,
    DEFAULT_STATUS_MODE,
    STATUS_MODES,
    ServerSettings,
    SettingsError,
    origin_problem,
)
from jobs.common import duration, log_format_option, rate, say
from pipeline.core.errors import UsageError
from pipeline.core.units import API_RETENTION, Rate, parse_size

KEYS_ENV = "FERRY_SERVER_KEYS"
DEFAULT_DATA_DIR = Path(tempfile.gettempdir()) / "ferry-data"


def _size(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_size(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc)) from None


def _statuses(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[int, ...]:
    if not value:
        return ()
    try:
        return tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(
            f"'{value}' is not a list of statuses such as 500,429,200"
        ) from None


def _origins(
    _ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    for origin in value:
        problem = origin_problem(origin)
        if problem:
            raise click.BadParameter(problem)
    return value


def server_keys() -> tuple[tuple[str, ...], bool]:
    """The keys from ``FERRY_SERVER_KEYS`` or one generated key; and whether it was generated."""
    keys = tuple(k.strip() for k in os.environ.get(KEYS_ENV, "").split(",") if k.strip())
    if keys:
        return keys, False
    return (secrets.token_urlsafe(24),), True


@click.command(name="serve")
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    help="Where uploads and their metadata are kept; survives restarts.",
)
@click.option(
    "--ttl",
    default=API_RETENTION,
    show_default=True,
    callback=duration("--ttl"),
    help="How long an upload is kept: 90s, 15m, 12h, 3d.",
)
@click.option("--public-url", help="Base of the URLs handed out. Default: http://HOST:PORT.")
@click.option(
    "--credits",
    type=click.IntRange(min=0),
    default=DEFAULT_CREDITS,
    show_default=True,
    help="Credits per key; every successful upload consumes one (then 402).",
)
@click.option(
    "--latency",
    type=click.FloatRange(min=0),
    default=DEFAULT_LATENCY_MS,
    metavar="MS",
    help="Delay every request by MS milliseconds.",
)
@click.option(
    "--fail-rate",
    type=click.FloatRange(0, 1),
    default=DEFAULT_FAIL_RATE,
    metavar="P",
    help="Answer this share of upload requests 500.",
)
@click.option(
    "--rate-limit",
    callback=rate,
    metavar="RATE",
    help="Per-key cap such as 20/10s; over it answers 429 with Retry-After.",
)
@click.option(
    "--status-mode",
    type=click.Choice(STATUS_MODES),
    default=DEFAULT_STATUS_MODE,
    show_default=True,
    help="body: every /api answer is HTTP 200, the real status only in 'code'.",
)
@click.option(
    "--fail-sequence",
    callback=_statuses,
    metavar="CODES",
    help="Answer the first upload requests exactly these statuses, e.g. 500,429,200.",
)
@click.option(
    "--allow-private-sources",
    is_flag=True,
    help="Let URL uploads fetch from loopback and private addresses.",
)
@click.option(
    "--max-stream-size",
    callback=_size,
    default=str(DEFAULT_MAX_STREAM_BYTES),
    show_default=True,
    metavar="SIZE",
    help="Cap of a stream upload (100MB, 1GiB).",
)
@click.option(
    "--max-url-size",
    callback=_size,
    default=str(DEFAULT_MAX_URL_BYTES),
    show_default=True,
    metavar="SIZE",
    help="Cap of a URL upload's download.",
)
@click.option(
    "--max-base64-size",
    callback=_size,
    default=str(DEFAULT_MAX_BASE64_BYTES),
    show_default=True,
    metavar="SIZE",
    help="Cap of a Base64 upload, decoded.",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    callback=_origins,
    metavar="ORIGIN",
    help="Let web pages from ORIGIN (https://app.example.com, http://localhost:3000; * for"
    " any) call the server: answers CORS preflights, adds CORS headers. Repeatable.",
)
@click.option(
    "--capacity",
    type=click.IntRange(min=1),
    metavar="N",
    help="Behave like an API with N upload workers: N uploads are served at once, --queue more "
    "wait, further ones are answered 429 with Retry-After: 1.",
)
@click.option(
    "--queue",
    type=click.IntRange(min=0),
    metavar="M",
    help="With --capacity: how many uploads may wait for a worker (default: N).",
)
@log_format_option
@click.option("--debug", is_flag=True, help="Log at DEBUG level.")
def serve(
    host: str,
    port: int,
    data_dir: Path,
    ttl: float,
    public_url: str | None,
    credits: int,
    latency: float,
    fail_rate: float,
    rate_limit: Rate | None,
    status_mode: str,
    fail_sequence: tuple[int, ...],
    allow_private_sources: bool,
    max_stream_size: int,
    max_url_size: int,
    max_base64_size: int,
    cors_origins: tuple[str, ...],
    capacity: int | None,
    queue: int | None,
    debug: bool,
) -> None:
    """Run the File Upload API locally, faithful to the spec, for tests and demos.

    Keys come from FERRY_SERVER_KEYS (comma-separated); without it a key is generated and
    printed once on stderr. Stop with Ctrl-C or SIGTERM.

    \b
    Examples:
      FERRY_SERVER_KEYS=secret ferry serve --port 8080 --data-dir ./server-data
      ferry serve --port 0 --fail-rate 0.1 --rate-limit 20/10s --status-mode body
      ferry serve --cors-origin http://localhost:3000
      ferry serve --latency 50 --capacity 16 --queue 8   # an API that takes 320 uploads/s
    """
    keys, generated = server_keys()
    try:
        settings = ServerSettings(
            data_dir=data_dir,
            keys=keys,
            host=host,
            port=port,
            public_url=public_url,
            ttl_seconds=ttl,
            credits=credits,
            latency_ms=latency,
            fail_rate=fail_rate,
            rate_limit=rate_limit,
            status_mode="body" if status_mode == "body" else "http",
            allow_private_sources=allow_private_sources,
            max_stream_bytes=max_stream_size,
            max_url_bytes=max_url_size,
            max_base64_bytes=max_base64_size,
            fail_sequence=fail_sequence,
            cors_origins=cors_origins,
            capacity=capacity,
            queue=queue,
        )
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    from fileapi.runner import run_server
    from pipeline.core.fdlimit import raise_open_files_limit
    from pipeline.core.logs import current_format

    raise_open_files_limit()  # a connection is a descriptor: serve as many as the system lets
    say(f"ferry serve: data in {data_dir}", data_dir=str(data_dir))
    try:
        run_server(
            settings, announce_keys=generated, debug=debug, json_logs=current_format() == "json"
        )
    except OSError as exc:
        raise click.ClickException(
            f"cannot serve on {host}:{port}: {exc.strerror or exc}"
        ) from None
