"""The manifest formats people have: CSV dialects, headerless lists, TSV, URL lists, JSON Lines,
gzip of each, standard input; one test group per format, each against ``read_manifest``."""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path

import polars as pl
import pytest

from pipeline.core.errors import ManifestError, UsageError
from pipeline.manifest import ManifestOptions, read_manifest, row_identity, textio


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


# --- TSV -----------------------------------------------------------------------------------


def test_tsv_with_header_has_no_quoting(tmp_path: Path) -> None:
    data = 'url\tfile_name\tnote\nhttps://e.com/a\ta.jpg\t5" print, framed\n\nhttps://e.com/b\t\t\n'
    path = write(tmp_path / "m.tsv", data)
    assert rows(path, "url", "file_name", "note", "_row") == [
        ("https://e.com/a", "a.jpg", '5" print, framed', 1),
        ("https://e.com/b", None, None, 3),
    ]


MD5_B64 = "nhB9nTcrtoJr2B01QqQZ1g=="


def test_tsv_http_data_list(tmp_path: Path) -> None:
    data = (
        "TsvHttpData-1.0\n"
        f"https://e.com/a.jpg\t1357\t{MD5_B64}\n"
        "https://e.com/b.jpg\n"
        "https://e.com/c.jpg\tlots\tnot-md5\n"
    )
    manifest = read_manifest(write(tmp_path / "transfer.tsv", data))
    assert manifest.extra_columns == ("size", "md5")
    assert manifest.frame.select("url", "_row", "size", "md5", "_invalid").rows() == [
        ("https://e.com/a.jpg", 1, 1357, MD5_B64, None),
        ("https://e.com/b.jpg", 2, None, None, None),
        (
            "https://e.com/c.jpg",
            3,
            None,
            "not-md5",
            "invalid size 'lots': not a whole number of bytes",
        ),
    ]


def test_tsv_ragged_row_is_a_bad_manifest(tmp_path: Path) -> None:
    path = write(tmp_path / "m.tsv", "url\tid\nhttps://e.com/a\t1\nhttps://e.com/b\n")
    with pytest.raises(ManifestError, match="row 2: has 1 field, the header has 2"):
        read_manifest(path)


# --- URL lists -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["urls.txt", "photos.urls", "sources.LIST"])
def test_url_list(tmp_path: Path, name: str) -> None:
    data = (
        "# exported 2024-05-01\n"
        "https://e.com/a.jpg\n"
        "\n"
        "   https://e.com/b.jpg  \r\n"
        "  # indented comment\n"
        "photos/c.jpg\n"
        "https://e.com/a.jpg\n"
    )
    manifest = read_manifest(write(tmp_path / name, data))
    assert manifest.frame.select("url", "_row", "file_name").rows() == [
        ("https://e.com/a.jpg", 2, None),
        ("https://e.com/b.jpg", 4, None),
        ("photos/c.jpg", 6, None),
    ]
    assert manifest.extra_columns == ()


def test_url_list_control_character_is_an_invalid_row(tmp_path: Path) -> None:
    path = write(tmp_path / "urls.txt", "https://e.com/a\x07b\nhttps://e.com/c\n")
    assert rows(path, "url", "_invalid") == [
        ("https://e.com/a\x07b", "control characters in URL"),
        ("https://e.com/c", None),
    ]


def test_url_list_of_comments_only_has_no_rows(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no data rows"):
        read_manifest(write(tmp_path / "urls.txt", "# nothing yet\n\n"))


# --- JSON Lines ----------------------------------------------------------------------------


def test_jsonl_keeps_types_and_counts_lines(tmp_path: Path) -> None:
    data = (
        '{"id": 7, "fileUrl": "https://e.com/a", "fileName": "a.jpg", "n": 1.5, "tags": ["x"]}\n'
        "\n"
        '{"id": 8, "fileUrl": "https://e.com/b", "n": null}\n'
    )
    manifest = read_manifest(write(tmp_path / "m.ndjson", data))
    assert manifest.extra_columns == ("n", "tags")
    assert manifest.frame.select("id", "url", "file_name", "_row", "n").rows() == [
        ("7", "https://e.com/a", "a.jpg", 1, 1.5),
        ("8", "https://e.com/b", None, 3, None),
    ]


@pytest.mark.parametrize(
    ("tail", "expect"),
    [
        ('{"url": "https://e.com/b\n', "row 3: malformed JSON: Unterminated string"),
        ('["https://e.com/b"]\n', "row 3: not a JSON object but list"),
        ('"https://e.com/b"\n', "row 3: not a JSON object but str"),
    ],
)
def test_jsonl_bad_line_is_a_bad_manifest(tmp_path: Path, tail: str, expect: str) -> None:
    data = '{"url": "https://e.com/a"}\n\n' + tail
    with pytest.raises(ManifestError, match=expect):
        read_manifest(write(tmp_path / "m.jsonl", data))


def test_jsonl_wrong_type_is_a_bad_manifest(tmp_path: Path) -> None:
    path = write(tmp_path / "m.jsonl", '{"url": "https://e.com/a", "id": true}\n')
    with pytest.raises(ManifestError, match="column 'id': expected text or integer, found bool"):
        read_manifest(path)


@pytest.mark.parametrize("via", ["file", "stdin"])
def test_jsonl_schema_comes_from_every_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    """Exporters that leave out null fields (BigQuery's, jq's) show a key first on a late line:
    it is an extra column, as in CSV; a key whose values change type is read as text."""
    monkeypatch.setattr(textio, "BLOCK_BYTES", 64)  # 11 lines make several blocks
    head = "".join(f'{{"url": "https://e.com/{n}", "n": {n}}}\n' for n in range(10))
    data = head + '{"url": "https://e.com/x", "m": 1, "n": "ten"}\n'
    if via == "file":
        manifest = read_manifest(write(tmp_path / "late.jsonl", data))
    else:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data.encode())))
        manifest = read_manifest("-")
    assert manifest.extra_columns == ("n", "m")
    assert manifest.frame["n"].to_list() == [*map(str, range(10)), "ten"]
    assert manifest.frame["m"].to_list() == [None] * 10 + [1]
    assert manifest.frame["_row"].to_list() == list(range(1, 12))


def test_jsonl_error_in_a_late_block_names_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(textio, "BLOCK_BYTES", 64)
    head = "".join(f'{{"url": "https://e.com/{n}"}}\n' for n in range(10))
    path = write(tmp_path / "torn.jsonl", head + '{"url": "https://e.com/x", "n": \n')
    with pytest.raises(ManifestError, match="row 11: malformed JSON"):
        read_manifest(path)


def test_jsonl_mixed_types_in_one_block_are_text(tmp_path: Path) -> None:
    path = write(
        tmp_path / "m.jsonl",
        '{"url": "https://e.com/a", "n": 1, "t": [1]}\n'
        '{"url": "https://e.com/b", "n": true, "t": 2}\n',
    )
    frame = read_manifest(path).frame
    assert frame.select("n", "t").rows() == [("1", "[1]"), ("true", "2")]


def test_same_rows_as_csv_or_jsonl_plan_the_same_identities(tmp_path: Path) -> None:
    csv = write(
        tmp_path / "m.csv",
        "url,upload_path,file_name\n"
        "https://e.com/a.jpg,,\n"
        " https://e.com/b.jpg ,/images/,b.jpg\n"
        '"data:text/plain;base64,QUJD",x,\n',
    )
    jsonl = write(
        tmp_path / "m.jsonl",
        '{"url": "https://e.com/a.jpg"}\n'
        '{"url": " https://e.com/b.jpg ", "upload_path": "/images/", "file_name": "b.jpg"}\n'
        '{"url": "data:text/plain;base64,QUJD", "upload_path": "x", "file_name": ""}\n',
    )
    txt = write(tmp_path / "m.txt", "https://e.com/a.jpg\n")
    from_csv = read_manifest(csv).frame.select("id", "url", "upload_path", "file_name")
    from_jsonl = read_manifest(jsonl).frame.select("id", "url", "upload_path", "file_name")
    assert from_csv.equals(from_jsonl)
    assert read_manifest(txt).frame["id"][0] == from_csv["id"][0]
    assert from_csv["id"][0] == row_identity("https://e.com/a.jpg", "ferry", None)


# --- standard input and --format -----------------------------------------------------------


def from_stdin(
    monkeypatch: pytest.MonkeyPatch, data: bytes, **options: object
) -> list[tuple[object, ...]]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    manifest = read_manifest("-", ManifestOptions(**options))  # type: ignore[arg-type]
    assert manifest.path is None and manifest.label == "-"
    assert manifest.base_dir == Path.cwd()
    return manifest.frame.select("url", "file_name", "_row").rows()


def parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


STDIN_CASES = {
    "csv": b"url;file_name\nhttps://e.com/a;a.jpg\n",
    "headerless-csv": b"https://e.com/a,a.jpg\n",
    "tsv-http-data": b"TsvHttpData-1.0\nhttps://e.com/a\t3\n",
    "txt": b"# list\nhttps://e.com/a\n",
    "txt-paths": b"/data/a.jpg\n./b.jpg\n",
    "jsonl": b'\xef\xbb\xbf{"url": "https://e.com/a", "file_name": "a.jpg"}\n',
    "parquet": parquet(pl.DataFrame({"url": ["https://e.com/a"], "file_name": ["a.jpg"]})),
}


@pytest.mark.parametrize("name", STDIN_CASES)
@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_stdin_format_is_sniffed(
    monkeypatch: pytest.MonkeyPatch, name: str, compressed: bool
) -> None:
    data = STDIN_CASES[name]
    got = from_stdin(monkeypatch, gzip.compress(data) if compressed else data)
    if name == "txt-paths":
        assert got == [("/data/a.jpg", None, 1), ("./b.jpg", None, 2)]
    else:
        url, row = "https://e.com/a", 2 if name == "txt" else 1
        assert got == [(url, "a.jpg" if "a.jpg" in repr(data) else None, row)]


def test_stdin_format_option_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    # Sniffed, this is a URL list; as CSV its first line is a headerless url,file_name row.
    data = b"https://e.com/a\nhttps://e.com/b\n"
    assert from_stdin(monkeypatch, data, format="csv") == [
        ("https://e.com/a", None, 1),
        ("https://e.com/b", None, 2),
    ]


def test_format_option_overrides_the_extension(tmp_path: Path) -> None:
    path = write(tmp_path / "export.data", '{"url": "https://e.com/a"}\n')
    with pytest.raises(ManifestError, match=r"unknown extension '.data'.*or --format"):
        read_manifest(path)
    assert rows(path, "url", format="jsonl") == [("https://e.com/a",)]
    gz = write(tmp_path / "list.gz", gzip.compress(b"https://e.com/a\n"))
    assert rows(gz, "url", format="txt") == [("https://e.com/a",)]


def test_stdin_torn_json_names_stdin_and_row(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"url": "https://e.com/a"}\n{"url": '))
    )
    with pytest.raises(ManifestError, match=r"^-: row 2: malformed JSON"):
        read_manifest("-")
