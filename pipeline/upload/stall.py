"""``--timeout`` as "no progress": a request fails once nothing has moved for that long, however
long a healthy transfer takes.

aiohttp bounds connecting (``sock_connect``) and each wait for the answer's bytes
(``sock_read``, armed once the body is sent), but nothing while a body goes out: a server that
stops reading an upload would hold it forever, and a deadline for the whole request
(``total``) cuts a large, healthy one off. So a request runs inside a :class:`StallWatch`, whose
deadline moves each time a piece of the body is taken to be written (aiohttp takes the next one
once the last is in the socket's buffer), and once more when the answer's headers arrive.

A body is watched through what it is made of: a local file (:class:`WatchedFile`, a
``BufferedReader``, so aiohttp still sends its ``Content-Length``), a large JSON body
(:class:`WatchedBytes`, written in pieces with its length), or an async iterator of chunks
(:func:`watched_chunks`: a relayed source, a checksummed file).
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Final

from pipeline.core.errors import RequestTimeoutError

#: A JSON body longer than this is written in pieces, each one progress (a small one is
#: written at once).
PIECEWISE_BYTES: Final = 1 << 20


class StallWatch:
    """Cancels the request it wraps once nothing moved for ``seconds`` (then raises
    :class:`~pipeline.core.errors.RequestTimeoutError`); :meth:`touch` says something moved, from
    any thread."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._last = time.monotonic()
        self._timeout: asyncio.Timeout | None = None
        self._check: asyncio.TimerHandle | None = None

    def touch(self) -> None:
        """Bytes moved: the deadline is ``seconds`` from now."""
        self._last = time.monotonic()

    async def __aenter__(self) -> StallWatch:
        self._last = time.monotonic()
        self._timeout = asyncio.timeout(None)
        await self._timeout.__aenter__()
        self._check = asyncio.get_running_loop().call_later(self.seconds, self._checked)
        return self

    def _checked(self) -> None:
        assert self._timeout is not None
        idle = time.monotonic() - self._last
        if idle >= self.seconds:
            self._timeout.reschedule(asyncio.get_running_loop().time())  # expire now
            return
        self._check = asyncio.get_running_loop().call_later(self.seconds - idle, self._checked)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._timeout is not None and self._check is not None
        self._check.cancel()
        try:
            await self._timeout.__aexit__(exc_type, exc, tb)
        except TimeoutError as stalled:
            raise RequestTimeoutError(
                f"no progress for {self.seconds:g}s (--timeout): the request was given up"
            ) from stalled


class WatchedFile(io.BufferedReader):
    """A local file opened for an upload: every read (aiohttp's, in a thread) touches its
    ``watch``, once one is set."""

    watch: StallWatch | None = None

    def read(self, size: int | None = -1, /) -> bytes:
        if self.watch is not None:
            self.watch.touch()
        return super().read(size)


class WatchedBytes(io.BytesIO):
    """A large request body, written by aiohttp in pieces, each one touching ``watch``."""

    def __init__(self, data: bytes, watch: StallWatch) -> None:
        super().__init__(data)
        self.watch = watch

    def read(self, size: int | None = -1, /) -> bytes:
        self.watch.touch()
        return super().read(size)


async def watched_chunks(chunks: AsyncIterator[bytes], watch: StallWatch) -> AsyncIterator[bytes]:
    """``chunks``, each one touching ``watch`` as aiohttp takes it."""
    async for chunk in chunks:
        watch.touch()
        yield chunk
