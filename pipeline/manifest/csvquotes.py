"""Which fields of a CSV block were quoted with spaces around their text.

ferry strips the spaces around a value (hand-written CSV has one after every comma), but a
quoted field is written as it is meant: ``" /data/a b .txt "`` names that path, spaces and all.
polars does not say which fields were quoted, so a block whose bytes hold a quote beside a
space or a tab (rare) is read again here, field by field with one regular expression, and each
row gets the names of its columns whose quoted value has surrounding spaces
(:data:`QUOTED`); every other block gets nothing to look at.
"""

from __future__ import annotations

import re
from typing import Final

import polars as pl

#: The column of a raw CSV frame that lists, per row, the columns whose quoted value has
#: surrounding spaces (null for nearly every row).
QUOTED: Final = "__ferry_quoted__"
QUOTED_TYPE: Final = pl.List(pl.String())

_HINTS: Final = (b'" ', b' "', b'"\t', b'\t"')
_OUTER_SPACE: Final = re.compile(rb'^"\s|\s"$')


def quoted_spaces(text: bytes, names: tuple[str, ...], delimiter: str, rows: int) -> pl.Series:
    """For each of the ``rows`` data records of ``text`` (a header line, then the records), the
    names of its columns whose value was quoted with spaces around it, or null."""
    found: list[list[str] | None] = [None] * rows
    if not any(hint in text for hint in _HINTS):
        return pl.Series(QUOTED, found, dtype=QUOTED_TYPE)
    sep = re.escape(delimiter.encode())
    # a quoted field (ending where a field may end), else anything up to the next delimiter
    field = re.compile(rb'"(?:[^"]|"")*"(?=' + sep + rb"|\r?\n|$)|[^\r\n" + sep + rb"]*")
    position, record, column = 0, -1, 0  # record -1: the header
    end = len(text)
    while position < end:
        match = field.match(text, position)
        assert match is not None  # the pattern matches the empty string too
        value = match[0]
        if record >= 0 and record < rows and column < len(names) and _OUTER_SPACE.search(value):
            found[record] = [*(found[record] or []), names[column]]
        position = match.end()
        if text.startswith(delimiter.encode(), position):
            position += len(delimiter)
            column += 1
            continue
        if text.startswith(b"\r\n", position):
            position += 2
        elif position < end:
            position += 1  # \n, or a character polars refused already
        record, column = record + 1, 0
    return pl.Series(QUOTED, found, dtype=QUOTED_TYPE)
