"""``--timeout`` means no progress (issue 24, row E): a large upload to a server that reads it
slowly but steadily succeeds however long it takes; one to a server that stops reading fails
as ``timeout`` once nothing moved for that long, instead of hanging or being cut off mid-way.

The server here is a small HTTP/1.1 responder on a raw socket whose receive buffer is kept
small, so that what it has not read stays with the client: the loopback's own buffers
(autotuned to tens of MB) would otherwise take a whole upload at once.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

import pytest

from pipeline.store.table import read_results
from tests.conftest import API_KEY, write_manifest

#: The server takes this much of a body at a time, with a pause between: about 25 MB/s, so
#: the large file takes about two seconds, twice --timeout, and what the client's system has
#: buffered when the last byte left ferry (4 MB at most) drains within a fifth of it.
READ_BYTES = 256 * 1024
PAUSE_SECONDS = 0.01
FILE_BYTES = 48 * 1024 * 1024
TIMEOUT = "1"
RECEIVE_BUFFER = 64 * 1024


class ReadingServer:
    """Answers every POST like the upload API once it has read the body ``READ_BYTES`` at a
    time; with ``stall_after`` it stops reading a body there until the client goes."""

    def __init__(self, *, stall_after: int | None = None) -> None:
        self.stall_after = stall_after
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        self.sock.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._loop = asyncio.new_event_loop()
        self._released = asyncio.Event()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> ReadingServer:
        self._thread.start()
        server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._answer, sock=self.sock), self._loop
        )
        self._server = server.result(timeout=10)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _close(self) -> None:
        self._released.set()  # a stalled answer ends
        self._server.close()
        await asyncio.sleep(0.1)  # the answers that were released finish

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(
                next(
                    line.split(b":", 1)[1]
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
            )
            received = 0
            while received < length:
                if self.stall_after is not None and received >= self.stall_after:
                    await self._released.wait()  # nothing more is read, until the test ends
                    return
                chunk = await reader.read(min(READ_BYTES, length - received))
                if not chunk:
                    return
                received += len(chunk)
                await asyncio.sleep(PAUSE_SECONDS)
            data = {"fileName": "f.bin", "fileSize": received, "downloadUrl": "http://d/f.bin"}
            body = json.dumps({"code": 200, "msg": "ok", "success": True, "data": data}).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()


def run_ferry(manifest: Path, base_url: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """``ferry run`` in a process of its own, bounded in time (a hang fails the test)."""
    started = time.monotonic()
    done = subprocess.run(
        [
            *(sys.executable, "-m", "jobs", "run", str(manifest), "--base-url", base_url),
            *("--timeout", TIMEOUT, "--retries", "0", "--no-progress"),
        ],
        env={**os.environ, "KIE_API_KEY": API_KEY},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done, time.monotonic() - started


@pytest.fixture
def large_file(tmp_path: Path) -> Path:
    path = tmp_path / "large.bin"
    path.write_bytes(os.urandom(FILE_BYTES))
    return path


def test_a_large_upload_read_slowly_but_steadily_succeeds(tmp_path: Path, large_file: Path) -> None:
    blob = base64.b64encode(os.urandom(3 * 1024 * 1024)).decode()  # a 4 MB JSON body
    manifest = write_manifest(
        tmp_path / "m.csv",
        [
            {"url": str(large_file), "file_name": "large.bin"},
            {"url": f"data:application/octet-stream;base64,{blob}", "file_name": "b.bin"},
        ],
    )
    with ReadingServer() as api:
        done, took = run_ferry(manifest, api.base_url)
    assert done.returncode == 0, done.stderr
    table = read_results(tmp_path / "m.results.parquet")
    assert table["status"].to_list() == ["ok", "ok"]
    assert table["attempts"].to_list() == [1, 1]
    assert table["file_size"][0] > FILE_BYTES  # the multipart body, read in full
    assert took > 1.5 * float(TIMEOUT)  # the upload lasted longer than --timeout


def test_an_upload_the_server_stops_reading_fails_as_a_timeout(
    tmp_path: Path, large_file: Path
) -> None:
    manifest = write_manifest(tmp_path / "m.csv", [{"url": str(large_file)}])
    with ReadingServer(stall_after=2 * 1024 * 1024) as api:
        done, took = run_ferry(manifest, api.base_url)
    assert done.returncode == 1, done.stderr
    row = read_results(tmp_path / "m.results.parquet").row(0, named=True)
    assert (row["status"], row["error_kind"]) == ("failed", "timeout")
    assert "no progress for 1s" in row["error"]
    assert took < 30  # given up once the server stopped reading, never hung
