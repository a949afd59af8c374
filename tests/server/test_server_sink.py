"""The upload sink: a small upload stays in memory until placed, a large one goes through a
temp file, and nothing is left behind by one that is discarded."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fileapi.sink import BATCH_BYTES, TempSink, TooLargeError


async def test_a_small_upload_never_touches_the_temp_dir(tmp_path: Path) -> None:
    temp, target = tmp_path / "upload.part", tmp_path / "kept.txt"
    async with TempSink(temp, limit=BATCH_BYTES) as sink:
        await sink.write(b"hello ")
        await sink.write(b"world")
        await sink.finish()
        assert not temp.exists()
        sink.place(target)
        await sink.discard()  # placed: nothing to remove
    assert target.read_bytes() == b"hello world"
    assert sink.size == 11 and sink.head == b"hello world"


async def test_a_large_upload_goes_through_a_temp_file_and_is_moved(tmp_path: Path) -> None:
    temp, target = tmp_path / "upload.part", tmp_path / "kept.bin"
    chunk = b"x" * (BATCH_BYTES // 2)
    async with TempSink(temp, limit=4 * BATCH_BYTES) as sink:
        for _ in range(3):
            await sink.write(chunk)
        assert temp.stat().st_size == BATCH_BYTES  # one full batch written so far
        await sink.finish()
        sink.place(target)
        await sink.discard()
    assert not temp.exists()
    assert target.stat().st_size == 3 * len(chunk)


@pytest.mark.parametrize("size", [10, 3 * BATCH_BYTES // 2])
async def test_a_discarded_upload_leaves_nothing(tmp_path: Path, size: int) -> None:
    temp = tmp_path / "upload.part"
    sink = TempSink(temp, limit=4 * BATCH_BYTES)
    await sink.write(b"y" * size)
    await sink.discard()
    await sink.discard()
    assert list(tmp_path.iterdir()) == []


async def test_too_large_raises_and_an_error_inside_discards(tmp_path: Path) -> None:
    temp = tmp_path / "upload.part"
    with pytest.raises(TooLargeError):
        async with TempSink(temp, limit=BATCH_BYTES + 5) as sink:
            await sink.write(b"z" * BATCH_BYTES)
            await sink.write(b"z" * 6)
    assert list(tmp_path.iterdir()) == []


class LateSink(TempSink):
    """A sink whose batches wait for ``go`` before they run: a thread slow to start."""

    def __init__(self, path: Path, limit: int, go: threading.Event) -> None:
        super().__init__(path, limit)
        self.go = go

    def _write_batch(self, data: list[bytes]) -> None:
        self.go.wait(timeout=10)
        super()._write_batch(data)


async def test_a_discard_during_a_cancelled_flush_leaves_no_temp_file(tmp_path: Path) -> None:
    """A client that goes away mid-batch cancels the flush on the loop, but its thread goes on:
    it must not create or write the temp file after the discard has removed it."""
    executor = ThreadPoolExecutor(max_workers=2)
    asyncio.get_running_loop().set_default_executor(executor)
    go = threading.Event()
    temp = tmp_path / "upload.part"
    sink = LateSink(temp, 4 * BATCH_BYTES, go)
    writing = asyncio.create_task(sink.write(b"w" * BATCH_BYTES))
    await asyncio.sleep(0.05)  # the batch is in its thread, waiting
    writing.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await writing
    await sink.discard()
    go.set()  # the batch runs now, after the discard
    executor.shutdown(wait=True)
    assert list(tmp_path.iterdir()) == []
