"""``ferry serve`` runs for weeks (issue 24, row F): many distinct download paths leave no
state behind in the server, which counts requests by route, never by path."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import psutil

from fileapi.middleware import NO_ROUTE

WARM_UP = 2_000
REQUESTS = 8_000
#: A download URL's path: long, so that a counter kept per path would show in the RSS at once
#: (8,000 of them: about 32 MB).
TAIL = "x" * 4_000


def _serve(tmp_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    log = tmp_path / "serve.log"
    code = "from jobs.serve import serve; serve(prog_name='ferry serve')"
    env = {**os.environ, "FERRY_SERVER_KEYS": "memory-test-key"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, "--port", "0", "--data-dir", str(tmp_path / "d")],
            stdout=subprocess.DEVNULL,
            stderr=out,
            env=env,
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", log.read_text())
        if found:
            return proc, found.group(1)
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"ferry serve did not start: {log.read_text()[-2000:]}")


async def _drive(base: str, first: int, count: int) -> None:
    """``count`` GETs, 32 at a time, each to a download path of its own (all 404)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as session:
        queue = iter(range(first, first + count))

        async def worker() -> None:
            for number in queue:
                async with session.get(f"{base}/{number:032x}/{TAIL}-{number}.bin") as answer:
                    await answer.read()
                    assert answer.status == 404

        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(32))), timeout=120)


def test_many_distinct_paths_leave_no_state_in_the_server(tmp_path: Path) -> None:
    proc, base = _serve(tmp_path)
    try:
        server = psutil.Process(proc.pid)
        asyncio.run(_drive(base, 0, WARM_UP))
        before = server.memory_info().rss
        asyncio.run(_drive(base, WARM_UP, REQUESTS))
        grown = server.memory_info().rss - before
        assert grown < 12 * 1024 * 1024, f"RSS grew {grown >> 20} MiB over {REQUESTS} paths"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_requests_are_counted_by_route(api: object) -> None:
    from fileapi import STATS, BackgroundServer

    assert isinstance(api, BackgroundServer)
    asyncio.run(_drive(api.base_url, 0, 50))
    asyncio.run(_drive_other(api.base_url))
    counts = api.app[STATS].requests_by_route
    assert counts["/{token}/{tail}"] == 50
    assert counts[NO_ROUTE] == 1


async def _drive_other(base: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/nothing-here") as answer:
        assert answer.status == 404
