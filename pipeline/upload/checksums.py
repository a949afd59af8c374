"""What a row's bytes should be (its ``size``, ``md5``, ``sha256``) and checking them on the way.

:class:`Expected` travels with a planned row only when the manifest has integrity columns and
the row fills one of them, so rows without them cost nothing. :class:`Digest` is fed the bytes
as they stream past (no second read, nothing buffered) and computes only the hashes that are
expected; the size is always counted. A disagreement is a
:class:`~pipeline.core.errors.ChecksumMismatchError` naming the column, the expected and the actual
value; an MD5 is compared case-insensitively and shown in the form the manifest wrote it
(32 hex digits or 24 Base64 characters).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Final

from pipeline.core.errors import ChecksumMismatchError

_HEX_MD5: Final = 32
_WHITESPACE: Final = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Expected:
    """The manifest's integrity values for one row (None where it gives none)."""

    size: int | None = None
    md5: str | None = None
    sha256: str | None = None


def expected_of(size: object, md5: object, sha256: object) -> Expected | None:
    """An :class:`Expected` from a row's values, or None when the row gives none of them."""
    if size is None and md5 is None and sha256 is None:
        return None
    return Expected(
        int(size) if isinstance(size, int) else None,
        md5 if isinstance(md5, str) and md5 else None,
        sha256 if isinstance(sha256, str) and sha256 else None,
    )


def has_hash(expected: Expected | None) -> bool:
    """True when the row expects an MD5 or SHA-256 (which only its bytes can tell)."""
    return expected is not None and (expected.md5 is not None or expected.sha256 is not None)


def md5_bytes(text: str) -> bytes | None:
    """The 16 bytes an MD5 text names (hex or Base64), or None when it is neither."""
    try:
        if len(text) == _HEX_MD5:
            return bytes.fromhex(text)
        raw = base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        return None
    return raw if len(raw) == 16 else None


def _md5_shown(digest: bytes, like: str) -> str:
    """``digest`` written the way ``like`` (the manifest's value) is written."""
    if len(like) == _HEX_MD5:
        return digest.hex()
    return base64.b64encode(digest).decode("ascii")


def size_mismatch(expected: Expected | None, actual: int | None, *, note: str = "") -> None:
    """Raise :class:`ChecksumMismatchError` when ``actual`` bytes is not the expected size
    (nothing to compare when either is unknown)."""
    if expected is None or expected.size is None or actual is None:
        return
    if actual != expected.size:
        raise ChecksumMismatchError("size", expected.size, actual, note=note)


class Digest:
    """Size and the expected hashes of bytes fed in order; :meth:`check` compares them."""

    __slots__ = ("_md5", "_sha256", "expected", "size")

    def __init__(self, expected: Expected) -> None:
        self.expected = expected
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False) if expected.md5 else None
        self._sha256 = hashlib.sha256() if expected.sha256 else None

    def update(self, chunk: bytes) -> None:
        """Feed the next bytes."""
        self.size += len(chunk)
        if self._md5 is not None:
            self._md5.update(chunk)
        if self._sha256 is not None:
            self._sha256.update(chunk)

    def check(self, *, note: str = "") -> None:
        """Raise :class:`ChecksumMismatchError` for the first column (size, md5, sha256) that
        disagrees with the bytes fed so far; ``note`` ends the message."""
        expected = self.expected
        size_mismatch(expected, self.size, note=note)
        if self._md5 is not None and expected.md5 is not None:
            actual = self._md5.digest()
            if md5_bytes(expected.md5) != actual:
                shown = _md5_shown(actual, expected.md5)
                raise ChecksumMismatchError("md5", expected.md5, shown, note=note)
        if self._sha256 is not None and expected.sha256 is not None:
            hexed = self._sha256.hexdigest()
            if expected.sha256.lower() != hexed:
                raise ChecksumMismatchError("sha256", expected.sha256, hexed, note=note)


def data_url_bytes(url: str) -> bytes | None:
    """The bytes of a ``data:`` URL as the API's Base64 endpoint decodes them (whitespace
    ignored, URL-safe alphabet and missing padding accepted); None when it cannot be decoded
    (the API then refuses the row itself)."""
    header, comma, data = url.partition(",")
    if not comma:
        return None
    if "base64" not in (part.strip().lower() for part in header[5:].split(";")[1:]):
        return None
    text = _WHITESPACE.sub("", data)
    text = text.translate(str.maketrans("-_", "+/"))
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (ValueError, binascii.Error):
        return None


def check_data_url(url: str, expected: Expected) -> None:
    """Compare a ``data:`` URL's bytes with ``expected`` before anything is sent."""
    data = data_url_bytes(url)
    if data is None:
        return
    digest = Digest(expected)
    digest.update(data)
    digest.check()
