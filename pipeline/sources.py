"""Where a row's bytes come from: a local file, a remote URL ferry downloads itself, a ``data:``.

=============  ============================  ==============================================
kind           source                        bytes
=============  ============================  ==============================================
``data``       ``data:`` URL                 the URL itself, sent as Base64 (the API decodes)
``local``      a path or ``file://`` URL     the file, streamed from an open handle
``remote``     ``http(s)://`` URL            fetched by the API (``--via url``), or
                                             downloaded here chunk by chunk (relay)
=============  ============================  ==============================================

:meth:`Sources.open` is the one way to get a stream upload's body: whatever wraps the bytes on
their way (a checksum, a byte count) wraps :class:`SourceBody` here, and whatever judges a
source's answer (:func:`source_failure`, with its headers at hand) lives here too.
"""

from __future__ import annotations

import contextlib
import mimetypes
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal
from urllib.parse import unquote, urlsplit

import aiohttp

from pipeline.errors import SourceError, SourceUnavailableError, UploadError
from pipeline.transport import transport_errors

SourceKind = Literal["data", "local", "remote"]

RELAY_CHUNK_BYTES = 256 * 1024
OCTET_STREAM = "application/octet-stream"


def source_kind(url: str) -> SourceKind:
    """Which kind of source ``url`` names."""
    if url.startswith("data:"):
        return "data"
    return "local" if is_local(url) else "remote"


def is_local(url: str) -> bool:
    """A local path or a ``file://`` URL."""
    return url.startswith("file://") or ("://" not in url and not url.startswith("data:"))


def local_path(url: str, base_dir: Path) -> Path:
    """The file a local source names; relative paths are relative to the manifest's folder."""
    raw = unquote(urlsplit(url).path) if url.startswith("file://") else url
    path = Path(raw).expanduser()
    return path if path.is_absolute() else base_dir / path


def name_from_url(url: str) -> str:
    """The last path segment of ``url``, percent-decoded; ``file`` when there is none."""
    segment = urlsplit(url).path.rsplit("/", 1)[-1]
    return unquote(segment) or "file"


def source_failure(status: int, url: str) -> UploadError:
    """The error for a source that answered ``status`` to ferry's own download (relay)."""
    where = urlsplit(url).netloc
    if status in (408, 425, 429) or status >= 500:
        return SourceUnavailableError(f"source {where} answered HTTP {status}", http_status=status)
    return SourceError(f"source {where} answered HTTP {status}", http_status=status)


@dataclass(frozen=True, slots=True)
class SourceBody:
    """An open source, ready to stream: its bytes, the multipart file name and content type."""

    chunks: AsyncIterator[bytes] | IO[bytes]
    part_name: str
    content_type: str


@contextlib.contextmanager
def open_local(path: Path, file_name: str | None) -> Iterator[SourceBody]:
    """The file at ``path``, open for streaming; a :class:`SourceError` when it cannot be read."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - aiohttp streams it, closed on leaving
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror}") from exc
    with handle:
        content_type = mimetypes.guess_type(path.name)[0] or OCTET_STREAM
        yield SourceBody(handle, file_name or path.name, content_type)


@contextlib.asynccontextmanager
async def download(
    session: aiohttp.ClientSession,
    url: str,
    file_name: str | None,
    *,
    headers: Mapping[str, str],
) -> AsyncIterator[SourceBody]:
    """``GET url`` with ``headers`` (never the API key); the body is read while it streams on,
    so no whole file is held in memory."""
    with transport_errors():
        async with session.get(url, headers=dict(headers)) as resp:
            if resp.status >= 400:
                raise source_failure(resp.status, url)
            content_type = resp.headers.get("Content-Type", OCTET_STREAM).split(";")[0].strip()
            yield SourceBody(
                resp.content.iter_chunked(RELAY_CHUNK_BYTES),
                file_name or name_from_url(url),
                content_type or OCTET_STREAM,
            )


@dataclass(frozen=True)
class Sources:
    """Opens the sources of one run: local paths below ``base_dir``, remote URLs on ``session``
    with ``headers`` (``--source-header``)."""

    session: aiohttp.ClientSession = field(repr=False)
    base_dir: Path = Path(".")
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    @contextlib.asynccontextmanager
    async def open(self, url: str, file_name: str | None) -> AsyncIterator[SourceBody]:
        """The bytes of a local or remote source, open until the block ends."""
        if is_local(url):
            with open_local(local_path(url, self.base_dir), file_name) as body:
                yield body
            return
        async with download(self.session, url, file_name, headers=self.headers) as body:
            yield body
