"""JSON Lines manifests (``.jsonl``, ``.ndjson``): one JSON object per line, the same column
names as CSV; a row's number is its line, blank lines are skipped.

The columns are the keys of the first block of lines (about 4 MiB), with the types polars
infers there (a key that is always null there is text). Later blocks must fit: a key that
first appears later, or a value of another type, is a bad manifest naming its row. A line
that is not a JSON object (torn, truncated, an array) is a bad manifest naming its row.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping

import polars as pl

from pipeline.errors import ManifestError
from pipeline.manifest.columns import ROW, check_names
from pipeline.manifest.inputs import Input
from pipeline.manifest.messages import dtype_name, first_line, quote, show
from pipeline.manifest.options import ManifestOptions
from pipeline.manifest.raw import RawTable
from pipeline.manifest.textio import Block, blocks


def read_jsonl(source: Input, options: ManifestOptions) -> RawTable:
    """The :class:`RawTable` of a JSON Lines manifest."""
    label = source.label
    chunks = blocks(source.read, label, source.format, quoted=False)
    first = _parse(label, next(chunks))
    schema = {
        name: pl.String() if dtype == pl.Null else dtype
        for name, dtype in first.schema.items()
        if name != ROW
    }
    names = tuple(schema)
    check_names(label, names)
    first = first.cast(dict(schema))  # type: ignore[arg-type]

    def batches(rows: int) -> Iterator[pl.DataFrame]:
        yield first
        for block in chunks:
            yield _conform(label, _parse(label, block), schema)

    return RawTable(names=names, schema=schema, batches=batches, close=source.close)


def _parse(label: str, block: Block) -> pl.DataFrame:
    """One block's objects, with ``ROW`` (the line of each)."""
    text = block.data
    if not text.strip():
        return pl.DataFrame({ROW: pl.Series([], dtype=pl.Int64)})
    try:
        frame = pl.read_ndjson(io.BytesIO(text), infer_schema_length=None)
    except (Exception, pl.exceptions.PanicException) as exc:
        raise _locate(label, block, exc) from exc
    lines = pl.DataFrame({"line": [text.decode("utf-8")]}).select(pl.col("line").str.split("\n"))
    rows = (
        lines.explode("line")
        .with_row_index(ROW, offset=block.line)
        .filter(pl.col("line").str.strip_chars() != "")[ROW]
        .cast(pl.Int64)
    )
    if rows.len() != frame.height:  # pragma: no cover - polars skips exactly the blank lines
        raise ManifestError(label, "malformed JSON Lines (a line is not one JSON object)")
    return frame.insert_column(0, rows)


def _locate(label: str, block: Block, exc: BaseException) -> ManifestError:
    """The first line of ``block`` that is not a JSON object, as a :class:`ManifestError`."""
    for number, line in enumerate(block.data.split(b"\n"), start=block.line):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            return ManifestError(
                label, f"malformed JSON: {error.msg} at character {error.pos + 1}", row=number
            )
        if not isinstance(value, dict):
            return ManifestError(label, f"not a JSON object but {type(value).__name__}", row=number)
    return ManifestError(label, f"malformed JSON Lines ({first_line(exc)})")


def _conform(label: str, frame: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """A later block with the first block's columns and types."""
    for name in frame.columns:
        if name != ROW and name not in schema:
            row = frame.filter(pl.col(name).is_not_null())[ROW]
            raise ManifestError(
                label,
                f"key {quote(name)} is not among the keys of the first lines "
                f"({', '.join(show(n) for n in schema)}): give it in the first lines too",
                row=int(row[0]) if row.len() else None,
            )
    columns: list[pl.Expr] = [pl.col(ROW)]
    for name, dtype in schema.items():
        if name not in frame.columns:
            columns.append(pl.lit(None, dtype=dtype).alias(name))
            continue
        found = frame.schema[name]
        if found == dtype or found == pl.Null:
            columns.append(pl.col(name).cast(dtype))
            continue
        try:
            cast = frame.select(pl.col(name).cast(dtype, strict=False))[name]
        except (Exception, pl.exceptions.PanicException):
            cast = pl.Series(name, [None] * frame.height, dtype=dtype)
        bad = frame.filter(frame[name].is_not_null() & cast.is_null())[ROW]
        if bad.len():
            raise ManifestError(
                label,
                f"expected {dtype_name(dtype)} as in the first lines, found {dtype_name(found)}",
                row=int(bad[0]),
                column=show(name),
            )
        columns.append(cast.alias(name))  # type: ignore[arg-type]
    return frame.select(columns)
