"""URL lists (``.txt``, ``.urls``, ``.list``): one source per line, as ``wget -i`` and
``aria2c -i`` read them.

A source is a URL or a local path; surrounding spaces are stripped; blank lines and lines
starting with ``#`` are skipped. The only column is ``url``; a row's number is its line.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from pipeline.manifest.columns import ROW
from pipeline.manifest.inputs import Input
from pipeline.manifest.options import ManifestOptions
from pipeline.manifest.raw import RawTable
from pipeline.manifest.textio import Block, blocks


def read_urls(source: Input, options: ManifestOptions) -> RawTable:
    """The :class:`RawTable` of a URL list."""
    chunks = blocks(source.read, source.label, source.format, quoted=False)
    first = next(chunks)

    def batches(rows: int) -> Iterator[pl.DataFrame]:
        yield _parse(first)
        for block in chunks:
            yield _parse(block)

    return RawTable(
        names=("url",), schema={"url": pl.String()}, batches=batches, close=source.close
    )


def _parse(block: Block) -> pl.DataFrame:
    lines = pl.DataFrame({"url": [block.data.decode("utf-8")]})
    url = pl.col("url")
    return (
        lines.select(url.str.split("\n"))
        .explode("url")
        .with_row_index(ROW, offset=block.line)
        .with_columns(url.str.strip_chars())
        .filter((url != "") & ~url.str.starts_with("#"))
    )
