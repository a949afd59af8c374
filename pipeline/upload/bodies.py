"""A stream upload's body: its bytes, its multipart name and type, and the :class:`Tap` that
learns, while the bytes go past, what they were (a digest) and whether their source broke off.

Every source of a stream upload (a local file, a relay's download, a bucket object) hands the
upload a :class:`SourceBody`; :mod:`pipeline.upload.sources` opens them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import IO

from pipeline.core.errors import UploadError
from pipeline.upload.checksums import Digest, Expected

#: Ends the message of a mismatch found only once the bytes had been sent.
AFTER_UPLOAD = " (found while streaming: the file was uploaded)"
OCTET_STREAM = "application/octet-stream"


class Tap:
    """What a body learnt while it streamed: its digest (when the row expects values) and the
    source's own failure, if it broke off."""

    __slots__ = ("digest", "failure")

    def __init__(self, digest: Digest | None = None) -> None:
        self.digest = digest
        self.failure: UploadError | None = None

    def raise_failure(self) -> None:
        """Raise the source's own failure, if it broke off."""
        if self.failure is not None:
            raise self.failure

    def check(self) -> None:
        """Raise the source's failure, else the first mismatch of the bytes that went past."""
        self.raise_failure()
        if self.digest is not None:
            self.digest.check(note=AFTER_UPLOAD)


def digest_for(expected: Expected | None) -> Digest | None:
    """The digest that checks ``expected`` (None when the row expects nothing)."""
    return None if expected is None else Digest(expected)


@dataclass(frozen=True, slots=True)
class SourceBody:
    """An open source, ready to stream: its bytes, the multipart file name and content type,
    and the tap to ask once the bytes have gone."""

    chunks: AsyncIterator[bytes] | IO[bytes]
    part_name: str
    content_type: str
    tap: Tap = field(default_factory=Tap)
