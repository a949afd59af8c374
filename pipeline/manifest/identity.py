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
    """The identity of every row of ``frame`` (columns ``url``, ``upload_path``, ``file_name``).

    The one per-row Python loop of reading a manifest, over C-level hashing.
    """
    joined = frame.select(
        pl.concat_str(
            [
                pl.col("url").fill_null(""),
                pl.col("upload_path").fill_null(""),
                pl.col("file_name").fill_null(""),
            ],
            separator=SEPARATOR,
        )
    ).to_series()
    blake2b = hashlib.blake2b
    size = DIGEST_SIZE
    # Polars hands out the UTF-8 bytes directly: no str round trip.
    utf8: list[bytes] = joined.cast(pl.Binary).to_list()
    return pl.Series("id", [blake2b(value, digest_size=size).hexdigest() for value in utf8])


def row_identity(url: str | None, upload_path: str, file_name: str | None) -> str:
    """The identity of one row, from its effective values (stripped, default upload_path)."""
    frame = pl.DataFrame(
        {"url": [url], "upload_path": [upload_path], "file_name": [file_name]},
        schema={"url": pl.String, "upload_path": pl.String, "file_name": pl.String},
    )
    return str(identities(frame)[0])
