"""URL uploads: the source fetch refuses private addresses (every hop), fails cleanly, is capped."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from fileapi import ServerSettings
from fileapi.fetch import (
    Fetcher,
    GuardedResolver,
    IPAddress,
    SourceRefusedError,
    is_public_address,
)
from fileapi.state import FETCHER
from tests.helpers.server_helpers import AUTH, AiohttpClient, Client, MakeClient, start_api


class ConnectionCounter:
    """A raw TCP listener that only counts the connections made to it."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self, host: str) -> None:
        async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            writer.close()

        self.server = await asyncio.start_server(accept, host, 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def counter() -> AsyncIterator[ConnectionCounter]:
    listener = ConnectionCounter()
    await listener.start("127.0.0.1")
    yield listener
    await listener.stop()


@pytest.fixture
async def counter_on_127_0_0_2() -> AsyncIterator[ConnectionCounter]:
    listener = ConnectionCounter()
    try:
        await listener.start("127.0.0.2")
    except OSError:
        pytest.skip("cannot bind 127.0.0.2 here")
    yield listener
    await listener.stop()


@pytest.fixture
def api_client(tmp_path: Path, aiohttp_client: AiohttpClient) -> MakeClient:
    """Start the API; keyword arguments override ServerSettings; ``policy`` the fetch policy."""

    async def start(policy: Callable[[IPAddress], bool] | None = None, **overrides: Any) -> Client:
        def use_policy(app: web.Application, settings: ServerSettings) -> None:
            app[FETCHER] = Fetcher(
                allow_private=False,
                timeout_seconds=settings.url_timeout_seconds,
                max_bytes=settings.max_url_bytes,
                policy=policy,
            )

        prepare = use_policy if policy is not None else None
        return await start_api(aiohttp_client, tmp_path / "data", prepare=prepare, **overrides)

    return start


@pytest.fixture
async def source(aiohttp_server: Callable[..., Awaitable[Any]]) -> AsyncIterator[str]:
    """A loopback source: ``/ok.txt``, ``/big.bin`` (3 MB, chunked), ``/slow``, redirects."""
    release = asyncio.Event()

    async def ok(_request: web.Request) -> web.Response:
        return web.Response(text="fine\n")

    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(3):
            await response.write(b"\0" * 1_000_000)
        return response

    async def slow(_request: web.Request) -> web.Response:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(release.wait(), 5)
        return web.Response(text="late")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def loop(_request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    app = web.Application()
    app.router.add_get("/ok.txt", ok)
    app.router.add_get("/big.bin", big)
    app.router.add_get("/slow", slow)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/loop", loop)
    server = await aiohttp_server(app)
    yield str(server.make_url("")).rstrip("/")
    release.set()


def test_public_address_policy() -> None:
    refused = [
        "127.0.0.1",
        "127.9.9.9",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "ff02::1",
    ]
    allowed = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]
    for text in refused:
        assert not is_public_address(ipaddress.ip_address(text)), text
    for text in allowed:
        assert is_public_address(ipaddress.ip_address(text)), text


async def test_the_resolver_refuses_names_of_private_addresses() -> None:
    resolver = GuardedResolver(is_public_address)
    try:
        with pytest.raises(SourceRefusedError, match="fileUrl resolves to a private"):
            await resolver.resolve("localhost", 80)
    finally:
        await resolver.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"])
async def test_a_loopback_source_is_refused_before_any_connection(
    api_client: MakeClient, counter: ConnectionCounter, host: str
) -> None:
    client = await api_client()
    body = {"fileUrl": f"http://{host}:{counter.port}/secret", "uploadPath": "x"}
    response = await client.post("/api/file-url-upload", json=body, headers=AUTH)
    answer = await response.json()
    assert response.status == 400
    assert "fileUrl" in answer["msg"]
    assert answer["msg"].startswith("Invalid parameter: fileUrl")
    await asyncio.sleep(0.05)
    assert counter.connections == 0


async def test_a_redirect_to_a_refused_address_is_refused(
    api_client: MakeClient, source: str, counter_on_127_0_0_2: ConnectionCounter
) -> None:
    """127.0.0.1 plays an allowed public host; the redirect goes to refused 127.0.0.2."""
    only_127_0_0_1 = ipaddress.ip_address("127.0.0.1")
    client = await api_client(policy=lambda address: address == only_127_0_0_1)
    target = f"http://127.0.0.2:{counter_on_127_0_0_2.port}/internal"
    body = {"fileUrl": f"{source}/redirect?to={target}", "uploadPath": "x"}
    response = await client.post("/api/file-url-upload", json=body, headers=AUTH)
    answer = await response.json()
    assert response.status == 400
    assert answer["msg"] == "Invalid parameter: fileUrl redirects to a private or loopback address"
    assert counter_on_127_0_0_2.connections == 0

    body = {"fileUrl": f"{source}/redirect?to={source}/ok.txt", "uploadPath": "x"}
    response = await client.post("/api/file-url-upload", json=body, headers=AUTH)
    assert response.status == 200  # the same policy lets an allowed hop through


async def test_a_redirect_to_another_scheme_is_refused(api_client: MakeClient, source: str) -> None:
    client = await api_client(allow_private_sources=True)
    body = {"fileUrl": f"{source}/redirect?to=file:///etc/passwd", "uploadPath": "x"}
    response = await client.post("/api/file-url-upload", json=body, headers=AUTH)
    answer = await response.json()
    assert response.status == 400
    assert answer["msg"].startswith("Invalid parameter: fileUrl redirects to")


async def test_endless_redirects_fail_as_a_download_failure(
    api_client: MakeClient, source: str
) -> None:
    client = await api_client(allow_private_sources=True)
    body = {"fileUrl": f"{source}/loop", "uploadPath": "x"}
    response = await client.post("/api/file-url-upload", json=body, headers=AUTH)
    answer = await response.json()
    assert (response.status, answer["msg"]) == (400, "File download failed: more than 5 redirects")


async def test_with_private_sources_allowed_a_local_source_works(
    api_client: MakeClient, source: str
) -> None:
    client = await api_client(allow_private_sources=True)
    body = {"fileUrl": f"{source}/ok.txt", "uploadPath": "x"}
    response = await client.post("/api/file-url-upload", json=body, headers=AUTH)
    assert response.status == 200
    assert (await response.json())["data"]["fileSize"] == 5


@pytest.mark.parametrize(
    ("path", "msg"),
    [
        ("/missing.txt", "File download failed: source answered HTTP 404"),
        ("/slow", "File download failed: timed out after 0.5 s"),
    ],
)
async def test_an_unfetchable_source_is_400_file_download_failed(
    api_client: MakeClient, source: str, path: str, msg: str
) -> None:
    client = await api_client(allow_private_sources=True, url_timeout_seconds=0.5)
    body = {"fileUrl": f"{source}{path}", "uploadPath": "x"}
    response = await client.post("/api/file-url-upload", json=body, headers=AUTH)
    answer = await response.json()
    assert (response.status, answer["code"], answer["msg"]) == (400, 400, msg)


async def test_a_closed_port_is_400_file_download_failed(
    api_client: MakeClient, counter: ConnectionCounter
) -> None:
    client = await api_client(allow_private_sources=True)
    await counter.stop()
    body = {"fileUrl": f"http://127.0.0.1:{counter.port}/gone", "uploadPath": "x"}
    response = await client.post("/api/file-url-upload", json=body, headers=AUTH)
    answer = await response.json()
    assert response.status == 400
    assert answer["msg"].startswith("File download failed: cannot connect to 127.0.0.1:")


async def test_a_source_over_the_cap_is_413_and_leaves_nothing(
    api_client: MakeClient, source: str, tmp_path: Path
) -> None:
    client = await api_client(allow_private_sources=True, max_url_bytes=1_000_000)
    body = {"fileUrl": f"{source}/big.bin", "uploadPath": "x"}
    response = await client.post("/api/file-url-upload", json=body, headers=AUTH)
    answer = await response.json()
    assert (response.status, answer["msg"]) == (413, "File too large: the limit is 1000000 bytes")
    data = tmp_path / "data"
    assert list((data / "tmp").iterdir()) == []
    assert [p for p in (data / "files").rglob("*") if p.is_file()] == []


async def test_the_fetch_sends_a_user_agent(
    api_client: MakeClient, aiohttp_server: Callable[..., Awaitable[Any]]
) -> None:
    agents: list[str] = []

    async def record(request: web.Request) -> web.Response:
        agents.append(request.headers.get("User-Agent", ""))
        return web.Response(body=b"x")

    app = web.Application()
    app.router.add_get("/ua", record)
    server = await aiohttp_server(app)
    client = await api_client(allow_private_sources=True)
    body = {"fileUrl": str(server.make_url("/ua")), "uploadPath": "x"}
    response = await client.post("/api/file-url-upload", json=body, headers=AUTH)
    assert response.status == 200
    assert agents and agents[0].startswith("ferry-fileapi/")
