"""JSON Lines manifests (``.jsonl``, ``.ndjson``): one JSON object per line, the same column
names as CSV; a row's number is its line, blank lines are skipped.

Exporters leave out null fields and write integers as floats past a gap (pandas' ``12.0``), so
the columns are taken from every line, in two passes: the first reads each block of lines
(about 4 MiB) for its keys and types, the second parses every block with the schema of them
all (a key first seen late is an extra column, as in CSV; standard input is spooled to a
temporary file for it, and an input of one block is parsed once). A key whose values differ in
type is a number when they are all numbers, else text (nested values as their JSON text). A line
that is not a JSON object (torn, truncated, an array) is a bad manifest naming its line.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping

import polars as pl

from pipeline.core.errors import ManifestError
from pipeline.manifest.columns import ROW, check_names
from pipeline.manifest.inputs import Input
from pipeline.manifest.messages import first_line
from pipeline.manifest.options import ManifestOptions
from pipeline.manifest.raw import RawTable
from pipeline.manifest.textio import Block, blocks

Schema = dict[str, pl.DataType]


def read_jsonl(source: Input, options: ManifestOptions) -> RawTable:
    """The :class:`RawTable` of a JSON Lines manifest."""
    label = source.label
    source.keep_for_second_pass()
    schema: Schema = {}
    first: pl.DataFrame | None = None
    for count, block in enumerate(blocks(source.read, label, source.format, quoted=False)):
        frame = _parse(label, block)
        _widen(schema, frame.schema)
        first = frame if count == 0 else None  # kept only while it may be the only block
    schema = {name: pl.String() if dtype == pl.Null else dtype for name, dtype in schema.items()}
    names = tuple(schema)
    check_names(label, names)
    if first is None:
        source.rewind()

    def batches(rows: int) -> Iterator[pl.DataFrame]:
        if first is not None:
            yield _conform(first, schema)
            return
        for block in blocks(source.read, label, source.format, quoted=False):
            yield _conform(_parse(label, block, schema), schema)

    return RawTable(names=names, schema=schema, batches=batches, close=source.close)


def _widen(schema: Schema, found: Mapping[str, pl.DataType]) -> None:
    """Add the keys of one block to ``schema``, each with a type that holds both blocks'."""
    for name, dtype in found.items():
        if name == ROW:
            continue
        known = schema.get(name)
        if known is None or known == pl.Null:
            schema[name] = dtype
        elif dtype != known and dtype != pl.Null:
            schema[name] = _common(known, dtype)


def _common(one: pl.DataType, other: pl.DataType) -> pl.DataType:
    """A type both values fit: integers stay integers, numbers become floats, else text."""
    if one.is_integer() and other.is_integer():
        return pl.Int128() if pl.Int128 in (one, other) else pl.Int64()
    if one.is_numeric() and other.is_numeric():
        return pl.Float64()
    return pl.String()


def _conform(frame: pl.DataFrame, schema: Schema) -> pl.DataFrame:
    """``frame`` with every column of ``schema``, in order (absent keys null)."""
    columns = [
        pl.col(name).cast(dtype) if name in frame.columns else pl.lit(None, dtype).alias(name)
        for name, dtype in schema.items()
    ]
    return frame.select(pl.col(ROW), *columns)


def _parse(label: str, block: Block, schema: Schema | None = None) -> pl.DataFrame:
    """One block's objects (with ``schema``, or the types polars infers), with ``ROW`` (the
    line of each)."""
    text = block.data
    if not text.strip():
        return pl.DataFrame({ROW: pl.Series([], dtype=pl.Int64)})
    try:
        if schema is None:
            frame = pl.read_ndjson(io.BytesIO(text), infer_schema_length=None)
        else:
            frame = pl.read_ndjson(io.BytesIO(text), schema=schema)
    except (Exception, pl.exceptions.PanicException) as exc:
        keys = _keys(label, block, exc)
        if schema is not None:
            raise ManifestError(label, f"malformed JSON Lines ({first_line(exc)})") from exc
        # every line is an object, but polars found no one type for a key (1 and true, [1]
        # and 2): the block's keys are read as text, which holds any JSON value
        return _parse(label, block, dict.fromkeys(keys, pl.String()))
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


def _keys(label: str, block: Block, exc: BaseException) -> list[str]:
    """The keys of ``block``'s objects, in order; the first line that is not a JSON object
    raises :class:`ManifestError` naming it."""
    keys: dict[str, None] = {}
    for number, line in enumerate(block.data.split(b"\n"), start=block.line):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise ManifestError(
                label, f"malformed JSON: {error.msg} at character {error.pos + 1}", row=number
            ) from exc
        if not isinstance(value, dict):
            raise ManifestError(
                label, f"not a JSON object but {type(value).__name__}", row=number
            ) from exc
        keys.update(dict.fromkeys(value))
    return list(keys)
