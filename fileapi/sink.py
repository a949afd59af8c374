"""A size-capped upload writer: bytes go to disk in batches, never into memory whole.

Used by all three upload methods. An upload smaller than ``BATCH_BYTES`` never touches the
temp directory: its bytes wait in memory and :meth:`TempSink.place` writes them straight to
their final path, which saves a small upload four trips to a worker thread (open, flush,
close, unlink). A larger one goes to a temp file in batches, written in a worker thread so the
event loop never waits on the disk, and is moved into place. A sink that is not placed is
discarded (its temp file deleted), so a refused or broken upload leaves no partial file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from pathlib import Path
from typing import BinaryIO

from fileapi.mime import HEAD_BYTES

BATCH_BYTES = 1024 * 1024


class TooLargeError(Exception):
    """More than the sink's ``limit`` bytes were offered."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"File too large: the limit is {limit} bytes")
        self.limit = limit


class TempSink:
    """Collects one upload; :meth:`finish` it, then :meth:`place` it, else :meth:`discard` it.

    ``path`` is the temp file, created only once ``BATCH_BYTES`` have come.
    """

    def __init__(self, path: Path, limit: int) -> None:
        self.path = path
        self.limit = limit
        self.size = 0
        self.head = b""
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._file: BinaryIO | None = None
        self._on_disk = False
        self._done = False  # placed or discarded
        # A flush cancelled on the loop goes on in its thread: the lock and ``_done`` keep it
        # from creating or writing the temp file after a discard has removed it.
        self._file_lock = threading.Lock()

    async def __aenter__(self) -> TempSink:
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            await self.discard()

    async def write(self, chunk: bytes) -> None:
        """Add ``chunk``; raises :class:`TooLargeError` past ``limit`` (nothing is kept)."""
        if not chunk:
            return
        self.size += len(chunk)
        if self.size > self.limit:
            raise TooLargeError(self.limit)
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        self._buffer.append(chunk)
        self._buffered += len(chunk)
        if self._buffered >= BATCH_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        if not self._buffer or self._done:
            return
        data, self._buffer, self._buffered = self._buffer, [], 0
        self._on_disk = True
        await asyncio.to_thread(self._write_batch, data)

    def _write_batch(self, data: list[bytes]) -> None:
        with self._file_lock:
            if self._done:
                return
            if self._file is None:
                self._file = self.path.open("xb")
            self._file.writelines(data)

    def _close(self, *, remove: bool) -> None:
        with self._file_lock:
            file, self._file = self._file, None
            if file is not None:
                file.close()
            if remove:
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()

    async def finish(self) -> None:
        """The upload is complete: a temp file gets what is buffered and is closed."""
        if not self._on_disk:
            return  # small: the bytes stay in memory until place()
        await self._flush()
        await asyncio.to_thread(self._close, remove=False)

    def place(self, target: Path) -> None:
        """Put the finished upload at ``target`` (blocking: call it from a worker thread)."""
        if self._on_disk:
            os.replace(self.path, target)
        else:
            with target.open("xb") as file:
                file.writelines(self._buffer)
        self._done = True
        self._buffer, self._buffered = [], 0

    async def discard(self) -> None:
        """Close and delete the temp file, if there is one; safe to call twice or once placed."""
        if self._done:
            return
        self._done = True
        self._buffer, self._buffered = [], 0
        if not self._on_disk:
            return
        await asyncio.shield(asyncio.to_thread(self._close, remove=True))
