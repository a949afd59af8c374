"""Where a row's bytes come from: a local file, a remote URL ferry downloads itself, a ``data:``.

=============  ============================  ==============================================
kind           source                        bytes
=============  ============================  ==============================================
``data``       ``data:`` URL                 the URL itself, sent as Base64 (the API decodes)
``local``      a path or ``file://`` URL     the file, streamed from an open handle
``remote``     ``http(s)://`` URL            fetched by the API (``--via url``), or
                                             downloaded here chunk by chunk (relay)
``remote``     ``s3://``, ``gs://``, ``az://``  fetched by the API from a signed URL, or read
                                             here with the store's credentials (relay:
                                             :mod:`pipeline.buckets.relay`)
=============  ============================  ==============================================

A row with expected ``size``/``md5``/``sha256`` gets a :class:`~pipeline.upload.checksums.Digest`
on its body's :class:`Tap`: the bytes are hashed as they stream to the API, and the caller asks the
tap after the upload (:meth:`Tap.check`). What can be known before (a local file's size, a source's
``Content-Length``) is checked before anything is sent. A relay's source that fails mid-stream
leaves its failure on the tap too, so the row fails (and is retried) as the source's failure,
not as the API connection's.

:meth:`Sources.open` is the one way to get a stream upload's body: whatever wraps the bytes on
their way (a checksum, a byte count) wraps :class:`SourceBody` here, and whatever judges a
source's answer (:func:`source_failure`, with its headers at hand) lives here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import io
import mimetypes
import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal
from urllib.parse import unquote, urlsplit

import aiohttp

from pipeline.core.errors import SourceError, SourceUnavailableError, UploadError
from pipeline.core.fsnames import path_of_file_url, shown
from pipeline.upload.bodies import OCTET_STREAM, SourceBody, Tap, digest_for
from pipeline.upload.checksums import Digest, Expected, size_mismatch
from pipeline.upload.stall import WatchedFile
from pipeline.upload.transport import retry_after, transport_errors

if TYPE_CHECKING:
    from pipeline.buckets.registry import Stores

SourceKind = Literal["data", "local", "remote"]

# The system's MIME types are read on first use: read them now, while descriptors are free (a
# run out of them would fail every stream upload's content type, not just its file).
mimetypes.init()

RELAY_CHUNK_BYTES = 256 * 1024
LOCAL_CHUNK_BYTES = 256 * 1024


def source_kind(url: str) -> SourceKind:
    """Which kind of source ``url`` names."""
    if url.startswith("data:"):
        return "data"
    return "local" if is_local(url) else "remote"


def is_local(url: str) -> bool:
    """A local path or a ``file://`` URL."""
    return url.startswith("file://") or ("://" not in url and not url.startswith("data:"))


def local_path(url: str, base_dir: Path) -> Path:
    """The file a local source names; relative paths are relative to the manifest's folder.

    A ``file://`` URL's escapes stand for bytes (``%E9`` for a name that is not UTF-8)."""
    raw = path_of_file_url(url) if url.startswith("file://") else url
    path = Path(raw).expanduser()
    return path if path.is_absolute() else base_dir / path


def name_from_url(url: str) -> str:
    """The last path segment of ``url``, percent-decoded; ``file`` when there is none."""
    segment = urlsplit(url).path.rsplit("/", 1)[-1]
    return unquote(segment) or "file"


#: What a local file's ``open`` or ``read`` may meet once and not the next time: the process or
#: the system out of file descriptors or memory, an interrupted call, a busy device.
TRANSIENT_ERRNOS = frozenset(
    {
        errno.EMFILE,
        errno.ENFILE,
        errno.EAGAIN,
        errno.EINTR,
        errno.ENOMEM,
        errno.ENOBUFS,
        errno.EBUSY,
        errno.ETIMEDOUT,
    }
)


def local_failure(path: Path, exc: OSError) -> SourceError:
    """The error for a local file that could not be opened or read: retried when it may pass
    (:data:`TRANSIENT_ERRNOS`: "Too many open files", ...), else a permanent ``source_error``."""
    text = f"cannot read {shown(path)}: {exc.strerror or exc}"
    if exc.errno in TRANSIENT_ERRNOS:
        return SourceUnavailableError(text)
    return SourceError(text)


def source_failure(status: int, url: str, headers: Mapping[str, str] | None = None) -> UploadError:
    """The error for a source that answered ``status`` to ferry's own download (relay): 408,
    425, 429 and 5xx are retried (a ``Retry-After`` in ``headers`` is the floor of the pause),
    any other error status is a permanent ``source_error``."""
    where = urlsplit(url).netloc
    if status in (408, 425, 429) or status >= 500:
        return SourceUnavailableError(
            f"source {where} answered HTTP {status}",
            http_status=status,
            retry_after=retry_after(headers) if headers is not None else None,
        )
    return SourceError(f"source {where} answered HTTP {status}", http_status=status)


class LocalChunks:
    """A local file's bytes, read (and hashed) in the default executor: the event loop never
    waits on the disk, and hashlib releases the GIL on large chunks."""

    __slots__ = ("_digest", "_handle", "_path", "_tap")

    def __init__(self, handle: IO[bytes], path: Path, tap: Tap) -> None:
        self._handle = handle
        self._path = path
        self._tap = tap
        self._digest = tap.digest

    def __aiter__(self) -> LocalChunks:
        return self

    def _read(self) -> bytes:
        chunk = self._handle.read(LOCAL_CHUNK_BYTES)
        if self._digest is not None:
            self._digest.update(chunk)
        return chunk

    async def __anext__(self) -> bytes:
        try:
            chunk = await asyncio.get_running_loop().run_in_executor(None, self._read)
        except OSError as exc:
            self._tap.failure = local_failure(self._path, exc)
            raise self._tap.failure from exc
        if not chunk:
            raise StopAsyncIteration
        return chunk


class RelayChunks:
    """A relayed source's body as it arrives; a transport failure (timeout, dropped connection)
    is kept on the tap as a retryable :class:`SourceUnavailableError` naming the source."""

    __slots__ = ("_content", "_digest", "_tap", "_where")

    def __init__(self, content: aiohttp.StreamReader, where: str, tap: Tap) -> None:
        self._content = content
        self._where = where
        self._tap = tap
        self._digest = tap.digest

    def __aiter__(self) -> RelayChunks:
        return self

    async def __anext__(self) -> bytes:
        try:
            with transport_errors():
                chunk = await self._content.read(RELAY_CHUNK_BYTES)
        except UploadError as exc:
            self._tap.failure = SourceUnavailableError(f"source {self._where}: {exc}")
            raise self._tap.failure from exc
        if not chunk:
            raise StopAsyncIteration
        if self._digest is not None:
            self._digest.update(chunk)
        return chunk


@contextlib.contextmanager
def open_local(
    path: Path, file_name: str | None, expected: Expected | None = None
) -> Iterator[SourceBody]:
    """The file at ``path``, open for streaming; a :class:`SourceError` when it cannot be read.

    Without expected values the open handle itself is the body (aiohttp streams it); with them
    the bytes pass a digest on their way, and a size that differs fails before any upload.
    """
    try:
        # opened by descriptor, so the handle's ``name`` is no path: aiohttp would copy it into
        # a header, which a name that is not UTF-8 cannot go into
        handle = WatchedFile(io.FileIO(os.open(path, os.O_RDONLY | os.O_CLOEXEC)))
    except OSError as exc:
        raise local_failure(path, exc) from exc
    with handle:
        content_type = mimetypes.guess_type(path.name)[0] or OCTET_STREAM
        name = file_name or shown(path.name)
        if expected is None:
            yield SourceBody(handle, name, content_type)
            return
        size_mismatch(expected, os.fstat(handle.fileno()).st_size, note=" (nothing was uploaded)")
        tap = Tap(Digest(expected))
        yield SourceBody(LocalChunks(handle, path, tap), name, content_type, tap)


def _plain_length(resp: aiohttp.ClientResponse) -> int | None:
    """``Content-Length``, unless a content coding makes it the compressed size."""
    coding = resp.headers.get("Content-Encoding", "identity").strip().lower()
    return resp.content_length if coding in ("", "identity") else None


@contextlib.asynccontextmanager
async def download(
    session: aiohttp.ClientSession,
    url: str,
    file_name: str | None,
    *,
    headers: Mapping[str, str],
    expected: Expected | None = None,
) -> AsyncIterator[SourceBody]:
    """``GET url`` with ``headers`` (never the API key); the body is read while it streams on,
    so no whole file is held in memory.

    A source that cannot be reached or answers 408/425/429/5xx raises a retryable
    :class:`SourceUnavailableError`; any other error status a permanent :class:`SourceError`.
    """
    where = urlsplit(url).netloc
    try:
        with transport_errors():
            resp = await session.get(url, headers=dict(headers))
    except UploadError as exc:
        raise SourceUnavailableError(f"source {where}: {exc}") from exc
    async with resp:
        if resp.status >= 400:
            raise source_failure(resp.status, url, resp.headers)
        size_mismatch(expected, _plain_length(resp), note=" (the source's Content-Length)")
        content_type = resp.headers.get("Content-Type", OCTET_STREAM).split(";")[0].strip()
        tap = Tap(digest_for(expected))
        yield SourceBody(
            RelayChunks(resp.content, where, tap),
            file_name or name_from_url(url),
            content_type or OCTET_STREAM,
            tap,
        )


@dataclass(frozen=True)
class Sources:
    """Opens the sources of one run: local paths below ``base_dir``, remote URLs on ``session``
    with ``headers`` (``--source-header``), bucket objects through ``stores``."""

    session: aiohttp.ClientSession = field(repr=False)
    base_dir: Path = Path(".")
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    stores: Stores | None = field(default=None, repr=False)

    @contextlib.asynccontextmanager
    async def open(
        self,
        url: str,
        file_name: str | None,
        expected: Expected | None = None,
        *,
        mirrors: Sequence[str] = (),
        headers: Sequence[tuple[str, str]] = (),
    ) -> AsyncIterator[SourceBody]:
        """The bytes of a local or remote source, open until the block ends; with ``expected``
        they are measured on their way (ask ``body.tap.check()`` once they have gone).

        A remote source that cannot be opened is followed by its ``mirrors``, in turn, until
        one answers; ``headers`` (the row's own) go with every request, after ``--source-header``.
        """
        if is_local(url):
            with open_local(local_path(url, self.base_dir), file_name, expected) as body:
                yield body
            return
        request = {**self.headers, **dict(headers)}
        failures: list[SourceError] = []
        async with contextlib.AsyncExitStack() as stack:
            for candidate in (url, *mirrors):
                try:
                    body = await stack.enter_async_context(
                        self._remote(candidate, file_name, expected, request)
                    )
                except SourceError as exc:
                    failures.append(exc)
                    continue
                break
            else:
                raise _all_failed(failures)
            yield body

    def _remote(
        self,
        url: str,
        file_name: str | None,
        expected: Expected | None,
        headers: Mapping[str, str],
    ) -> contextlib.AbstractAsyncContextManager[SourceBody]:
        """A remote source's body: a bucket object read with the store's credentials, else an
        http(s) download with ``headers``."""
        uri = self.stores.resolve(url) if self.stores is not None else None
        if uri is not None:
            from pipeline.buckets.relay import open_object

            return open_object(self.stores, uri, file_name, expected)  # type: ignore[arg-type]
        return download(self.session, url, file_name, headers=headers, expected=expected)


def _all_failed(failures: list[SourceError]) -> SourceError:
    """The error of a source whose mirrors failed too: retryable when any failure was."""
    first = failures[0]
    if len(failures) == 1:
        return first
    message = f"{first}; mirrors: {'; '.join(str(exc) for exc in failures[1:])}"
    again = [exc for exc in failures if exc.retryable]
    if again:
        return SourceUnavailableError(
            message, http_status=again[0].http_status, retry_after=again[0].retry_after
        )
    return SourceError(message, http_status=first.http_status)
