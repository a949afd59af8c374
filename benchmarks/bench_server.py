"""Benchmark of the local File Upload API server: memory and throughput of big uploads.

Starts ``fileapi.run_server`` in a subprocess (``sys.executable``), then measures:

* a 1 GiB stream upload sent from a generator (nothing held in memory on either side):
  the server's peak RSS growth (psutil) and MB/s, against a plain file copy of the same
  size on the same disk (``shutil.copyfile``);
* a 10 MB Base64 upload (the spec's cap) and a 100 MB URL upload (from a local source).

Run ``python benchmarks/bench_server.py [--stream-mib N]``; ``main()`` returns the figures.
Everything is written under ``benchmarks/work/`` (git-ignored) and deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "work"
MIB = 1024 * 1024
CHUNK = MIB
SERVER_CODE = """
import os, sys
from pathlib import Path
from fileapi import ServerSettings, run_server
run_server(ServerSettings(
    data_dir=Path(sys.argv[1]), keys=(os.environ["BENCH_KEY"],), port=0,
    allow_private_sources=True, max_stream_bytes=int(sys.argv[2]),
))
"""


class RssSampler:
    """Samples a process's RSS every ``interval`` seconds in a thread; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.baseline: int = self.process.memory_info().rss
        self.peak: int = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self.process.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self.baseline = self.process.memory_info().rss
        self.peak = self.baseline
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._stop.clear()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    @property
    def growth_mib(self) -> float:
        """Peak RSS above the baseline, in MiB."""
        return (self.peak - self.baseline) / MIB


@contextlib.contextmanager
def server_process(data_dir: Path, key: str, max_stream: int) -> Iterator[tuple[str, int]]:
    """Run the API in a subprocess; yields its base URL and pid."""
    log_path = data_dir.parent / "server.log"
    env = {**os.environ, "BENCH_KEY": key, "PYTHONPATH": str(ROOT)}
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVER_CODE, str(data_dir), str(max_stream)],
            stderr=log,
            stdout=subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = re.search(r"listening on (http://\S+)", log_path.read_text())
            if found:
                break
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {log_path.read_text()}")
            time.sleep(0.05)
        else:
            raise RuntimeError("server did not start within 30 s")
        yield found.group(1), proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


async def _zeros_and_noise(total: int) -> AsyncIterator[bytes]:
    block = os.urandom(CHUNK)
    sent = 0
    while sent < total:
        piece = block[: min(CHUNK, total - sent)]
        sent += len(piece)
        yield piece


async def stream_upload(base: str, key: str, total: int) -> dict[str, Any]:
    """Send ``total`` bytes from a generator as a multipart stream upload."""
    with aiohttp.MultipartWriter("form-data") as form:
        form.append("bench").set_content_disposition("form-data", name="uploadPath")
        part = form.append(_zeros_and_noise(total))
        part.set_content_disposition("form-data", name="file", filename="big.bin")
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        started = time.perf_counter()
        async with session.post(
            f"{base}/api/file-stream-upload",
            data=form,
            headers={"Authorization": f"Bearer {key}"},
        ) as response:
            answer = await response.json()
        elapsed = time.perf_counter() - started
    if answer.get("code") != 200 or answer["data"]["fileSize"] != total:
        raise RuntimeError(f"stream upload failed: {answer}")
    return {"seconds": elapsed, "mb_per_s": total / 1e6 / elapsed}


async def json_upload(base: str, key: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST a JSON upload; its time and the answer's data."""
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        async with session.post(
            f"{base}{path}", json=body, headers={"Authorization": f"Bearer {key}"}
        ) as response:
            answer = await response.json()
        elapsed = time.perf_counter() - started
    if answer.get("code") != 200:
        raise RuntimeError(f"upload failed: {answer}")
    return {"seconds": elapsed, "size": answer["data"]["fileSize"]}


def file_copy(directory: Path, total: int) -> dict[str, Any]:
    """Baseline: write a ``total``-byte file, then time a plain copy of it on the same disk."""
    source, target = directory / "copy-src.bin", directory / "copy-dst.bin"
    block = os.urandom(CHUNK)
    with source.open("wb") as out:
        for offset in range(0, total, CHUNK):
            out.write(block[: min(CHUNK, total - offset)])
    started = time.perf_counter()
    shutil.copyfile(source, target)
    elapsed = time.perf_counter() - started
    source.unlink()
    target.unlink()
    return {"seconds": elapsed, "mb_per_s": total / 1e6 / elapsed}


def source_app(size: int) -> web.Application:
    """A source serving ``/big.bin``: ``size`` bytes, streamed."""

    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = size
        await response.prepare(request)
        block = b"\x5a" * CHUNK
        for offset in range(0, size, CHUNK):
            await response.write(block[: min(CHUNK, size - offset)])
        return response

    app = web.Application()
    app.router.add_get("/big.bin", big)
    return app


def main(stream_bytes: int = 1024 * MIB, url_bytes: int = 100_000_000) -> dict[str, Any]:
    """Run every measurement; print and return the figures."""
    from fileapi import BackgroundServer

    work = WORK / f"server-{secrets.token_hex(4)}"
    data_dir = work / "data"
    data_dir.mkdir(parents=True)
    key = secrets.token_urlsafe(16)
    figures: dict[str, Any] = {"stream_bytes": stream_bytes}
    try:
        with server_process(data_dir, key, max(stream_bytes, MIB)) as (base, pid):
            with RssSampler(pid) as rss:
                stream = asyncio.run(stream_upload(base, key, stream_bytes))
            figures["stream_mb_per_s"] = round(stream["mb_per_s"], 1)
            figures["stream_seconds"] = round(stream["seconds"], 2)
            figures["stream_rss_growth_mib"] = round(rss.growth_mib, 1)
            figures["server_rss_baseline_mib"] = round(rss.baseline / MIB, 1)
            shutil.rmtree(data_dir / "files", ignore_errors=True)

            raw = os.urandom(10_000_000)
            body = {"base64Data": base64.b64encode(raw).decode(), "uploadPath": "bench"}
            with RssSampler(pid) as rss:
                b64 = asyncio.run(json_upload(base, key, "/api/file-base64-upload", body))
            figures["base64_10mb_seconds"] = round(b64["seconds"], 3)
            figures["base64_10mb_rss_growth_mib"] = round(rss.growth_mib, 1)

            with BackgroundServer(source_app(url_bytes)) as source:
                body = {"fileUrl": f"{source.base_url}/big.bin", "uploadPath": "bench"}
                with RssSampler(pid) as rss:
                    url = asyncio.run(json_upload(base, key, "/api/file-url-upload", body))
            figures["url_100mb_seconds"] = round(url["seconds"], 2)
            figures["url_100mb_mb_per_s"] = round(url_bytes / 1e6 / url["seconds"], 1)
            figures["url_100mb_rss_growth_mib"] = round(rss.growth_mib, 1)
        shutil.rmtree(data_dir, ignore_errors=True)
        copy = file_copy(work, stream_bytes)
        figures["file_copy_mb_per_s"] = round(copy["mb_per_s"], 1)
        figures["stream_vs_copy_ratio"] = round(stream["mb_per_s"] / copy["mb_per_s"], 2)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name, value in figures.items():
        print(f"{name:>28}: {value}")
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stream-mib", type=int, default=1024, help="stream upload size")
    args = parser.parse_args()
    main(stream_bytes=args.stream_mib * MIB)
