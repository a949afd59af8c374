"""What the server tests share: the test key, its header, and starting the API on loopback."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import test_utils, web

from fileapi import ServerSettings, make_app

KEY = "server-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}

Client = test_utils.TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]
AiohttpClient = Callable[[web.Application], Awaitable[Client]]


async def start_api(
    aiohttp_client: AiohttpClient,
    data_dir: Path,
    *,
    keys: tuple[str, ...] = (KEY,),
    prepare: Callable[[web.Application, ServerSettings], None] | None = None,
    **overrides: Any,
) -> Client:
    """The API app on 127.0.0.1 (pytest-aiohttp); ``overrides`` go to ServerSettings and
    ``prepare`` may adjust the app before it starts."""
    settings = ServerSettings(data_dir=data_dir, keys=keys, **overrides)
    app = make_app(settings)
    if prepare is not None:
        prepare(app, settings)
    return await aiohttp_client(app)
