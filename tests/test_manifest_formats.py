"""The manifest formats people have: CSV dialects, headerless lists, TSV, URL lists, JSON Lines,
gzip of each, standard input; one test group per format, each against ``read_manifest``."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from pipeline.errors import ManifestError, UsageError
from pipeline.manifest import ManifestOptions, read_manifest


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def rows(path: Path, *columns: str, **options: object) -> list[tuple[object, ...]]:
    frame = read_manifest(path, ManifestOptions(**options)).frame  # type: ignore[arg-type]
    return frame.select(columns or ["url", "file_name", "_row"]).rows()


# --- CSV -----------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_csv_delimiter_is_sniffed_from_the_header(tmp_path: Path, delimiter: str) -> None:
    data = (
        f"url{delimiter}file_name{delimiter}note\nhttps://e.com/a,b{delimiter}a.jpg{delimiter}x\n"
    )
    if delimiter == ",":
        data = data.replace("a,b", "a")
    path = write(tmp_path / "m.csv", data)
    url = "https://e.com/a" if delimiter == "," else "https://e.com/a,b"
    assert rows(path, "url", "file_name", "note") == [(url, "a.jpg", "x")]


def test_csv_delimiter_inside_quotes_does_not_count(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv", '"a;b;c";url\nx;https://e.com/a\n')
    assert rows(path, "url", "a;b;c") == [("https://e.com/a", "x")]


def test_csv_delimiter_option_overrides_the_sniffing(tmp_path: Path) -> None:
    # One ',' and one ';' in the header: a tie goes to ','; --delimiter says otherwise.
    path = write(tmp_path / "m.csv", "url;note,x\nhttps://e.com/a;1,2\n")
    with pytest.raises(ManifestError, match="no url column"):
        read_manifest(path)
    assert rows(path, "url", "note,x", delimiter=";") == [("https://e.com/a", "1,2")]


def test_csv_forced_wrong_delimiter_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv", "url;id\nhttps://e.com/a;1\n")
    with pytest.raises(ManifestError, match="one column holding ';': wrong --delimiter"):
        read_manifest(path, ManifestOptions(delimiter=","))


def test_csv_without_header_is_url_and_file_name(tmp_path: Path) -> None:
    data = (
        "https://e.com/a.jpg,a.jpg\n"
        "\n"
        "HTTP://e.com/b.jpg\n"
        "https://e.com/c.jpg,c.jpg,ignored,also ignored\n"
        '"https://e.com/d.jpg","d, quoted.jpg"\n'
    )
    path = write(tmp_path / "list.csv", data)
    assert rows(path) == [
        ("https://e.com/a.jpg", "a.jpg", 1),
        ("HTTP://e.com/b.jpg", None, 3),
        ("https://e.com/c.jpg", "c.jpg", 4),
        ("https://e.com/d.jpg", "d, quoted.jpg", 5),
    ]
    assert read_manifest(path).extra_columns == ()


def test_csv_header_named_like_a_path_is_still_a_header(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv", "url\n/data/a.jpg\n")
    assert rows(path, "url") == [("/data/a.jpg",)]


def test_bad_delimiter_option_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--delimiter"):
        ManifestOptions(delimiter=";;")


def test_csv_gz_is_read_as_a_stream(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv.gz", gzip.compress(b"url;n\nhttps://e.com/a;1\n"))
    assert rows(path, "url", "n") == [("https://e.com/a", "1")]
