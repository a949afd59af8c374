"""URL lists (``.txt``, ``.urls``, ``.list``): one source per line, as ``wget -i`` and
``aria2c -i`` read them, aria2's option lines and mirrors included (:mod:`.aria2`).

A source is a URL or a local path; surrounding spaces are stripped; blank lines and lines
starting with ``#`` are skipped. A plain list has the one column ``url``; an aria2 input file
also the columns its options fill. Those are known only from every line, so a list of more than
one block is read twice (standard input is spooled for it): once to learn its layout, once for
its rows, cut so that an entry's option lines stay with its URL line. A row's number is the
line of its URL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import polars as pl

from pipeline.core.logs import fields
from pipeline.manifest import aria2
from pipeline.manifest.columns import ROW
from pipeline.manifest.inputs import Input
from pipeline.manifest.options import ManifestOptions
from pipeline.manifest.raw import RawTable
from pipeline.manifest.textio import Block, blocks

log = logging.getLogger(__name__)


def read_urls(source: Input, options: ManifestOptions) -> RawTable:
    """The :class:`RawTable` of a URL list or an aria2 input file."""
    source.keep_for_second_pass()
    layout = aria2.Layout()
    first: Block | None = None
    for count, block in enumerate(blocks(source.read, source.label, source.format, quoted=False)):
        layout.learn(block)
        first = block if count == 0 else None  # kept only while it may be the only block
    ignored = layout.ignored()
    if ignored and source.announce:
        listed = ", ".join(f"{name} ({_lines(n)})" for name, n in ignored.items())
        log.warning(
            f"ferry: {source.label}: aria2 options ferry does not use were ignored: {listed}",
            extra=fields(manifest=source.label, ignored_options=ignored),
        )
    if first is None:
        source.rewind()
    names = layout.columns()

    def parse(block: Block) -> pl.DataFrame:
        if layout.plain or not aria2.has_entries(block.data):
            frame = _plain(block)
            return frame.with_columns(pl.lit(None, pl.String).alias(c) for c in names[1:])
        return aria2.entries(block, layout, options.default_upload_path, source.label)

    def batches(rows: int) -> Iterator[pl.DataFrame]:
        chunks = (
            iter([first])
            if first is not None
            else blocks(source.read, source.label, source.format, quoted=False)
        )
        for block in chunks if layout.plain else _whole_entries(chunks):
            yield parse(block)

    return RawTable(
        names=names,
        schema=dict.fromkeys(names, pl.String()),
        batches=batches,
        close=source.close,
    )


def _lines(count: int) -> str:
    return f"{count} line" if count == 1 else f"{count} lines"


def _plain(block: Block) -> pl.DataFrame:
    """The rows of a block without options or mirrors: one source a line."""
    lines = pl.DataFrame({"url": [block.data.decode("utf-8")]})
    url = pl.col("url")
    return (
        lines.select(url.str.split("\n"))
        .explode("url")
        .with_row_index(ROW, offset=block.line)
        .with_columns(url.str.strip_chars())
        .filter((url != "") & ~url.str.starts_with("#"))
    )


def _whole_entries(chunks: Iterator[Block]) -> Iterator[Block]:
    """``chunks`` cut again so that no entry (a URL line and its option lines) is split: each
    block's last entry is carried to the front of the next."""
    carry: Block | None = None
    for block in chunks:
        if carry is not None:
            block = Block(carry.data + block.data, carry.line)
        cut = aria2.last_entry_start(block.data)
        if cut == 0:
            carry = block
            continue
        yield Block(block.data[:cut], block.line)
        carry = Block(block.data[cut:], block.line + block.data.count(b"\n", 0, cut))
    if carry is not None and carry.data:
        yield carry
