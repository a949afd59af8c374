"""``run_server``: the blocking, signal-aware runner behind ``ferry serve``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import warnings
from collections.abc import Callable

import aiohttp
from aiohttp import web

from fileapi.app import make_app
from fileapi.protocol import ApiAppRunner
from fileapi.settings import ServerSettings
from pipeline.core.logs import JsonFormatter, fields

SHUTDOWN_GRACE_SECONDS = 5.0
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: The server's own lines (listening, generated key, shutting down): bare text, or JSON.
announce = logging.getLogger(__name__)


def configure_logging(debug: bool = False, *, json_logs: bool = False) -> None:
    """Send the server's logs (one access line per request) to stderr; DEBUG if ``debug``.

    With ``json_logs`` every line is one JSON object (``ferry serve --log-format json``).
    aiohttp's warnings about a client's malformed ``Content-Disposition`` are silenced: the
    server answers such a request itself (``fileapi.forms``), a warning would only be noise.
    """
    for category in (aiohttp.BadContentDispositionHeader, aiohttp.BadContentDispositionParam):
        warnings.filterwarnings("ignore", category=category)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_logs else logging.Formatter(LOG_FORMAT))
    for name in ("fileapi", "aiohttp.server", "aiohttp.web"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.DEBUG if debug else logging.INFO)
        logger.propagate = False
    plain = logging.StreamHandler(sys.stderr)
    plain.setFormatter(JsonFormatter() if json_logs else logging.Formatter("%(message)s"))
    announce.handlers[:] = [plain]
    announce.setLevel(logging.INFO)
    announce.propagate = False


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run_server(
    settings: ServerSettings,
    *,
    announce_keys: bool = False,
    debug: bool = False,
    json_logs: bool = False,
) -> None:
    """Serve the File Upload API for ``settings`` until SIGINT or SIGTERM; uvloop if present.

    Prints ``ferry serve: listening on http://HOST:PORT`` on stderr once bound and, with
    ``announce_keys`` (keys were generated for this run), ``ferry serve: generated API key:
    <key>`` once per key. Raises ``OSError`` if the address cannot be bound.
    """
    configure_logging(debug, json_logs=json_logs)
    with asyncio.Runner(loop_factory=_loop_factory(), debug=debug) as runner:
        runner.run(_serve(settings, announce_keys))


async def _serve(settings: ServerSettings, announce_keys: bool) -> None:
    runner = ApiAppRunner(
        make_app(settings),
        access_log=None,
        handle_signals=False,
        shutdown_timeout=SHUTDOWN_GRACE_SECONDS,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        port = runner.addresses[0][1]
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        url = f"http://{host}:{port}"
        announce.info(f"ferry serve: listening on {url}", extra=fields(url=url))
        if announce_keys:
            for key in settings.keys:
                announce.info(f"ferry serve: generated API key: {key}")
        await _wait_for_signal()
        announce.info("ferry serve: shutting down")
    finally:
        await runner.cleanup()


async def _wait_for_signal() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
