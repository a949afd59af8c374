"""The app factory: :func:`make_app` wires settings, state, middlewares, routes and tasks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from fileapi import handlers, openapi, uploads
from fileapi.capacity import Capacity, capacity_middleware
from fileapi.cors import cors_middleware
from fileapi.credits import CreditLedger
from fileapi.faults import FaultState, fault_middleware
from fileapi.fetch import Fetcher
from fileapi.middleware import access_log_middleware, auth_middleware, error_middleware, key_of
from fileapi.settings import ServerSettings
from fileapi.state import (
    CAPACITY,
    CREDITS,
    FAULTS,
    FETCHER,
    SETTINGS,
    STATS,
    STORAGE,
    ServerStats,
)
from fileapi.storage import Storage
from fileapi.sweeper import sweep_forever


def make_app(settings: ServerSettings) -> web.Application:
    """A ready-to-run File Upload API for ``settings``.

    State lives under the ``AppKey``\\ s of :mod:`fileapi.state` (``STATS`` for tests, and
    ``CAPACITY`` with ``settings.capacity``).
    Storage, the source fetcher and the expiry sweeper start with the app and stop with it.
    """
    stats = ServerStats()
    faults = FaultState(
        fail_sequence=settings.fail_sequence,
        fail_rate=settings.fail_rate,
        rate_limit=settings.rate_limit,
        seed=settings.seed,
    )
    middlewares = [
        access_log_middleware(stats),
        error_middleware(settings.status_mode),
        auth_middleware(settings.keys),
        fault_middleware(faults, settings.latency_ms, key_of),
    ]
    capacity = None
    if settings.capacity is not None:
        # inside authentication (a refused key takes no worker), outside the fault knobs
        # (--latency is time a worker spends on the upload)
        capacity = Capacity(settings.capacity, settings.queue_places)
        middlewares.insert(3, capacity_middleware(capacity))
    if settings.cors_origins:
        # outside the error middleware, so errors get CORS headers too; outside auth,
        # because a browser's preflight never carries the key
        middlewares.insert(1, cors_middleware(settings.cors_origins))
    app = web.Application(middlewares=middlewares)
    app[SETTINGS] = settings
    app[STATS] = stats
    if capacity is not None:
        app[CAPACITY] = capacity
    app[FAULTS] = faults
    app[CREDITS] = CreditLedger(settings.keys, settings.credits)
    app[STORAGE] = Storage(settings.data_dir)
    app[FETCHER] = Fetcher(
        allow_private=settings.allow_private_sources,
        timeout_seconds=settings.url_timeout_seconds,
        max_bytes=settings.max_url_bytes,
    )
    app.cleanup_ctx.append(_storage_ctx)
    app.cleanup_ctx.append(_fetcher_ctx)
    app.cleanup_ctx.append(_sweeper_ctx)
    _add_routes(app)
    return app


def _add_routes(app: web.Application) -> None:
    token = handlers.TOKEN_PATTERN
    app.router.add_post("/api/file-url-upload", uploads.url_upload)
    app.router.add_post("/api/file-stream-upload", uploads.stream_upload)
    app.router.add_post("/api/file-base64-upload", uploads.base64_upload)
    app.router.add_get("/api/v1/chat/credit", handlers.credit)
    app.router.add_get("/openapi.json", openapi.openapi)
    app.router.add_get(f"/files/{{token:{token}}}/{{tail:.+}}", handlers.file_view)
    app.router.add_get(f"/{{token:{token}}}/{{tail:.+}}", handlers.download)


async def _storage_ctx(app: web.Application) -> AsyncIterator[None]:
    storage = app[STORAGE]
    await storage.open()
    yield
    await storage.close()


async def _fetcher_ctx(app: web.Application) -> AsyncIterator[None]:
    fetcher = app[FETCHER]
    await fetcher.start()
    yield
    await fetcher.close()


async def _sweeper_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    task = asyncio.create_task(
        sweep_forever(app[STORAGE], settings.sweep_interval_seconds, settings.clock),
        name="fileapi-sweeper",
    )
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
