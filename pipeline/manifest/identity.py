"""The identity of a row without an ``id``: one implementation, used for frames and single rows.

BLAKE2b (digest size 10, so 20 hex digits) of the UTF-8 bytes of the effective ``url``,
``upload_path`` and ``file_name`` joined by ``\\x1f``, a null counting as ``""``. It is stable
across runs, platforms and library versions: changing it would orphan every result table.
"""

from __future__ import annotations

import hashlib
from typing import Final

import polars as pl

SEPARATOR: Final = "\x1f"
DIGEST_SIZE: Final = 10


def identities(frame: pl.DataFrame) -> pl.Series:
    """The identity of every row of ``frame`` (columns ``url``, ``upload_path``, ``file_name``)."""
    joined = frame.select(
        pl.concat_str(
            [pl.col(name).fill_null("") for name in ("url", "upload_path", "file_name")],
            separator=SEPARATOR,
        )
    ).to_series()
    # Polars hands out the UTF-8 bytes directly: no str round trip; and hex-encodes the
    # digests in one vectorised step.
    digests = pl.Series("id", _raw_digests(joined.cast(pl.Binary).to_list()), dtype=pl.Binary)
    return digests.bin.encode("hex")


def row_identity(url: str | None, upload_path: str, file_name: str | None) -> str:
    """The identity of one row, from its effective values (stripped, default upload_path)."""
    joined = SEPARATOR.join((url or "", upload_path, file_name or ""))
    # surrogatepass: a lone surrogate (never in a polars string) still hashes, and every
    # other string encodes exactly as UTF-8, as polars holds it.
    return _digests([joined.encode("utf-8", "surrogatepass")])[0]


def _raw_digests(keys: list[bytes]) -> list[bytes]:
    """The hash itself, the one per-row Python loop of reading a manifest (C-level hashing).

    Each hash starts as a copy of one empty, parametrised hash: a quarter cheaper than a new
    ``blake2b(key, digest_size=10)`` per row, whose keyword parsing and set-up dominate.
    """
    copy = hashlib.blake2b(digest_size=DIGEST_SIZE).copy
    digests: list[bytes] = []
    keep = digests.append
    for key in keys:
        state = copy()
        state.update(key)
        keep(state.digest())
    return digests


def _digests(keys: list[bytes]) -> list[str]:
    """The identities of ``keys`` as hex text."""
    return [digest.hex() for digest in _raw_digests(keys)]
