"""A remote manifest in a bucket, read as a byte stream (for :mod:`pipeline.manifest.remote`)."""

from __future__ import annotations

import io
from typing import Any

from pipeline.buckets.registry import Stores, failure_reason
from pipeline.buckets.uris import parse_store_uri
from pipeline.core.errors import ManifestError, PipelineError


def open_object_reader(url: str, stores: Stores | None = None) -> Any:
    """A file-like reader of the object at ``url`` (buffered range reads); a missing object,
    bucket or credential is a :class:`ManifestError` naming ``url``."""
    import obstore

    uri = parse_store_uri(url)
    if uri is None or uri.is_prefix:
        raise ManifestError(url, "not an object's URI")
    try:
        return _Bytes(obstore.open_reader((stores or Stores()).client(uri), uri.key))
    except PipelineError:
        raise
    except Exception as exc:  # obstore's errors, translated in one place
        reason = failure_reason(uri, exc, missing="no such object (is the bucket or key misspelt?)")
        raise ManifestError(url, reason) from None


class _Bytes(io.RawIOBase):
    """obstore's reader as a standard binary file (its ``Bytes`` lack the ``bytes`` methods,
    and pyarrow wants an ``io`` object): readable and seekable, for Parquet's random reads."""

    def __init__(self, reader: Any) -> None:
        super().__init__()
        self._reader = reader

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return int(self._reader.seek(offset, whence))

    def tell(self) -> int:
        return int(self._reader.tell())

    def read(self, size: int = -1, /) -> bytes:
        return bytes(
            self._reader.read(size) if size is not None and size >= 0 else self._reader.read()
        )

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._reader.close()
        super().close()
