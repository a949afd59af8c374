"""Run any ``web.Application`` on loopback in a daemon thread with its own event loop.

For synchronous callers: ``CliRunner`` tests, ``ferry demo`` and benchmarks start the API
and small source-file apps this way::

    with BackgroundServer(make_app(settings)) as server:
        requests.get(f"{server.base_url}/api/v1/chat/credit", ...)
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType

from aiohttp import web

from fileapi.protocol import ApiAppRunner
from fileapi.state import SETTINGS

DEFAULT_START_TIMEOUT = 10.0
DEFAULT_STOP_TIMEOUT = 10.0
SHUTDOWN_GRACE_SECONDS = 2.0


class BackgroundServer:
    """A context manager serving ``app`` on ``host:port`` (port 0: a free one) in a thread.

    ``__enter__`` returns once the socket listens (or raises ``RuntimeError`` within
    ``start_timeout``); ``port`` and ``base_url`` are then the bound ones. ``__exit__`` stops
    the server, runs the app's cleanup and joins the thread within ``stop_timeout``.
    """

    def __init__(
        self,
        app: web.Application,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        start_timeout: float = DEFAULT_START_TIMEOUT,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = asyncio.Event()
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` of the listening socket."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> BackgroundServer:
        """Start serving; returns when listening. Raises ``RuntimeError`` if that fails."""
        if self._thread is not None:
            raise RuntimeError("BackgroundServer can be started once")
        self._thread = threading.Thread(target=self._run, name="fileapi-background", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.start_timeout):
            self.stop()
            raise RuntimeError(f"server did not start within {self.start_timeout:g} s")
        if self._error is not None:
            self._thread.join(self.stop_timeout)
            raise RuntimeError(f"server failed to start: {self._error}") from self._error
        return self

    def stop(self) -> None:
        """Stop serving and join the thread (bounded by ``stop_timeout``); idempotent."""
        loop, stop, thread = self._loop, self._stop, self._thread
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in the meantime
                loop.call_soon_threadsafe(stop.set)
        if thread is not None:
            thread.join(self.stop_timeout)
            if thread.is_alive():
                raise RuntimeError(f"server did not stop within {self.stop_timeout:g} s")

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()

    async def _serve(self) -> None:
        # the API answers even unparsable requests with its JSON error; other apps as aiohttp does
        runner_class = ApiAppRunner if SETTINGS in self.app else web.AppRunner
        runner = runner_class(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE_SECONDS
        )
        try:
            await runner.setup()
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
            self.port = int(runner.addresses[0][1])
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            with contextlib.suppress(Exception):
                await runner.cleanup()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()
