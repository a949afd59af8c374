"""``ferry serve --capacity N --queue M``: N uploads served at once, M waiting in arrival order,
the rest answered 429 with ``Retry-After: 1`` at once. Real concurrent requests on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from fileapi.settings import ServerSettings, SettingsError
from fileapi.state import CAPACITY
from tests.helpers.server_helpers import AUTH, AiohttpClient, Client, start_api

DATA_URL = "data:text/plain;base64,aGVsbG8="
#: Each upload holds its worker this long: long enough that every request of a test arrives
#: while the first ones are still being served.
LATENCY_MS = 400


@pytest.fixture
def capacity_api(tmp_path: Path, aiohttp_client: AiohttpClient) -> Callable[..., Any]:
    async def start(**overrides: Any) -> Client:
        return await start_api(
            aiohttp_client, tmp_path / "data", latency_ms=LATENCY_MS, **overrides
        )

    return start


async def upload_all(
    client: Client, count: int
) -> tuple[list[tuple[int, dict[str, Any], str | None]], list[int]]:
    """``count`` Base64 uploads at once: each answer (HTTP status, body, Retry-After), and the
    order in which the successful ones finished."""
    finished: list[int] = []

    async def one(i: int) -> tuple[int, dict[str, Any], str | None]:
        body = {"base64Data": DATA_URL, "uploadPath": "cap", "fileName": f"f{i}.txt"}
        resp = await client.post("/api/file-base64-upload", json=body, headers=AUTH)
        answer = await resp.json()
        if resp.status == 200:
            finished.append(i)
        return resp.status, answer, resp.headers.get("Retry-After")

    answers = await asyncio.gather(*(one(i) for i in range(count)))
    return list(answers), finished


async def test_n_are_served_m_wait_and_the_rest_get_429_with_retry_after(
    capacity_api: Callable[..., Any],
) -> None:
    client = await capacity_api(capacity=2, queue=1)
    answers, finished = await upload_all(client, 6)
    ok = [a for a in answers if a[0] == 200]
    refused = [a for a in answers if a[0] == 429]
    assert len(ok) == 3 and len(refused) == 3
    for _, body, retry_after in refused:
        assert body["code"] == 429 and body["success"] is False and retry_after == "1"
    capacity = client.app[CAPACITY]
    assert (capacity.most_serving, capacity.most_waiting, capacity.rejected) == (2, 1, 3)
    assert (capacity.serving, capacity.waiting) == (0, 0)
    # the one that waited is served once a worker is free: it finishes last
    first_two = {i for i, a in enumerate(answers) if a[0] == 200} - {finished[-1]}
    assert set(finished[:2]) == first_two


async def test_the_queue_defaults_to_as_many_places_as_workers(
    capacity_api: Callable[..., Any],
) -> None:
    client = await capacity_api(capacity=2)
    answers, _ = await upload_all(client, 6)
    assert sorted(a[0] for a in answers) == [200] * 4 + [429] * 2
    assert client.app[CAPACITY].most_waiting == 2


async def test_only_authenticated_uploads_take_a_worker(capacity_api: Callable[..., Any]) -> None:
    client = await capacity_api(capacity=1, queue=0)
    body = {"base64Data": DATA_URL, "uploadPath": "cap"}
    upload = asyncio.create_task(client.post("/api/file-base64-upload", json=body, headers=AUTH))
    await asyncio.sleep(LATENCY_MS / 4000)  # the upload holds the one worker now
    bad_key = await client.post(
        "/api/file-base64-upload", json=body, headers={"Authorization": "Bearer wrong"}
    )
    over = await client.post("/api/file-base64-upload", json=body, headers=AUTH)
    credit = await client.get("/api/v1/chat/credit", headers=AUTH)  # not an upload: not bounded
    assert (bad_key.status, over.status, credit.status) == (401, 429, 200)
    assert (await upload).status == 200
    assert client.app[CAPACITY].rejected == 1


def test_a_queue_needs_a_capacity(tmp_path: Path, cli: Callable[..., Result]) -> None:
    with pytest.raises(SettingsError, match="queue"):
        ServerSettings(data_dir=tmp_path, keys=("k",), queue=4)
    result = cli("serve", "--queue", "4", "--data-dir", tmp_path / "d")
    assert result.exit_code == 2 and "queue" in result.output + result.stderr
