"""CSV manifests: a header row, the delimiter sniffed among ``, ; tab |`` (``--delimiter``
overrides), every column read as text so that ids like ``007`` survive.

A file whose first field on the first line is an http(s) URL has no header: its columns are
``url`` and ``file_name`` (rclone's ``copyurl --urls`` layout), further fields ignored.

The file is parsed block by block (:mod:`pipeline.manifest.textio`) by polars, each block with
the header in front, exactly as a whole file would be: a row with more or fewer fields than
the header, a stray or unbalanced quote, is a bad manifest, never padded or cut. Blank lines
are counted but skipped. Which values were quoted with spaces around them (a path that keeps
them) is found only in the rare block that may hold one (:mod:`pipeline.manifest.csvquotes`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import polars as pl

from pipeline.core.errors import ManifestError
from pipeline.manifest.columns import ROW, check_names
from pipeline.manifest.csvdiag import find_short_row, locate_csv_problem
from pipeline.manifest.csvquotes import QUOTED, quoted_spaces
from pipeline.manifest.inputs import Input
from pipeline.manifest.messages import fields
from pipeline.manifest.options import ManifestOptions
from pipeline.manifest.raw import RawTable
from pipeline.manifest.sniff import sniff_delimiter
from pipeline.manifest.textio import Block, blocks, first_record_end

_HTTP_FIRST_FIELD: Final = re.compile(r"^\s*\"?\s*https?://", re.IGNORECASE)
_MALFORMED: Final = "malformed CSV: a stray quote? (a quote must open and close a whole field)"


def read_csv(source: Input, options: ManifestOptions) -> RawTable:
    """The :class:`RawTable` of a CSV manifest."""
    chunks = blocks(source.read, source.label, source.format, quoted=True)
    first = next(chunks)
    end = first_record_end(first.data, quoted=True)
    header_line = first.data[:end]
    delimiter = options.delimiter or sniff_delimiter(header_line)
    names = parse_header(source.label, header_line, delimiter)
    if _HTTP_FIRST_FIELD.match(names[0]):
        layout = Layout(names=("url", "file_name"), delimiter=delimiter, headerless=True)
        body = first
    else:
        check_names(source.label, names)
        layout = Layout(names=tuple(names), delimiter=delimiter, header=header_line)
        body = Block(first.data[end:], first.line + 1)
    return layout.table(source, body, chunks)


def parse_header(label: str, line: bytes, delimiter: str, *, quoting: bool = True) -> list[str]:
    """The fields of the header line, unquoted."""
    if not line.strip():
        raise ManifestError(label, "empty file (no header row)")
    try:
        header = pl.read_csv(
            line,
            has_header=False,
            n_rows=1,
            infer_schema=False,
            separator=delimiter,
            quote_char='"' if quoting else None,
        )
    except (Exception, pl.exceptions.PanicException) as exc:
        _, message = locate_csv_problem(line, delimiter, quoting=quoting)
        raise ManifestError(label, message or _MALFORMED) from exc
    return [name if name is not None else "" for name in header.row(0)]


@dataclass(frozen=True)
class Layout:
    """How the blocks of a delimited file are parsed.

    ``header``: the file's header line, put in front of every block; without one (headerless
    files) a synthetic header of ``names`` is used, and rows may have fewer or more fields.
    """

    names: tuple[str, ...]
    delimiter: str
    header: bytes | None = None
    headerless: bool = False
    quoting: bool = True

    def table(self, source: Input, body: Block, rest: Iterator[Block]) -> RawTable:
        """The :class:`RawTable` whose rows are ``body`` and then the ``rest`` blocks."""

        def batches(rows: int) -> Iterator[pl.DataFrame]:
            done = 0
            for block in _chain(body, rest):
                frame = self.parse(source.label, block.data, done)
                done += frame.height
                yield frame.filter(~pl.all_horizontal(pl.exclude(ROW, QUOTED).is_null()))

        return RawTable(
            names=self.names,
            schema=dict.fromkeys(self.names, pl.String()),
            batches=batches,
            close=source.close,
            delimiter=self.delimiter,
        )

    def parse(self, label: str, data: bytes, done: int) -> pl.DataFrame:
        """One block as text columns with ``ROW``; ``done`` rows came before it."""
        header = self.header
        if header is None:
            header = self.delimiter.join(self.names).encode()
        if not header.endswith(b"\n"):
            header += b"\n"
        text = header + data
        try:
            frame = pl.read_csv(
                text,
                has_header=True,
                infer_schema=False,
                truncate_ragged_lines=self.headerless,
                raise_if_empty=True,
                separator=self.delimiter,
                quote_char='"' if self.quoting else None,
            )
        except (Exception, pl.exceptions.PanicException) as exc:
            row, message = locate_csv_problem(text, self.delimiter, quoting=self.quoting)
            raise ManifestError(
                label, message or _MALFORMED, row=None if row is None else done + row
            ) from exc
        if frame.width != len(self.names):  # pragma: no cover - polars reads the header given
            raise ManifestError(label, "malformed CSV header")
        frame.columns = list(self.names)
        frame = frame.with_row_index(ROW, offset=done + 1)
        if self.quoting:
            quoted = quoted_spaces(text, self.names, self.delimiter, frame.height)
            frame = frame.with_columns(quoted)
        if not self.headerless and len(self.names) > 1:
            last = self.names[-1]
            if frame.select(pl.col(last).is_null().any()).item():
                # polars pads a row with too few fields with nulls; pyarrow tells them apart.
                short = find_short_row(text, self.names[0], self.delimiter, quoting=self.quoting)
                if short is not None:
                    row, count = short
                    raise ManifestError(
                        label,
                        f"has {fields(count)}, the header has {len(self.names)} (ragged row)",
                        row=done + row,
                    )
        return frame


def _chain(first: Block, rest: Iterator[Block]) -> Iterator[Block]:
    if first.data:
        yield first
    yield from rest
