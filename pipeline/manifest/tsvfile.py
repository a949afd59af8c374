"""TSV manifests: tab-separated, a header row (``--delimiter`` overrides the tab). Cells are
read as they are, unless the first bytes have a whole cell in double quotes (LibreOffice's and
Excel's TSV export): then quotes are CSV quoting, and a quoted cell may hold tabs and newlines.

A first line ``TsvHttpData-1.0`` marks a Google Storage Transfer Service URL list: no header,
the columns are ``url``, ``size`` and ``md5`` (Base64), and data row 1 is the line after the
marker. A size or MD5 that is malformed fails its row (``invalid_row``), like any integrity
column; a missing one is empty.
"""

from __future__ import annotations

import re
from typing import Final

from pipeline.manifest.columns import check_names
from pipeline.manifest.csvfile import Layout, parse_header
from pipeline.manifest.inputs import Input
from pipeline.manifest.options import ManifestOptions
from pipeline.manifest.raw import RawTable
from pipeline.manifest.sniff import SNIFF_BYTES, TSV_HTTP_DATA
from pipeline.manifest.textio import Block, Reader, blocks, first_record_end


def read_tsv(source: Input, options: ManifestOptions) -> RawTable:
    """The :class:`RawTable` of a TSV manifest or a ``TsvHttpData-1.0`` list."""
    head = source.read(SNIFF_BYTES)
    quoting = _QUOTED_FIELD.search(head) is not None
    chunks = blocks(_after(head, source.read), source.label, source.format, quoted=quoting)
    first = next(chunks)
    end = first_record_end(first.data, quoted=quoting)
    header_line = first.data[:end]
    body = Block(first.data[end:], first.line + 1)
    delimiter = options.delimiter or "\t"
    if header_line.strip() == TSV_HTTP_DATA:
        layout = Layout(
            names=("url", "size", "md5"), delimiter="\t", headerless=True, quoting=False
        )
        return layout.table(source, body, chunks)
    names = parse_header(source.label, header_line, delimiter, quoting=quoting)
    check_names(source.label, names)
    layout = Layout(names=tuple(names), delimiter=delimiter, header=header_line, quoting=quoting)
    return layout.table(source, body, chunks)


#: A whole field in double quotes (``""`` inside), as LibreOffice and Excel quote TSV cells.
_QUOTED_FIELD: Final = re.compile(rb'(?m)(?:^|\t)"(?:[^"]|"")*"(?=\t|\r?$)')


def _after(head: bytes, read: Reader) -> Reader:
    """``read``, giving ``head`` (bytes already read) first."""
    pending = [head]

    def reader(size: int) -> bytes:
        if pending:
            return pending.pop()
        return read(size)

    return reader
