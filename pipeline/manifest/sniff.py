"""The format of a manifest read from a stream, told from its first bytes.

Parquet by its magic bytes; JSON Lines when the first line is a JSON object; TSV when it is a
``TsvHttpData-1.0`` list; a URL list when the first line is a comment or one source alone (a
URL or a path, no delimiter); otherwise CSV, whose delimiter is sniffed from its header.
"""

from __future__ import annotations

import codecs
import re
from typing import Final

from pipeline.manifest.options import DELIMITERS, Format

SNIFF_BYTES: Final = 64 << 10
TSV_HTTP_DATA: Final = b"TsvHttpData-1.0"
_SOURCE: Final = re.compile(rb"^([A-Za-z][A-Za-z0-9+.\-]*://|data:|/|\./|\.\./|~/)")


def sniff_format(head: bytes) -> Format:
    """The format of a manifest that starts with ``head``."""
    if head.startswith(b"PAR1"):
        return "parquet"
    text = head.removeprefix(codecs.BOM_UTF8).lstrip(b" \t\r\n")
    line = text.split(b"\n", 1)[0].strip()
    if line.startswith(b"{"):
        return "jsonl"
    if line.startswith(TSV_HTTP_DATA):
        return "tsv"
    if line.startswith(b"#"):
        return "txt"
    if _SOURCE.match(line) and not any(d.encode() in line for d in DELIMITERS):
        return "txt"
    return "csv"


def sniff_delimiter(header: bytes) -> str:
    """The delimiter among ``, ; tab |`` that the header line holds most often (``,`` if none).

    Quoted parts of the header do not count.
    """
    outside = re.sub(rb'"[^"]*"', b"", header)
    counts = [(outside.count(d.encode()), -n, d) for n, d in enumerate(DELIMITERS)]
    best = max(counts)
    return best[2] if best[0] else ","
