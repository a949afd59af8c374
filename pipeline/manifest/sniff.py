"""The format of a manifest told from its first bytes: standard input, extension-less remote
manifests, and ``.txt``/``.urls``/``.list`` files (a list saved under the wrong name).

In order: Parquet by its magic bytes; JSON Lines when the first line is a JSON object; TSV when
it is ``TsvHttpData-1.0``; a URL list when it is a ``#`` comment, or one source (a URL, or
TAB-separated mirrors as aria2 writes them); CSV when it is a header that names a url column
(or the ``--column url=NAME`` column), has several name-like fields, or comes before URL lines;
else a URL list of bare paths (``ls`` output).

A first line that is one URL makes a URL list, commas and all, unless every line with a comma
is rclone's ``URL,NAME`` (a URL ending in a file name, then a relative file name): then it is a
header-less CSV. Either way, lines with commas make the guess ambiguous, and :class:`Sniffed`
says so in a ``note`` for stderr.
"""

from __future__ import annotations

import codecs
import csv
import re
from typing import Final, NamedTuple

from pipeline.manifest.columns import URL_SPELLINGS, canonical
from pipeline.manifest.options import DELIMITERS, Format

SNIFF_BYTES: Final = 64 << 10
TSV_HTTP_DATA: Final = b"TsvHttpData-1.0"
_URL: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://\S+$|^data:\S+$")
_HTTP_FILE: Final = re.compile(r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s?#]*/[^/\s?#]+\.[A-Za-z0-9]{1,8}$")
_RELATIVE_NAME: Final = re.compile(r"^[^/\s=?&#:][^=?&#:]*$")
_NAME_LIKE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_ \-]*$")
_URL_NAMES: Final = frozenset(canonical(name) for name in URL_SPELLINGS.split(", "))


class Sniffed(NamedTuple):
    """The format found, and a line for stderr when the guess could have gone another way."""

    format: Format
    note: str | None = None


def sniff_format(head: bytes, label: str = "-", *, url_column: str | None = None) -> Sniffed:
    """The format of a manifest (named ``label`` in the note) that starts with ``head``;
    ``url_column`` is the ``--column url=NAME`` name, if given."""
    if head.startswith(b"PAR1"):
        return Sniffed("parquet")
    text = head.removeprefix(codecs.BOM_UTF8).decode("utf-8", "replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(text) >= SNIFF_BYTES and len(lines) > 1:
        lines.pop()  # the last line may be cut short
    first = lines[0] if lines else ""
    if first.startswith("{"):
        return Sniffed("jsonl")
    if first.encode().startswith(TSV_HTTP_DATA):
        return Sniffed("tsv")
    if first.startswith("#"):
        return Sniffed("txt")
    if all(_URL.match(uri.strip()) for uri in first.split("\t")):
        return _url_lines(lines, label)
    fields = _fields(first)
    if fields and _URL.match(fields[0]):  # a quoted URL first: a header-less CSV
        return Sniffed("csv")
    if _is_header(fields, url_column) or (len(lines) > 1 and _URL.match(lines[1].split(",")[0])):
        return Sniffed("csv")
    return Sniffed("txt")


def _url_lines(lines: list[str], label: str) -> Sniffed:
    """A list whose first line is a URL: URL list, or rclone's header-less ``URL,NAME`` CSV."""
    with_commas = [line for line in lines if "," in line and not line.startswith("#")]
    if not with_commas:
        return Sniffed("txt")
    if all(_is_rclone_line(line) for line in with_commas):
        return Sniffed(
            "csv",
            f"ferry: {label}: read as CSV without a header, url,file_name (rclone copyurl "
            "--urls): every line with a comma is a URL and a file name; --format txt reads "
            "each line as one URL",
        )
    return Sniffed(
        "txt",
        f"ferry: {label}: read as a URL list, one URL a line, commas and all; --format csv "
        "reads each line as url,file_name (rclone copyurl --urls)",
    )


def _is_rclone_line(line: str) -> bool:
    """``URL,NAME`` as rclone's ``copyurl --urls`` takes it: a URL, then a relative file name;
    a name with folders (``local/path/bar.json``) only after a URL that ends in a file name.
    ``?w=100,h=200`` and Cloudinary's ``/w_100,h_200/sample.jpg`` are commas inside one URL."""
    fields = _fields(line)
    if len(fields) != 2 or not _URL.match(fields[0]) or not _RELATIVE_NAME.match(fields[1]):
        return False
    if "/" in fields[1]:
        return bool(_HTTP_FILE.match(fields[0])) and ".." not in fields[1].split("/")
    return True


def _fields(line: str) -> list[str]:
    """``line`` split as one CSV record with its sniffed delimiter."""
    try:
        return [field.strip() for field in next(csv.reader([line], delimiter=_delimiter(line)))]
    except (csv.Error, StopIteration):
        return []


def _delimiter(line: str) -> str:
    return sniff_delimiter(line.encode())


def _is_header(fields: list[str], url_column: str | None) -> bool:
    """A CSV header: it names the url column, or has several name-like fields."""
    named = {canonical(field) for field in fields}
    if named & _URL_NAMES or (url_column is not None and canonical(url_column) in named):
        return True
    return len(fields) > 1 and all(_NAME_LIKE.match(field) for field in fields)


def sniff_delimiter(header: bytes) -> str:
    """The delimiter among ``, ; tab |`` that the header line holds most often (``,`` if none).

    Quoted parts of the header do not count.
    """
    outside = re.sub(rb'"[^"]*"', b"", header)
    counts = [(outside.count(d.encode()), -n, d) for n, d in enumerate(DELIMITERS)]
    best = max(counts)
    return best[2] if best[0] else ","
