"""How ferry tells a list's format from its content, and aria2 input files read in detail:
mirrors, option lines across blocks, header= lines, and the rules' edges."""

from __future__ import annotations

import io
import logging
import sys
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from pipeline.commands.status import StatusReport
from pipeline.core.errors import ManifestError
from pipeline.manifest import ManifestOptions, open_manifest, read_manifest, textio
from pipeline.manifest.columns import map_columns
from pipeline.manifest.sniff import sniff_format

URL = "https://e.com/a.jpg"


@pytest.mark.parametrize(
    ("head", "expected", "noted"),
    [
        (b"TsvHttpData-1.0\nhttps://e.com/a\t3\n", "tsv", False),
        (b'{"url": "https://e.com/a"}\n', "jsonl", False),
        (b"# list\nhttps://e.com/a\n", "txt", False),
        (b"https://e.com/a\nhttps://e.com/b\n", "txt", False),
        (b"https://e.com/a\thttps://mirror.e.com/a\n  out=x\n", "txt", False),
        (b"https://e.com/p.jpg?w=100,h=200\n", "txt", True),
        (b"https://c.com/demo/image/upload/w_100,h_200/s.jpg\n", "txt", True),
        (b"https://c.com/u/w_100,h_200,c_fill/s.jpg\n", "txt", True),
        (b"https://e.com/foo/bar.json,local/path/bar.json\n", "csv", True),
        (b"https://e.com/a,a.jpg\nhttps://e.com/b\n", "csv", True),
        (b"https://e.com/a,a.jpg\nhttps://e.com/p.jpg?w=1,h=2\n", "txt", True),
        (b'"https://e.com/a","a, b.jpg"\n', "csv", False),
        (b"url;file_name\nhttps://e.com/a;a.jpg\n", "csv", False),
        (b"Source URL\nhttps://e.com/a\n", "csv", False),
        (b"image_url\thandle\nhttps://e.com/a\tx\n", "csv", False),
        (b"name,size\nx,1\n", "csv", False),
        (b"100%.txt\nb c.txt\nREADME\n", "txt", False),
        (b"a,b.jpg\nc.jpg\n", "txt", False),
        (b"/data/a.jpg\n./b.jpg\n", "txt", False),
        (b"PAR1....", "parquet", False),
    ],
)
def test_the_format_is_told_by_content(head: bytes, expected: str, noted: bool) -> None:
    found = sniff_format(head, "list.txt")
    assert found.format == expected
    assert (found.note is not None) == noted
    if found.note:
        assert found.note.startswith("ferry: list.txt: read as ")


def test_a_column_option_names_the_header() -> None:
    assert sniff_format(b"image\nhttps://e.com/a\n").format == "csv"
    assert sniff_format(b"image\nother\n").format == "txt"
    assert sniff_format(b"image\nother\n", url_column="IMAGE").format == "csv"


def test_format_option_wins_over_content(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("https://e.com/foo/bar.json,local/bar.json\n")
    assert read_manifest(path).frame["file_name"].to_list() == ["bar.json"]
    as_urls = read_manifest(path, ManifestOptions(format="txt")).frame
    assert as_urls["url"].to_list() == ["https://e.com/foo/bar.json,local/bar.json"]


def test_the_guess_is_said_once_per_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "list.urls"
    path.write_text("https://e.com/p.jpg?w=100,h=200\n")
    with caplog.at_level(logging.WARNING), open_manifest(path) as opened:
        list(opened.batches())
        list(opened.batches())  # a local file is read again: nothing said again
    assert [r.getMessage() for r in caplog.records].count(
        f"ferry: {path}: read as a URL list, one URL a line, commas and all; --format csv "
        "reads each line as url,file_name (rclone copyurl --urls)"
    ) == 1


# --- aria2 input files in detail -----------------------------------------------------------


ARIA2 = (
    "http://server/file.iso\thttp://mirror/file.iso\n"
    "  dir=/iso_images\n"
    "  out=file.img\n"
    "http://foo/bar\n"
    "# a comment between entries\n"
    "https://e.com/a.bin\n"
    "\n"
    "\tout=sub/a.bin\n"
    "  checksum=md5=D41D8CD98F00B204E9800998ECF8427E\n"
    "  checksum=sha-1=da39a3ee5e6b4b0d3255bfef95601890afd80709\n"
    "  header=X-Token: abc\n"
    "  header=Referer: https://e.com/\n"
    "  max-connection-per-server=2\n"
    "   https://e.com/indented.bin\n"
)


@pytest.mark.parametrize("block_bytes", [40, 4 << 20], ids=["small-blocks", "one-block"])
@pytest.mark.parametrize("via", ["file", "stdin"])
def test_aria2_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_bytes: int, via: str
) -> None:
    """The manual's uri.txt example (https://aria2.github.io/manual/en/html/aria2c.html#input-file)
    and more: an entry's option lines stay with its URI line wherever the blocks are cut, a blank
    line or a comment may sit among them (aria2 skips both), a TAB may indent them."""
    monkeypatch.setattr(textio, "BLOCK_BYTES", block_bytes)
    if via == "file":
        source: str | Path = tmp_path / "uri.txt"
        Path(source).write_text(ARIA2)
    else:
        source = "-"
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(ARIA2.encode())))
    with open_manifest(source, options=ManifestOptions(default_upload_path="up")) as opened:
        assert opened.extra_columns == ("md5", "mirrors")
        frame = pl.concat(list(opened.batches()))
    assert frame.select("url", "upload_path", "file_name", "_row", "md5", "mirrors").rows() == [
        ("http://server/file.iso", "up/iso_images", "file.img", 1, None, "http://mirror/file.iso"),
        ("http://foo/bar", "up", None, 4, None, None),
        ("https://e.com/a.bin", "up/sub", "a.bin", 6, "D41D8CD98F00B204E9800998ECF8427E", None),
        ("https://e.com/indented.bin", "up", None, 14, None, None),
    ]
    assert frame["_headers"].to_list() == [
        None,
        None,
        "X-Token: abc\nReferer: https://e.com/",
        None,
    ]
    assert frame["_invalid"].to_list() == [None] * 4


def test_aria2_ignored_options_are_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "uri.txt"
    path.write_text(ARIA2)
    with caplog.at_level(logging.WARNING):
        read_manifest(path)
    warnings = [r.getMessage() for r in caplog.records if "aria2 options" in r.getMessage()]
    assert warnings == [
        f"ferry: {path}: aria2 options ferry does not use were ignored: "
        "checksum=sha-1 (1 line), max-connection-per-server (1 line)"
    ]


def test_aria2_option_before_any_uri_is_a_bad_manifest(tmp_path: Path) -> None:
    path = tmp_path / "uri.txt"
    path.write_text("# list\n  out=a.bin\nhttps://e.com/a\n")
    with pytest.raises(ManifestError, match=r"row 2: an aria2 option line \(out=…\) comes before"):
        read_manifest(path)


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        ("  header=no colon here\n", "invalid header= line: expected 'Name: value'"),
        ("  out=../up.bin\n", "invalid file_name '../up.bin': '..' segment"),
        ("  out=/etc/x\n", "invalid file_name '/etc/x': an absolute path"),
        ("  dir=../x\n", "invalid upload_path 'ferry/../x': '..' segment"),
        ("  checksum=md5=xyz\n", "invalid md5 'xyz': not 32 hex digits"),
    ],
)
def test_aria2_bad_options_fail_their_row(tmp_path: Path, lines: str, reason: str) -> None:
    path = tmp_path / "uri.txt"
    path.write_text(f"https://e.com/a\n{lines}https://e.com/b\n")
    invalid = read_manifest(path).frame["_invalid"].to_list()
    assert invalid[1] is None and invalid[0] is not None and invalid[0].startswith(reason)
    assert "no colon" not in (invalid[0] or "")  # a header's value is never shown


def test_mirrors_column_in_any_format(tmp_path: Path) -> None:
    """A result table is a manifest: its ``mirrors`` column is read back as mirrors."""
    frame = pl.DataFrame(
        {
            "url": ["https://e.com/a", "https://e.com/b", "https://e.com/c"],
            "mirrors": ["https://m1/a\thttps://m2/a", None, "ftp://m/c"],
        }
    )
    path = tmp_path / "m.parquet"
    frame.write_parquet(path)
    got = read_manifest(path).frame.select("mirrors", "_invalid").rows()
    assert got == [
        ("https://m1/a https://m2/a", None),
        (None, None),
        ("ftp://m/c", "invalid mirror 'ftp://m/c': not an http(s) URL"),
    ]
    listed = pl.DataFrame({"url": ["https://e.com/a"], "mirrors": [["https://m1/a"]]})
    listed.write_parquet(path)
    assert read_manifest(path).frame["mirrors"].to_list() == ["https://m1/a"]


def test_quoted_names_say_why_the_url_column_is_missing() -> None:
    with pytest.raises(ManifestError, match="the names hold double quotes"):
        map_columns("m.tsv", ['"URL"', "file_name"], {})


def test_status_aligns_long_kinds() -> None:
    report = StatusReport(
        tables=[Path("t")],
        ok=1,
        failed=12,
        error_kinds=Counter({"checksum_mismatch": 10, "source_error": 2}),
    )
    lines = report.text().splitlines()
    starts = {len(line) - len(line.split()[-1]) for line in lines}
    assert len(starts) == 1, lines  # every value starts in the same column
    assert "  checksum_mismatch 10" in lines


def test_a_list_saved_as_txt_may_be_any_format(tmp_path: Path) -> None:
    parquet = tmp_path / "export.txt"
    pl.DataFrame({"url": [URL], "file_name": ["a.jpg"]}).write_parquet(parquet)
    assert read_manifest(parquet).frame.select("url", "file_name").rows() == [(URL, "a.jpg")]
    jsonl = tmp_path / "export.list"
    jsonl.write_text(f'{{"url": "{URL}", "size": 12.0}}\n')
    assert read_manifest(jsonl).frame.select("url", "size").rows() == [(URL, 12)]
