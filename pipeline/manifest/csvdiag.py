"""Where a CSV block that polars refused (or padded) goes wrong: row and description.

Only called once a problem is known, on the one block of the file that has it, to tell the
person where to look. Rows are counted from the block's first record after its header.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import Iterator
from typing import Final

import pyarrow as pa
import pyarrow.csv as pacsv

from pipeline.manifest.messages import fields
from pipeline.manifest.textio import MAX_RECORD_BYTES

_DATA_URL: Final = re.compile(r"\s*data:[^,]*;base64$", re.IGNORECASE)


def locate_csv_problem(
    data: bytes, delimiter: str, *, quoting: bool = True
) -> tuple[int | None, str | None]:
    """Row and description of the first quoting or field-count problem in ``data``."""
    with _no_field_limit():
        return _locate(data, delimiter, quoting=quoting)


@contextlib.contextmanager
def _no_field_limit() -> Iterator[None]:
    """Python's csv module refuses fields over 131,072 characters ("field larger than field
    limit"), which would hide the real problem of a row holding a ``data:`` URL: lifted while
    the diagnosis reads (as far as ferry reads a record at all)."""
    previous = csv.field_size_limit(MAX_RECORD_BYTES)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _locate(data: bytes, delimiter: str, *, quoting: bool) -> tuple[int | None, str | None]:
    reader = csv.reader(
        io.StringIO(data.decode("utf-8", "replace"), newline=""),
        delimiter=delimiter,
        strict=True,
        quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
    )
    width: int | None = None
    row = 0
    try:
        for record in reader:
            if width is None:
                width = len(record)
                continue
            row += 1
            if record and len(record) != width:
                message = f"has {fields(len(record))}, the header has {width} (ragged row)"
                if len(record) > width and any(_DATA_URL.match(field) for field in record):
                    message += ": a data: URL holds a comma, so its field must be quoted"
                return row, message
    except csv.Error as exc:
        where = row + 1 if width is not None else None
        prefix = "" if where is not None else "header: "
        text = str(exc)
        if "unexpected end of data" in text:
            return where, prefix + "unbalanced quote: a quoted field opens here and never closes"
        if "expected after" in text:
            return where, prefix + "malformed quoting: text after a closing quote"
        return None, None
    return None, None


def find_short_row(
    data: bytes, first_column: str, delimiter: str, *, quoting: bool = True
) -> tuple[int, int] | None:
    """The first data row of ``data`` with fewer fields than its header, as (row, fields)."""
    found: list[tuple[int, int]] = []

    def handler(invalid: pacsv.InvalidRow) -> str:
        if invalid.number is not None:
            found.append((int(invalid.number) - 1, int(invalid.actual_columns)))
        return "error"

    # A diagnostic: if pyarrow fails for another reason, it has nothing to tell.
    with contextlib.suppress(Exception):
        pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(use_threads=False),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                quote_char='"' if quoting else False,
                newlines_in_values=True,
                ignore_empty_lines=False,
                invalid_row_handler=handler,
            ),
            convert_options=pacsv.ConvertOptions(
                include_columns=[first_column], column_types={first_column: pa.string()}
            ),
        )
    return found[0] if found else None
