"""Large sources by reference: journaled and checkpointed as a length and a hash, joined back
where the table is written or read.

A ``data:`` URL is the file itself (a megabyte is common). Copied into every journal line,
every checkpoint file and every fold of them, it made a run's memory follow the bytes of its
rows. So a row whose ``url`` is longer than :data:`INLINE_CHARS` goes into the journal with
``url`` null and a reference instead (:data:`~pipeline.store.journal.REF_COLUMNS`): its length
``_url_bytes`` and its BLAKE2b ``_url_hash``. The text stays where the plan put it once, the
run's copy of the manifest (``T.plan/``, found by the row's ``_row``), which lives as long as
the journal and checkpoints do, a killed run's too.

Where rows are written into the table, :func:`slices` cuts them so that the texts joined back
stay under :data:`~pipeline.core.batching.BATCH_BYTES`, and :func:`resolved` joins them back from
the plan, each checked against its hash. A text that cannot be found (the plan was removed by
hand) or does not match is left empty, never wrong, and said once.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from typing import Any, Final

import polars as pl

from pipeline.core.batching import BATCH_BYTES
from pipeline.store.chunks import ManifestChunks
from pipeline.store.journal import REF_COLUMNS

log = logging.getLogger(__name__)

#: A ``url`` longer than this is journaled and checkpointed by reference (an http(s) URL never
#: is: a longer one is an invalid row, which still is).
INLINE_CHARS: Final = 8192
_BYTES, _HASH = REF_COLUMNS


def url_hash(url: str) -> str:
    """The hash a reference checks its text with."""
    return hashlib.blake2b(url.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def by_reference(row: dict[str, Any], chunks: ManifestChunks | None) -> dict[str, Any]:
    """The journal line of ``row``: with its ``url`` by reference when it is long and the
    run's plan holds it (``chunks``)."""
    url = row["url"]
    if chunks is None or url is None or len(url) <= INLINE_CHARS or row["_row"] is None:
        return row
    return {**row, "url": None, _BYTES: len(url), _HASH: url_hash(url)}


def has_references(rows: pl.DataFrame) -> bool:
    """True when some row of ``rows`` holds its ``url`` by reference."""
    return _HASH in rows.columns and rows[_HASH].null_count() < rows.height


def slices(rows: pl.DataFrame, max_bytes: int = BATCH_BYTES) -> Iterator[pl.DataFrame]:
    """``rows`` in consecutive slices whose referenced texts add up to about ``max_bytes`` at
    most (a slice has one row at least)."""
    if not has_references(rows):
        yield rows
        return
    sizes = rows[_BYTES].fill_null(0)
    window = ((sizes.cum_sum() - sizes) // max_bytes).alias("_slice")
    yield from rows.with_columns(window).partition_by(
        "_slice", maintain_order=True, include_key=False
    )


def resolved(rows: pl.DataFrame, chunks: ManifestChunks | None) -> pl.DataFrame:
    """``rows`` with every referenced ``url`` joined back from ``chunks`` (checked against its
    hash), without the reference columns."""
    if not has_references(rows):
        return rows.drop(REF_COLUMNS, strict=False)
    wanted = rows.filter(pl.col(_HASH).is_not_null()).select("_row", _HASH)
    found = (
        chunks.columns_for(wanted["_row"], ["url"])
        if chunks is not None and len(chunks)
        else pl.DataFrame(schema={"_row": pl.Int64, "url": pl.String})
    )
    checked = wanted.join(found, on="_row", how="left").unique("_row")
    texts = [
        text if text is not None and url_hash(text) == expected else None
        for expected, text in checked.select(_HASH, "url").iter_rows()
    ]
    missing = texts.count(None)
    if missing:
        log.warning(
            f"ferry: the source of {missing} rows could not be found in the run's copy of the "
            "manifest: their url is left empty (the rows themselves are kept)"
        )
    texts_by_row = checked.select("_row").with_columns(pl.Series("_text", texts, pl.String))
    return (
        rows.join(texts_by_row, on="_row", how="left", maintain_order="left")
        .with_columns(pl.coalesce("url", "_text").alias("url"))
        .drop("_text", *REF_COLUMNS)
    )
