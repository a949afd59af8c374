"""A size-capped temp-file writer: upload bytes go to disk in batches, never into memory whole.

Used by all three upload methods. Writes happen in a worker thread so the event loop never
waits on the disk; at most ``BATCH_BYTES`` are buffered. A sink that is not committed is
discarded (its temp file deleted), so a refused or broken upload leaves no partial file.
"""

from __future__ import annotations

import asyncio
import contextlib
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
    """Collects one upload in ``path``; call :meth:`finish` when complete, else :meth:`discard`."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path = path
        self.limit = limit
        self.size = 0
        self.head = b""
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._file: BinaryIO | None = None
        self._discarded = False

    async def __aenter__(self) -> TempSink:
        self._file = await asyncio.to_thread(self.path.open, "xb")
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
        if not self._buffer or self._file is None:
            return
        data, file = self._buffer, self._file
        self._buffer, self._buffered = [], 0
        await asyncio.to_thread(file.writelines, data)

    async def finish(self) -> None:
        """Write what is buffered and close the file; it stays at ``path``."""
        await self._flush()
        if self._file is not None:
            file, self._file = self._file, None
            await asyncio.to_thread(file.close)

    async def discard(self) -> None:
        """Close and delete the temp file; safe to call twice."""
        if self._discarded:
            return
        self._discarded = True
        self._buffer, self._buffered = [], 0
        file, self._file = self._file, None

        def remove() -> None:
            if file is not None:
                file.close()
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

        await asyncio.shield(asyncio.to_thread(remove))
