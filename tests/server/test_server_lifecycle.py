"""Expiry, restarts, the background runner and the ``ferry serve`` command."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from aiohttp import test_utils, web
from click.testing import CliRunner

from fileapi import BackgroundServer, ServerSettings, make_app
from fileapi.state import STORAGE
from fileapi.sweeper import sweep_once
from jobs.serve import serve
from pipeline.core.errors import UsageError
from pipeline.core.units import parse_size

KEY = "server-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
UPLOAD = {"base64Data": "aGVsbG8gd29ybGQ=", "uploadPath": "keep", "fileName": "hello.txt"}

Client = test_utils.TestClient[web.Request, web.Application]


async def test_uploads_expire_after_the_ttl_and_the_sweeper_deletes_them(
    tmp_path: Path, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> None:
    now = [1_800_000_000.0]  # the server's clock, moved by the test: no waiting for the TTL
    settings = ServerSettings(
        data_dir=tmp_path / "data",
        keys=(KEY,),
        ttl_seconds=3600.0,
        sweep_interval_seconds=3600.0,
        clock=lambda: now[0],
    )
    client = await aiohttp_client(make_app(settings))
    response = await client.post("/api/file-base64-upload", json=UPLOAD, headers=AUTH)
    data = (await response.json())["data"]
    assert data["expiresAt"].startswith("2027-01-15T09:00:00")  # uploaded at `now`, + the TTL
    token_dir = tmp_path / "data" / "files" / data["downloadUrl"].split("/")[3]
    assert token_dir.is_dir()
    now[0] += 3599.0
    async with client.session.get(data["fileUrl"]) as live:
        assert live.status == 200
    now[0] += 1.0
    for url in (data["fileUrl"], data["downloadUrl"]):
        async with client.session.get(url) as gone:
            assert gone.status == 404
            assert (await gone.json())["msg"] == "File not found or expired"
    assert token_dir.is_dir()  # expired, not yet swept
    assert await sweep_once(client.app[STORAGE], settings.clock) == 1
    assert not token_dir.exists()
    assert await client.app[STORAGE].count() == 0


async def test_files_and_metadata_survive_a_restart(
    tmp_path: Path, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> None:
    settings = ServerSettings(data_dir=tmp_path / "data", keys=(KEY,))
    first = await aiohttp_client(make_app(settings))
    response = await first.post("/api/file-base64-upload", json=UPLOAD, headers=AUTH)
    path = "/" + (await response.json())["data"]["downloadUrl"].split("/", 3)[3]
    await first.close()

    second = await aiohttp_client(make_app(settings))
    response = await second.get(path)
    assert response.status == 200
    assert await response.read() == b"hello world"
    assert response.headers["Content-Type"] == "text/plain"


async def test_without_public_url_the_urls_name_the_bound_port(tmp_path: Path) -> None:
    settings = ServerSettings(data_dir=tmp_path / "data", keys=(KEY,), port=0)
    server = test_utils.TestServer(make_app(settings), host="127.0.0.1", port=0)
    async with test_utils.TestClient(server) as client:
        response = await client.post("/api/file-base64-upload", json=UPLOAD, headers=AUTH)
        url = (await response.json())["data"]["downloadUrl"]
        assert url.startswith(f"http://127.0.0.1:{server.port}/")


def test_background_server_runs_an_app_in_a_thread_and_stops(tmp_path: Path) -> None:
    settings = ServerSettings(data_dir=tmp_path / "data", keys=(KEY,), port=0)
    with BackgroundServer(make_app(settings)) as server:
        assert server.port > 0
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        response = requests.post(
            f"{server.base_url}/api/file-base64-upload", json=UPLOAD, headers=AUTH, timeout=10
        )
        data = response.json()["data"]
        assert requests.get(data["downloadUrl"], timeout=10).content == b"hello world"
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.base_url}/api/v1/chat/credit", timeout=2)


def test_background_server_reports_a_port_it_cannot_bind() -> None:
    with BackgroundServer(web.Application()) as taken:
        clash = BackgroundServer(web.Application(), port=taken.port)
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="failed to start"):
            clash.start()
        assert time.monotonic() - started < 5


def test_parse_size() -> None:
    assert parse_size("1048576") == 1048576
    assert parse_size("100MB") == 100_000_000
    assert parse_size("1GiB") == 1024**3
    assert parse_size("512k") == 512_000
    assert parse_size("2 MiB") == 2 * 1024**2
    for bad in ("", "MB", "-1", "1XB", "0"):
        with pytest.raises(UsageError):
            parse_size(bad)


def test_serve_help_and_bad_options() -> None:
    from jobs.cli import main

    runner = CliRunner()
    assert runner.invoke(main, ["serve", "--help"]).exit_code == 0
    result = runner.invoke(serve, ["--help"])
    assert result.exit_code == 0
    assert "--rate-limit" in result.output and "FERRY_SERVER_KEYS" in result.output
    for args in (["--ttl", "soon"], ["--rate-limit", "lots"], ["--max-url-size", "big"]):
        result = runner.invoke(serve, args)
        assert result.exit_code == 2, args
        assert "Invalid value" in result.output


def _start_serve(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    code = "from jobs.serve import serve; serve(prog_name='ferry serve')"
    return subprocess.Popen(
        [sys.executable, "-c", code, "--port", "0", "--data-dir", str(tmp_path / "d"), *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_for_line(proc: subprocess.Popen[str], pattern: str) -> tuple[re.Match[str], list[str]]:
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(pattern, line)
        if found:
            return found, lines
    proc.kill()
    raise AssertionError(f"no line matching {pattern!r} in {lines}")


def _env(**extra: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "FERRY_SERVER_KEYS"}
    env.update(extra)
    return env


def test_ferry_serve_generates_a_key_prints_it_once_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc = _start_serve(tmp_path, _env())
    try:
        listening, _ = _wait_for_line(proc, r"listening on (http://127\.0\.0\.1:\d+)")
        generated, _ = _wait_for_line(proc, r"generated API key: (\S+)")
        base, key = listening.group(1), generated.group(1)
        ok = requests.get(
            f"{base}/api/v1/chat/credit", headers={"Authorization": f"Bearer {key}"}, timeout=10
        )
        assert ok.json()["data"] == 1_000_000
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "shutting down" in rest
    assert key not in rest  # printed once, never logged with the access lines
    assert "GET /api/v1/chat/credit 200" in rest


def test_ferry_serve_takes_keys_from_the_environment_and_applies_knobs(tmp_path: Path) -> None:
    proc = _start_serve(
        tmp_path, _env(FERRY_SERVER_KEYS="alpha, beta"), "--status-mode", "body", "--credits", "1"
    )
    try:
        listening, lines = _wait_for_line(proc, r"listening on (http://127\.0\.0\.1:\d+)")
        base = listening.group(1)
        refused = requests.get(
            f"{base}/api/v1/chat/credit", headers={"Authorization": "Bearer gamma"}, timeout=10
        )
        assert (refused.status_code, refused.json()["code"]) == (200, 401)
        ok = requests.get(
            f"{base}/api/v1/chat/credit", headers={"Authorization": "Bearer beta"}, timeout=10
        )
        assert ok.json()["data"] == 1
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "generated API key" not in "".join(lines) + rest
    assert "alpha" not in rest and "beta" not in rest
