"""The streaming way in: batches equal the eager read, rows and errors are found across blocks,
and the whole-manifest rules work on any frame of normalised rows."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.core.errors import ManifestError
from pipeline.manifest import (
    FRAME_COLUMNS,
    ManifestOptions,
    drop_identical,
    find_clash,
    find_duplicate_id,
    open_manifest,
    read_manifest,
    textio,
)


@pytest.fixture
def tiny_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read text 64 bytes at a time, so that every file spans many blocks."""
    monkeypatch.setattr(textio, "BLOCK_BYTES", 64)


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def lines(count: int) -> str:
    return "".join(f'https://e.com/{n}.jpg,"note {n}, with\na break",{n}\n' for n in range(count))


def test_batches_concatenated_are_the_eager_frame(tmp_path: Path, tiny_blocks: None) -> None:
    path = write(tmp_path / "m.csv", "url,note,n\n" + lines(50) + "\n\n" + lines(3)[:-1])
    with open_manifest(path) as source:
        assert source.label == str(path) and source.path == path
        assert source.extra_columns == ("note", "n")
        batches = list(source.batches(rows=7))
    assert [b.height for b in batches] == [7] * 7 + [4]
    assert all(b.columns == [*FRAME_COLUMNS, "note", "n"] for b in batches)
    streamed = pl.concat(batches)
    eager = read_manifest(path).frame
    assert streamed.height == 53 and eager.height == 50  # 3 identical rows appear once
    assert drop_identical(streamed).equals(eager)
    assert streamed["_row"].to_list()[-3:] == [53, 54, 55]  # two blank lines counted
    assert streamed["note"][1] == "note 1, with\na break"


def test_a_local_source_can_be_read_again(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv", "url\nhttps://e.com/a\nhttps://e.com/b\n")
    with open_manifest(path) as source:
        first = pl.concat(source.batches())
        second = pl.concat(source.batches())
    assert first.equals(second)


@pytest.mark.parametrize(
    ("tail", "expect"),
    [
        ("https://e.com/x.jpg,1\n", "row 51: has 2 fields, the header has 3 (ragged row)"),
        ("https://e.com/x.jpg,1,2,3\n", "row 51: has 4 fields, the header has 3"),
        ('https://e.com/x.jpg,"1,2\n', "row 51: unbalanced quote"),
        (",,\nhttps://e.com/z,x,  \n", "row 52: column 'n': empty id"),
    ],
)
def test_errors_in_a_later_block_name_their_row(
    tmp_path: Path, tiny_blocks: None, tail: str, expect: str
) -> None:
    header = "url,note,id\n" if "empty id" in expect else "url,note,n\n"
    path = write(tmp_path / "m.csv", header + lines(50) + tail)
    with pytest.raises(ManifestError) as info:
        read_manifest(path)
    assert expect.replace("'n'", "'id'") in str(info.value)


def test_undecodable_byte_in_a_later_block_names_its_line(
    tmp_path: Path, tiny_blocks: None
) -> None:
    data = ("url,note,n\n" + lines(20)).encode() + b"https://e.com/caf\xe9,x,1\n"
    with pytest.raises(ManifestError, match=r"byte 0xE9 on line 42 cannot be decoded"):
        read_manifest(write(tmp_path / "m.csv", data))


def test_no_data_rows_after_blank_lines(tmp_path: Path, tiny_blocks: None) -> None:
    path = write(tmp_path / "m.csv", "url,n\n" + "\n" * 200)
    with pytest.raises(ManifestError, match="no data rows"):
        read_manifest(path)


def test_rules_on_any_frame_of_normalised_rows(tmp_path: Path) -> None:
    data = (
        "id,url,upload_path,file_name\n"
        "1,https://e.com/a,x,a.jpg\n"
        "2,https://e.com/b,x,a.jpg\n"
        "1,https://e.com/a,x,a.jpg\n"
        "3,https://e.com/c,y,c.jpg\n"
        "3,https://e.com/d,y,d.jpg\n"
    )
    with open_manifest(write(tmp_path / "m.csv", data)) as source:
        frame = pl.concat(source.batches(rows=2))
    once = drop_identical(frame)
    assert once["_row"].to_list() == [1, 2, 4, 5]
    duplicate = find_duplicate_id(once, label="m.csv")
    assert duplicate is not None
    assert str(duplicate) == "m.csv: column 'id': duplicate id '3' in rows 4 and 5"
    clash = find_clash(once.filter(pl.col("id") != "3"), label="m.csv", column="fileName")
    assert clash is not None
    assert "column 'fileName': rows 1 and 2 both upload to 'x/a.jpg'" in str(clash)
    assert find_duplicate_id(once.head(3), label="m.csv") is None
    assert find_clash(once.tail(2), label="m.csv") is None


def test_open_reports_column_problems_before_any_row(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv", "link\nhttps://e.com/a\n")
    with pytest.raises(ManifestError, match="no url column"):
        open_manifest(path)


def test_options_default_upload_path(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv", "url\nhttps://e.com/a\n")
    options = ManifestOptions(default_upload_path="/imports/")
    with open_manifest(path, options=options) as source:
        assert next(source.batches())["upload_path"].to_list() == ["imports"]


_FIELD = st.text(alphabet=st.sampled_from(list('ab ,"\n\té')), min_size=0, max_size=12)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    notes=st.lists(_FIELD, min_size=1, max_size=40),
    block=st.integers(min_value=1, max_value=200),
    rows=st.integers(min_value=1, max_value=50),
)
def test_any_block_size_reads_what_polars_reads_whole(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    notes: list[str],
    block: int,
    rows: int,
) -> None:
    frame = pl.DataFrame({"url": [f"https://e.com/{n}" for n in range(len(notes))], "note": notes})
    path = tmp_path / "m.csv"
    frame.write_csv(path)
    monkeypatch.setattr(textio, "BLOCK_BYTES", block)
    with open_manifest(path) as source:
        got = pl.concat(source.batches(rows=rows))
    assert got["_row"].to_list() == list(range(1, len(notes) + 1))
    whole = pl.read_csv(path, infer_schema=False)
    assert got["note"].to_list() == whole["note"].to_list()


def test_a_folder_never_uploads_ferrys_own_files(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    (folder / "deep").mkdir(parents=True)
    (folder / "a.jpg").write_bytes(b"a")
    (folder / "deep" / "b.jpg").write_bytes(b"b")
    own = [
        "run.results.parquet.journal",
        "run.results.parquet.lock",
        "run.results.parquet.tmp-123",
        ".run.results.parquet.tmp-9",
        "run.results.parquet.checkpoints/0001.parquet",
        "run.parquet.plan/part-3.parquet",
    ]
    for name in own:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"x")
    pl.DataFrame({"id": ["a"], "status": ["ok"], "run_id": ["r"]}).write_parquet(
        folder / "renamed.parquet"
    )
    with open_manifest(folder) as source:
        assert source.path == folder and source.extra_columns == ()
        frame = pl.concat(source.batches(rows=1))
    assert frame["id"].to_list() == ["a.jpg", "deep/b.jpg"]
    assert frame["upload_path"].to_list() == ["ferry", "ferry/deep"]
