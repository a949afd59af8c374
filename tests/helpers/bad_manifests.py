"""A corpus of bad manifests: every whole-manifest error ferry reports, one case each.

Each case builds its file in a directory and names the substring the one-line error must
contain (besides the file name). ``tests/manifest/test_manifest.py`` checks ``read_manifest``
against it; CLI tests can run ``ferry run <file>`` on the same cases and expect exit 2::

    from tests.helpers.bad_manifests import CASES

    for case in CASES:
        if case.skip_reason is None:
            path = case.build(tmp_path)
"""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

__all__ = ["BAD_ROWS", "CASES", "BadManifest", "BadRow", "parquet_bytes"]


@dataclass(frozen=True)
class BadManifest:
    """One bad manifest: ``make`` is the file's bytes, or a function that builds it."""

    name: str
    filename: str
    make: Callable[[Path], Path] | bytes
    expect: str
    skip_reason: str | None = None
    #: The bytes are given on standard input (MANIFEST ``-``), not as a file.
    stdin: bool = False

    def build(self, directory: Path) -> Path:
        """Create the manifest in ``directory`` and return its path (for ``stdin`` cases, the
        file whose bytes are to be given on standard input)."""
        if isinstance(self.make, bytes):
            path = directory / self.filename
            path.write_bytes(self.make)
            return path
        return self.make(directory)


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    """``frame`` written as a Parquet file, in memory."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


_GOOD_PARQUET = parquet_bytes(
    pl.DataFrame({"url": [f"https://example.com/{n}.jpg" for n in range(200)], "n": range(200)})
)


def _missing(directory: Path) -> Path:
    return directory / "missing.csv"


def _directory(directory: Path) -> Path:
    path = directory / "batch"
    (path / "empty-subfolder").mkdir(parents=True)
    (path / "old.results.parquet.lock").write_bytes(b"")  # ferry's own files do not count
    return path


def _unreadable(directory: Path) -> Path:
    path = directory / "locked.csv"
    path.write_bytes(b"url\nhttps://example.com/a.jpg\n")
    path.chmod(0)
    return path


def _truncated_parquet(directory: Path) -> Path:
    path = directory / "truncated.parquet"
    path.write_bytes(_GOOD_PARQUET[: len(_GOOD_PARQUET) // 2])
    return path


def _corrupt_parquet(directory: Path) -> Path:
    # The magic bytes at both ends are intact; everything between them (pages, footer) is zero.
    path = directory / "corrupt.parquet"
    body = bytes(len(_GOOD_PARQUET) - 8)
    path.write_bytes(_GOOD_PARQUET[:4] + body + _GOOD_PARQUET[-4:])
    return path


def _truncated_gzip(directory: Path) -> Path:
    path = directory / "cut.csv.gz"
    whole = gzip.compress(b"url\n" + b"https://example.com/a.jpg\n" * 100)
    path.write_bytes(whole[: len(whole) // 2])
    return path


def _truncated_jsonl_gzip(directory: Path) -> Path:
    path = directory / "cut.jsonl.gz"
    whole = gzip.compress(b'{"url": "https://example.com/a.jpg"}\n' * 100)
    path.write_bytes(whole[: len(whole) // 2])
    return path


_AS_ROOT = "running as root: root can read a file with mode 000"

CASES: tuple[BadManifest, ...] = (
    BadManifest("missing", "missing.csv", _missing, "no such file"),
    BadManifest("empty-directory", "batch", _directory, "the folder has no files to upload"),
    BadManifest(
        "unreadable",
        "locked.csv",
        _unreadable,
        "permission denied",
        skip_reason=_AS_ROOT if os.geteuid() == 0 else None,
    ),
    BadManifest("empty", "empty.csv", b"", "empty file"),
    BadManifest("blank", "blank.csv", b"\n \n", "empty file"),
    BadManifest("header-only", "header.csv", b"url,id\n", "no data rows"),
    BadManifest(
        "no-url-column",
        "nourl.csv",
        b"link,name\nhttps://example.com/a.jpg,a\n",
        "no url column (expected one of: url, source_url, fileUrl); found: link, name",
    ),
    BadManifest(
        "ambiguous-columns",
        "ambiguous.csv",
        b"url,fileUrl\nhttps://example.com/a.jpg,https://example.com/b.jpg\n",
        "columns 'url' and 'fileUrl' both name the url column",
    ),
    BadManifest(
        "duplicate-column-name",
        "dupname.csv",
        b"url,note,note\nhttps://example.com/a.jpg,1,2\n",
        "column name 'note' appears twice",
    ),
    BadManifest(
        "unnamed-column",
        "unnamed.csv",
        b"url,,note\nhttps://example.com/a.jpg,1,2\n",
        "column 2 has no name",
    ),
    BadManifest(
        "reserved-column",
        "reserved.csv",
        b"url,_invalid\nhttps://example.com/a.jpg,1\n",
        "column '_invalid': this column name is reserved",
    ),
    BadManifest(
        "duplicate-ids",
        "dupids.csv",
        b"id,url\n1,https://example.com/a.jpg\n2,https://example.com/b.jpg\n"
        b"1,https://example.com/c.jpg\n",
        "column 'id': duplicate id '1' in rows 1 and 3",
    ),
    BadManifest(
        "empty-id",
        "emptyid.csv",
        b"id,url\n1,https://example.com/a.jpg\n  ,https://example.com/b.jpg\n",
        "row 2: column 'id': empty id",
    ),
    BadManifest(
        "clash",
        "clash.csv",
        b"url,upload_path,file_name\n"
        b"https://example.com/1.jpg,images,a.jpg\n"
        b"https://example.com/2.jpg,images,b.jpg\n"
        b"https://example.com/3.jpg,/images/,a.jpg\n",
        "column 'file_name': rows 1 and 3 both upload to 'images/a.jpg' from different sources",
    ),
    BadManifest(
        "undecodable",
        "latin1.csv",
        b"url,note\nhttps://example.com/a.jpg,ok\nhttps://example.com/b.jpg,caf\xe9\n",
        "not UTF-8: byte 0xE9 on line 3",
    ),
    BadManifest(
        "utf16", "utf16.csv", "url\nhttps://example.com/a.jpg\n".encode("utf-16"), "UTF-16"
    ),
    BadManifest(
        "unbalanced-quotes",
        "quotes.csv",
        b'url,id\nhttps://example.com/a.jpg,1\n"https://example.com/b.jpg,2\n'
        b"https://example.com/c.jpg,3\n",
        "row 2: unbalanced quote",
    ),
    BadManifest(
        "unbalanced-quote-last-field",
        "quotes2.csv",
        b'url,id\nhttps://example.com/a.jpg,1\nhttps://example.com/b.jpg,"2\n'
        b"https://example.com/c.jpg,3\n",
        "row 2: unbalanced quote",
    ),
    BadManifest(
        "text-after-quote",
        "afterquote.csv",
        b'url,id\n"https://example.com/a.jpg" x,1\n',
        "row 1: malformed quoting",
    ),
    BadManifest(
        "stray-quote",
        "stray.csv",
        b'url,id\nhttps://example.com/a"b.jpg,1\n',
        "malformed CSV",
    ),
    BadManifest(
        "ragged-long-row",
        "long.csv",
        b"url,id\nhttps://example.com/a.jpg,1\nhttps://example.com/b.jpg,2,extra\n",
        "row 2: has 3 fields, the header has 2",
    ),
    BadManifest(
        "ragged-short-row",
        "short.csv",
        b"url,id,note\nhttps://example.com/a.jpg,1,x\nhttps://example.com/b.jpg\n",
        "row 2: has 1 field, the header has 3",
    ),
    BadManifest(
        "binary-garbage",
        "garbage.csv",
        bytes(range(256)) * 8,
        "binary data, not CSV text",
    ),
    BadManifest("parquet-named-csv", "data.csv", _GOOD_PARQUET, "this is a Parquet file, not CSV"),
    BadManifest("workbook-named-csv", "book.csv", b"PK\x03\x04" + bytes(60), "ZIP archive"),
    BadManifest(
        "truncated-parquet",
        "truncated.parquet",
        _truncated_parquet,
        "not a readable Parquet file (truncated",
    ),
    BadManifest(
        "corrupt-parquet", "corrupt.parquet", _corrupt_parquet, "not a readable Parquet file"
    ),
    BadManifest(
        "csv-named-parquet",
        "text.parquet",
        b"url\nhttps://example.com/a.jpg\n",
        "not a readable Parquet file (no Parquet magic bytes at the start: is it a CSV file?)",
    ),
    BadManifest(
        "wrong-type-url",
        "inturl.parquet",
        parquet_bytes(pl.DataFrame({"url": [1, 2]})),
        "column 'url': expected text, found i64",
    ),
    BadManifest(
        "wrong-type-id",
        "boolid.parquet",
        # a float id is read when whole (pandas' 12.0) and fails its row when not
        parquet_bytes(pl.DataFrame({"id": [True], "url": ["https://example.com/a.jpg"]})),
        "column 'id': expected text or integer, found bool",
    ),
    BadManifest(
        "wrong-type-file-name",
        "listname.parquet",
        parquet_bytes(
            pl.DataFrame({"url": ["https://example.com/a.jpg"], "fileName": [["a", "b"]]})
        ),
        "column 'fileName': expected text, found list[str]",
    ),
    BadManifest(
        "parquet-no-rows",
        "norows.parquet",
        parquet_bytes(pl.DataFrame({"url": []}, schema={"url": pl.String})),
        "no data rows",
    ),
    BadManifest(
        "unknown-extension",
        "manifest.xlsx",
        b"PK\x03\x04",
        "unknown extension '.xlsx': use .csv, .tsv, .txt, .urls, .list, .jsonl, .ndjson "
        "(each also .gz) or .parquet, or --format",
    ),
    BadManifest(
        "gzip-not-gzip",
        "plain.csv.gz",
        b"url\nhttps://example.com/a.jpg\n",
        "not a valid gzip file",
    ),
    BadManifest("gzip-truncated", "cut.csv.gz", _truncated_gzip, "not a valid gzip file"),
    BadManifest(
        "jsonl-torn-line",
        "torn.jsonl",
        b'{"url": "https://example.com/a.jpg"}\n{"url": "https://exa\n',
        "row 2: malformed JSON: Unterminated string",
    ),
    BadManifest(
        "jsonl-not-objects",
        "array.ndjson",
        b'{"url": "https://example.com/a.jpg"}\n["https://example.com/b.jpg"]\n',
        "row 2: not a JSON object but list",
    ),
    BadManifest(
        "jsonl-gzip-truncated", "cut.jsonl.gz", _truncated_jsonl_gzip, "not a valid gzip file"
    ),
    BadManifest(
        "tsv-ragged-row",
        "ragged.tsv",
        b"url\tid\nhttps://example.com/a.jpg\t1\nhttps://example.com/b.jpg\t2\textra\n",
        "row 2: has 3 fields, the header has 2",
    ),
    BadManifest(
        "tsv-semicolon-header",
        "semicolon.tsv",
        b"url;id\nhttps://example.com/a.jpg;1\n",
        "one column holding ';': wrong --delimiter?",
    ),
    BadManifest(
        "url-list-binary",
        "urls.txt",
        b"https://example.com/a.jpg\nhttps://example.com/b\x00.jpg\n",
        "binary data, not URL list text (a NUL byte on line 2)",
    ),
    BadManifest("parquet-gz", "data.parquet.gz", b"\x1f\x8b", "unknown extension '.gz'"),
    BadManifest("empty-stdin", "stdin", b"", "empty input", stdin=True),
    BadManifest(
        "gzip-named-csv",
        "packed.csv",
        gzip.compress(b"url\nhttps://example.com/a.jpg\n"),
        "gzip-compressed, not CSV: name it .csv.gz",
    ),
)


@dataclass(frozen=True)
class BadRow:
    """A manifest with one bad row among good ones: ``{sources}`` in ``text`` is the base URL
    of a source server serving ``f000.txt`` ...; the row ``bad_row`` (1-based, in the file's
    row numbering) fails as ``invalid_row`` with an error that contains ``expect``."""

    name: str
    filename: str
    text: str
    bad_row: int
    expect: str

    def build(self, directory: Path, sources: str) -> Path:
        """Create the manifest in ``directory`` and return its path."""
        path = directory / self.filename
        path.write_text(self.text.replace("{sources}", sources), encoding="utf-8")
        return path


BAD_ROWS: tuple[BadRow, ...] = (
    BadRow(
        "url-list-control-character",
        "urls.txt",
        "{sources}/f000.txt\n# a comment\n{sources}/f001\x07.txt\n{sources}/f002.txt\n",
        3,
        "control characters in URL",
    ),
    BadRow(
        "tsv-http-data-non-numeric-size",
        "transfer.tsv",
        "TsvHttpData-1.0\n{sources}/f000.txt\t7\n{sources}/f001.txt\tabc\n",
        2,
        "invalid size 'abc'",
    ),
    BadRow(
        "jsonl-malformed-md5",
        "rows.jsonl",
        '{"url": "{sources}/f000.txt"}\n{"url": "{sources}/f001.txt", "md5": "xyz"}\n',
        2,
        "invalid md5 'xyz'",
    ),
)
