"""Reading manifests: the bad-manifest corpus, the happy paths, invalid rows and identities."""

from __future__ import annotations

import gzip
import hashlib
import io
import sys
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.errors import ManifestError
from pipeline.core.schema import RESULT_POLARS_SCHEMA
from pipeline.manifest import FRAME_COLUMNS, HTTP_SCHEMES, Manifest, read_manifest, row_identity
from tests.helpers.bad_manifests import CASES, BadManifest, parquet_bytes


def write(path: Path, content: bytes | str) -> Path:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def rows(manifest: Manifest, *columns: str) -> list[tuple[object, ...]]:
    return manifest.frame.select(columns or FRAME_COLUMNS).rows()


# --- the corpus of bad manifests --------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_manifest_is_one_clear_line(
    case: BadManifest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if case.skip_reason:
        pytest.skip(case.skip_reason)
    path = case.build(tmp_path)
    if case.stdin:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(path.read_bytes())))
    with pytest.raises(ManifestError) as info:
        read_manifest("-" if case.stdin else path)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(("-" if case.stdin else str(path)) + ": ")
    assert case.expect in message
    assert len(message) < 400


def test_corpus_names_are_unique() -> None:
    assert len({case.name for case in CASES}) == len(CASES)


def test_corpus_cases_are_fine_once_the_problem_is_gone(tmp_path: Path) -> None:
    """The corpus is not bad by accident: the same shape of file, fixed, reads."""
    fixed = write(tmp_path / "fixed.csv", "url,id\nhttps://example.com/a.jpg,1\n")
    assert read_manifest(fixed).frame.height == 1
    good = next(c for c in CASES if c.name == "parquet-named-csv").make
    assert isinstance(good, bytes)
    assert read_manifest(write(tmp_path / "good.parquet", good)).frame.height == 200


@pytest.mark.parametrize("name", ["m.csv", "m.parquet", "m.csv.gz"])
def test_permission_error_is_translated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    # The corpus' chmod-000 case cannot fail for root; this one raises the OS error itself
    # where ferry opens the file (it streams it: no read_bytes).
    path = write(tmp_path / name, "url\nx\n")

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(ManifestError, match="permission denied"):
        read_manifest(path)


def test_error_keeps_the_cause(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv.gz", b"not gzip")
    with pytest.raises(ManifestError) as info:
        read_manifest(path)
    assert isinstance(info.value.__cause__, OSError)


# --- reading the formats -----------------------------------------------------------------------

CSV = (
    "id,url,upload_path,file_name,owner\n"
    "007,https://example.com/a.jpg,images,a.jpg,ann\n"
    "008, https://example.com/b.jpg ,,,bob\n"
)
EXPECTED = [
    ("007", "https://example.com/a.jpg", "images", "a.jpg", 1, None, "ann"),
    ("008", "https://example.com/b.jpg", "ferry", None, 2, None, "bob"),
]


def test_csv(tmp_path: Path) -> None:
    manifest = read_manifest(write(tmp_path / "m.csv", CSV))
    assert manifest.path == tmp_path / "m.csv"
    assert manifest.frame.columns == [*FRAME_COLUMNS, "owner"]
    assert manifest.frame.schema["_row"] == pl.Int64
    assert manifest.frame.schema["id"] == pl.String
    assert manifest.extra_columns == ("owner",)
    assert manifest.is_result_table is False
    assert manifest.frame.rows() == EXPECTED


def test_csv_with_bom_and_crlf(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + CSV.replace("\n", "\r\n").encode()
    manifest = read_manifest(write(tmp_path / "m.csv", data))
    assert manifest.frame.rows() == EXPECTED


def test_csv_gz(tmp_path: Path) -> None:
    manifest = read_manifest(write(tmp_path / "m.CSV.GZ", gzip.compress(CSV.encode())))
    assert manifest.frame.rows() == EXPECTED


def test_parquet_keeps_types_and_casts_integer_ids(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "id": [7, 8],
            "url": ["https://example.com/a.jpg", "https://example.com/b.jpg"],
            "file_name": ["a.jpg", None],
            "size": [10, 20],
            "weight": [0.5, None],
            "seen": [datetime(2024, 1, 1, tzinfo=UTC), None],
        }
    )
    manifest = read_manifest(write(tmp_path / "m.parquet", parquet_bytes(frame)))
    assert rows(manifest, "id", "url", "upload_path", "file_name", "_row") == [
        ("7", "https://example.com/a.jpg", "ferry", "a.jpg", 1),
        ("8", "https://example.com/b.jpg", "ferry", None, 2),
    ]
    assert manifest.extra_columns == ("size", "weight", "seen")
    assert manifest.frame.schema["size"] == pl.Int64
    assert manifest.frame.schema["weight"] == pl.Float64
    assert manifest.frame.schema["seen"] == pl.Datetime("us", "UTC")
    assert manifest.frame["size"].to_list() == [10, 20]


def test_parquet_categorical_text(tmp_path: Path) -> None:
    frame = pl.DataFrame({"url": ["https://example.com/a.jpg"]}).with_columns(
        pl.col("url").cast(pl.Categorical)
    )
    manifest = read_manifest(write(tmp_path / "m.parquet", parquet_bytes(frame)))
    assert manifest.frame["url"].to_list() == ["https://example.com/a.jpg"]


def test_parquet_path_is_read_literally(tmp_path: Path) -> None:
    # "[1]" would be a glob class to polars by default; the folder name looks like a hive
    # partition, which must not turn into a column either.
    folder = tmp_path / "year=2024"
    folder.mkdir()
    frame = pl.DataFrame({"url": ["https://example.com/a.jpg"]})
    manifest = read_manifest(write(folder / "m[1].parquet", parquet_bytes(frame)))
    assert manifest.frame.columns == list(FRAME_COLUMNS)


def test_ids_stay_text_in_csv(tmp_path: Path) -> None:
    manifest = read_manifest(
        write(tmp_path / "m.csv", "id,url\n007,https://e.com/a\n1e3,https://e.com/b\n")
    )
    assert manifest.frame["id"].to_list() == ["007", "1e3"]


@pytest.mark.parametrize(
    "header",
    [
        "url,upload_path,file_name,id",
        "URL,UPLOAD_PATH,FILE_NAME,ID",
        "fileUrl,uploadPath,fileName,Id",
        "source_url,upload-path,File Name,id",
        "SourceUrl,UploadPath,filename,id",
        "file_url, upload_path ,file_name,id",
    ],
)
def test_column_spellings(tmp_path: Path, header: str) -> None:
    manifest = read_manifest(write(tmp_path / "m.csv", f"{header}\nhttps://e.com/a,x,a.jpg,1\n"))
    assert rows(manifest, "id", "url", "upload_path", "file_name") == [
        ("1", "https://e.com/a", "x", "a.jpg")
    ]
    assert manifest.extra_columns == ()


def test_extras_keep_their_names_and_order(tmp_path: Path) -> None:
    manifest = read_manifest(
        write(tmp_path / "m.csv", "Owner,url,note 2,Status\nann,https://e.com/a,,x\n")
    )
    assert manifest.extra_columns == ("Owner", "note 2", "Status")
    assert manifest.frame.columns == [*FRAME_COLUMNS, "Owner", "note 2", "Status"]
    assert manifest.frame.row(0)[-3:] == ("ann", None, "x")


def test_values_with_commas_quotes_and_newlines(tmp_path: Path) -> None:
    data = 'url,note\nhttps://e.com/a,"one, ""two""\nthree"\n\nhttps://e.com/b,\n'
    manifest = read_manifest(write(tmp_path / "m.csv", data))
    assert rows(manifest, "url", "_row", "note") == [
        ("https://e.com/a", 1, 'one, "two"\nthree'),
        ("https://e.com/b", 3, None),
    ]


def test_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    manifest = read_manifest(
        write(tmp_path / "m.csv", "url,id\n\nhttps://e.com/a,1\n\n\nhttps://e.com/b,2\n\n")
    )
    assert rows(manifest, "id", "_row") == [("1", 2), ("2", 5)]


def test_empty_last_fields_are_not_ragged(tmp_path: Path) -> None:
    data = "url,upload_path,file_name\nhttps://e.com/a,,\nhttps://e.com/b,x,\n"
    manifest = read_manifest(write(tmp_path / "m.csv", data))
    assert rows(manifest, "upload_path", "file_name") == [("ferry", None), ("x", None)]


def test_ragged_row_is_found_after_blank_lines_and_multiline_values(tmp_path: Path) -> None:
    data = 'url,id,note\n\nhttps://e.com/a,1,"x\ny"\nhttps://e.com/b,2,z\nhttps://e.com/c\n'
    with pytest.raises(ManifestError, match=r"row 4: has 1 field, the header has 3"):
        read_manifest(write(tmp_path / "m.csv", data))


# --- result tables as manifests ----------------------------------------------------------------


def result_table() -> pl.DataFrame:
    now = datetime(2024, 5, 1, tzinfo=UTC)
    values: dict[str, list[object]] = {
        "id": ["a1", "b2"],
        "url": ["https://e.com/a", "https://e.com/b"],
        "upload_path": ["images", "images"],
        "file_name": ["a.jpg", None],
        "method": ["url", "url"],
        "status": ["ok", "failed"],
        "download_url": ["https://files/a.jpg", None],
        "file_path": ["images/a.jpg", None],
        "file_size": [123, None],
        "mime_type": ["image/jpeg", None],
        "uploaded_at": [now, None],
        "expires_at": [now, None],
        "error_kind": [None, "source_error"],
        "error": [None, "File download failed"],
        "http_status": [200, 400],
        "attempts": [1, 2],
        "finished_at": [now, now],
        "run_id": ["r1", "r1"],
    }
    frame = pl.DataFrame(values, schema=RESULT_POLARS_SCHEMA)
    return frame.with_columns(pl.Series("owner", [10, 20]))


def test_result_table_parquet_is_a_manifest(tmp_path: Path) -> None:
    manifest = read_manifest(write(tmp_path / "m.results.parquet", parquet_bytes(result_table())))
    assert manifest.is_result_table is True
    assert manifest.extra_columns == ("owner",)
    assert manifest.frame.columns == [*FRAME_COLUMNS, "owner"]
    assert rows(manifest, "id", "url", "upload_path", "file_name", "owner") == [
        ("a1", "https://e.com/a", "images", "a.jpg", 10),
        ("b2", "https://e.com/b", "images", None, 20),
    ]


def test_result_table_csv_is_a_manifest(tmp_path: Path) -> None:
    path = tmp_path / "m.results.csv"
    result_table().write_csv(path)
    manifest = read_manifest(path)
    assert manifest.is_result_table is True
    assert manifest.extra_columns == ("owner",)
    assert manifest.frame["id"].to_list() == ["a1", "b2"]


def test_output_columns_alone_do_not_make_a_result_table(tmp_path: Path) -> None:
    manifest = read_manifest(write(tmp_path / "m.csv", "url,status\nhttps://e.com/a,ok\n"))
    assert manifest.is_result_table is False
    assert manifest.extra_columns == ()  # status is ferry's output, never an extra


# --- identity, duplicates and clashes ----------------------------------------------------------


def test_identity_is_a_fixed_digest() -> None:
    # Fixed here on purpose: a change of this value orphans every result table ever written.
    assert row_identity("https://example.com/a.jpg", "ferry", None) == "d95ac575c129d4357981"
    assert row_identity("https://example.com/a.jpg", "images", "a.jpg") == "cb13db185ecb64161f18"
    expected = hashlib.blake2b(
        b"https://example.com/a.jpg\x1fimages\x1fa.jpg", digest_size=10
    ).hexdigest()
    assert row_identity("https://example.com/a.jpg", "images", "a.jpg") == expected


def test_frame_ids_are_row_identities_of_effective_values(tmp_path: Path) -> None:
    data = (
        "url,upload_path,file_name\n"
        " https://example.com/a.jpg ,,\n"
        "https://example.com/a.jpg,/images/,a.jpg\n"
        ",x,\n"
    )
    manifest = read_manifest(write(tmp_path / "m.csv", data))
    assert manifest.frame["id"][0] == "d95ac575c129d4357981"
    assert manifest.frame["id"][1] == "cb13db185ecb64161f18"
    for id_, url, upload_path, file_name in manifest.frame.select(
        "id", "url", "upload_path", "file_name"
    ).iter_rows():
        assert id_ == row_identity(url, upload_path, file_name)


def test_identity_depends_on_the_default_upload_path(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv", "url\nhttps://example.com/a.jpg\n")
    assert read_manifest(path).frame["id"][0] == row_identity(
        "https://example.com/a.jpg", "ferry", None
    )
    other = read_manifest(path, default_upload_path="/other/")
    assert other.frame["id"][0] == row_identity("https://example.com/a.jpg", "other", None)


_TEXT = st.text(alphabet=st.characters(blacklist_characters="\x1f"), max_size=40)


@settings(max_examples=200, deadline=None)
@given(url=_TEXT, upload_path=_TEXT, file_name=st.none() | _TEXT)
def test_row_identity_is_deterministic(url: str, upload_path: str, file_name: str | None) -> None:
    first = row_identity(url, upload_path, file_name)
    assert first == row_identity(url, upload_path, file_name)
    assert len(first) == 20 and int(first, 16) >= 0


@settings(max_examples=200, deadline=None)
@given(
    a=st.tuples(_TEXT, _TEXT, st.none() | _TEXT.filter(bool)),
    b=st.tuples(_TEXT, _TEXT, st.none() | _TEXT.filter(bool)),
)
def test_row_identity_tells_distinct_rows_apart(
    a: tuple[str, str, str | None], b: tuple[str, str, str | None]
) -> None:
    if a != b:
        assert row_identity(*a) != row_identity(*b)


def test_identical_rows_are_done_once_first_kept(tmp_path: Path) -> None:
    data = (
        "url,file_name,note\n"
        "https://e.com/a,a.jpg,first\n"
        "https://e.com/b,,\n"
        " https://e.com/a ,a.jpg ,second\n"
        "https://e.com/a,,third\n"
    )
    manifest = read_manifest(write(tmp_path / "m.csv", data))
    assert rows(manifest, "url", "file_name", "_row", "note") == [
        ("https://e.com/a", "a.jpg", 1, "first"),
        ("https://e.com/b", None, 2, None),
        ("https://e.com/a", None, 4, "third"),
    ]


def test_identical_rows_with_ids_are_done_once(tmp_path: Path) -> None:
    data = "id,url\n1,https://e.com/a\n2,https://e.com/a\n1,https://e.com/a\n"
    manifest = read_manifest(write(tmp_path / "m.csv", data))
    assert rows(manifest, "id", "_row") == [("1", 1), ("2", 2)]


def test_same_target_same_source_or_no_file_name_is_no_clash(tmp_path: Path) -> None:
    data = (
        "id,url,upload_path,file_name\n"
        "1,https://e.com/a,x,a.jpg\n"
        "2,https://e.com/a,x,a.jpg\n"  # same source twice: not an overwrite of another file
        "3,https://e.com/b,x,\n"
        "4,https://e.com/c,x,\n"  # no file_name: the API names the files
        "5,https://e.com/d,y,a.jpg\n"  # another folder
        "6,ftp://e.com/e,x,a.jpg\n"  # never sent
    )
    manifest = read_manifest(write(tmp_path / "m.csv", data))
    assert manifest.frame.height == 6


# --- upload_path, file_name and invalid rows ---------------------------------------------------


def test_default_upload_path(tmp_path: Path) -> None:
    data = "url,uploadPath\nhttps://e.com/a,\nhttps://e.com/b, / \nhttps://e.com/c, //deep/er// \n"
    path = write(tmp_path / "m.csv", data)
    assert read_manifest(path).frame["upload_path"].to_list() == ["ferry", "ferry", "deep/er"]
    custom = read_manifest(path, default_upload_path=" /imports/2024/ ")
    assert custom.frame["upload_path"].to_list() == ["imports/2024", "imports/2024", "deep/er"]


def test_default_upload_path_without_column(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv", "url\nhttps://e.com/a\n")
    assert read_manifest(path, default_upload_path="x").frame["upload_path"].to_list() == ["x"]


def test_file_name_stripped_and_empty_is_null(tmp_path: Path) -> None:
    data = 'url,fileName\nhttps://e.com/a, a.jpg \nhttps://e.com/b,"  "\n'
    manifest = read_manifest(write(tmp_path / "m.csv", data))
    assert manifest.frame["file_name"].to_list() == ["a.jpg", None]


INVALID = [
    # url, upload_path, file_name, the reason (None: the row is fine)
    ("https://e.com/a.jpg", "", "", None),
    ("HTTP://E.COM/a.jpg", "a/b..c", "x..y.jpg", None),
    ("http://[::1]:8080/x?q=1#f", "", "", None),
    ("http://user@e.com", "", "", None),
    ("", "", "", "empty URL"),
    ("   ", "", "b.jpg", "empty URL"),  # not identical to the row above, so kept
    ("ftp://e.com/a.jpg", "", "", "unsupported scheme 'ftp' (ferry uploads from http(s) URLs)"),
    ("mailto:a@e.com", "", "", "unsupported scheme 'mailto'"),
    ("e.com/a.jpg", "", "", "not a URL"),
    ("http:/e.com/a.jpg", "", "", "not a URL"),
    ("https://", "", "", "not a URL"),
    ("https:///a.jpg", "", "", "not a URL"),
    ("https://e.com:port/a", "", "", "not a URL"),
    ("https://e.com/" + "a" * 8200, "", "", "URL longer than 8192 characters"),
    ("https://e.com/a\tb", "", "", "control characters in URL"),
    ("https://e.com/a\nb", "", "", "control characters in URL"),
    ("https://e.com/a\x00b", "", "", "control characters in URL"),
    ("https://e.com/a", "a/../b", "", "invalid upload_path 'a/../b': '..' segment"),
    ("https://e.com/a", "..", "", "invalid upload_path '..': '..' segment"),
    ("https://e.com/a", "a\\b", "", "invalid upload_path 'a\\b': backslash"),
    ("https://e.com/a", "a\x07b", "", "invalid upload_path: control characters"),
    ("https://e.com/a", "", "a/b.jpg", None),  # rclone's dir/name: "a" goes to upload_path
    ("https://e.com/a", "", "/a/b.jpg", "invalid file_name '/a/b.jpg': an absolute path"),
    ("https://e.com/a", "", "a/../b.jpg", "invalid file_name 'a/../b.jpg': '..' segment"),
    ("https://e.com/a", "", "../b.jpg", "invalid file_name '../b.jpg': '..' segment"),
    ("https://e.com/a", "", "a/./b.jpg", "invalid file_name 'a/./b.jpg': an empty or '.'"),
    ("https://e.com/a", "", "a/", "invalid file_name 'a/': an empty or '.'"),
    ("https://e.com/a", "", "a\\b.jpg", "invalid file_name 'a\\b.jpg': a path separator"),
    ("https://e.com/a", "", "..", "invalid file_name '..'"),
    ("https://e.com/a", "", "a\x1bb", "invalid file_name: control characters"),
]


def test_invalid_rows_fail_alone(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "url": [url for url, _, _, _ in INVALID],
            "upload_path": [path for _, path, _, _ in INVALID],
            "file_name": [name for _, _, name, _ in INVALID],
            "n": list(range(len(INVALID))),
        }
    )
    manifest = read_manifest(
        write(tmp_path / "m.parquet", parquet_bytes(frame)), accepted_schemes=HTTP_SCHEMES
    )
    assert manifest.frame["n"].to_list() == list(range(len(INVALID)))  # nothing dropped
    for (url, _, _, reason), got in zip(INVALID, manifest.frame["_invalid"], strict=True):
        if reason is None:
            assert got is None, url
        else:
            assert got is not None and got.startswith(reason), (url, got)


def test_invalid_rows_in_csv_keep_their_neighbours(tmp_path: Path) -> None:
    data = "url,note\nhttps://e.com/a,1\nftp://e.com/b,2\n,3\nhttps://e.com/c,4\n"
    manifest = read_manifest(write(tmp_path / "m.csv", data))
    assert rows(manifest, "url", "_row", "_invalid", "note") == [
        ("https://e.com/a", 1, None, "1"),
        ("ftp://e.com/b", 2, f"unsupported scheme 'ftp' (ferry uploads from {EVERY_SOURCE})", "2"),
        (None, 3, "empty URL", "3"),
        ("https://e.com/c", 4, None, "4"),
    ]


def test_accepted_schemes(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv", "url\nftp://e.com/a\nhttps://e.com/b\n")
    manifest = read_manifest(path, accepted_schemes=frozenset({"FTP", "https"}))
    assert manifest.frame["_invalid"].to_list() == [None, None]
    only_https = read_manifest(path, accepted_schemes=frozenset({"https"}))
    assert only_https.frame["_invalid"].to_list() == [
        "unsupported scheme 'ftp' (ferry uploads from https URLs)",
        None,
    ]


EVERY_SOURCE = "http(s), s3, gs, az, file: and data: URLs and local paths"


def test_local_paths_file_and_data_urls_are_sources_by_default(tmp_path: Path) -> None:
    data_url = "data:text/plain;base64," + "QUJD" * 5000  # longer than any http URL may be
    frame = pl.DataFrame(
        {"url": ["photos/a.jpg", "/abs/b.png", "file:///abs/c.txt", data_url, "gopher://x/y"]}
    )
    manifest = read_manifest(write(tmp_path / "m.parquet", parquet_bytes(frame)))
    assert manifest.frame["_invalid"].to_list() == [
        None,
        None,
        None,
        None,
        f"unsupported scheme 'gopher' (ferry uploads from {EVERY_SOURCE})",
    ]
