"""``--via relay`` for a bucket URI: the object streamed with the store's credentials, chunk by
chunk, into the stream upload; the row's checksums are computed on the way (as for any relay)
and no signed URL is made."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Final

from pipeline.buckets.registry import Stores, store_failure
from pipeline.buckets.uris import StoreUri
from pipeline.core.errors import PipelineError, SourceUnavailableError
from pipeline.upload.bodies import OCTET_STREAM, SourceBody, Tap
from pipeline.upload.checksums import Digest, Expected, size_mismatch

if TYPE_CHECKING:
    from obstore import BytesStream

#: Bytes per chunk handed to the upload (the store sends smaller ones; they are gathered).
CHUNK_BYTES: Final = 256 * 1024


class ObjectChunks:
    """An object's bytes as they arrive; a failure mid-stream stays on the tap (retryable)."""

    __slots__ = ("_digest", "_stream", "_tap", "_uri")

    def __init__(self, stream: BytesStream, uri: StoreUri, tap: Tap) -> None:
        self._stream = stream
        self._uri = uri
        self._tap = tap
        self._digest = tap.digest

    def __aiter__(self) -> ObjectChunks:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = bytes(await self._stream.__anext__())
        except StopAsyncIteration:
            raise
        except Exception as exc:  # obstore's errors, translated in one place
            failure = store_failure(self._uri, exc)
            self._tap.failure = SourceUnavailableError(str(failure))
            raise self._tap.failure from None
        if self._digest is not None:
            self._digest.update(chunk)
        return chunk


@contextlib.asynccontextmanager
async def open_object(
    stores: Stores, uri: StoreUri, file_name: str | None, expected: Expected | None = None
) -> AsyncIterator[SourceBody]:
    """The object at ``uri``, open for streaming; a missing object or bucket, or a refusal, is
    a permanent ``source_error``, a network failure or 5xx a retryable one."""
    import obstore

    try:
        result = await obstore.get_async(stores.client(uri), uri.key)
    except PipelineError:
        raise
    except Exception as exc:
        raise store_failure(uri, exc) from None
    meta: Any = result.meta
    size_mismatch(expected, meta.get("size"), note=" (the object's size; nothing was uploaded)")
    attributes: Any = result.attributes
    content_type = str(attributes.get("Content-Type") or OCTET_STREAM).split(";")[0].strip()
    tap = Tap(None if expected is None else Digest(expected))
    name = file_name or uri.key.rstrip("/").rsplit("/", 1)[-1] or "file"
    yield SourceBody(
        ObjectChunks(result.stream(min_chunk_size=CHUNK_BYTES), uri, tap),
        name,
        content_type or OCTET_STREAM,
        tap,
    )
