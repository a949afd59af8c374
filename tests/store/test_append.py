"""Appending row groups to a Parquet table without re-encoding it: the footer's offsets are moved
exactly, the joined file reads as the two files one after the other, and anything that does not
fit is refused before the table could be touched; the final write then falls back to the merge."""

from __future__ import annotations

import importlib
import io
import logging
import struct
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import pipeline.store.append as append_module
from pipeline.store import RunRecorder
from pipeline.store.append import AppendError, append_files, shift_offsets
from pipeline.store.checkpoints import Base, fingerprint
from pipeline.store.files import TableFiles
from pipeline.store.table import empty_results, fold, read_results, write_results
from tests.helpers.rows import placed, read_frame, row

#: The module (``pipeline.store.finish`` the name is also the function it exports).
FINISH = importlib.import_module("pipeline.store.finish")


def sample(rows: int, start: int = 0) -> pa.Table:
    numbers = list(range(start, start + rows))
    return pa.table(
        {
            "id": [f"id{n:08d}" for n in numbers],
            "status": ["ok" if n % 3 else "failed" for n in numbers],
            "size": [n if n % 5 else None for n in numbers],
            "at": pa.array(
                [datetime(2026, 11, 30, tzinfo=UTC)] * rows, type=pa.timestamp("us", tz="UTC")
            ),
        }
    )


WRITERS = {
    "defaults": {},
    "no dictionary, zstd": {"use_dictionary": False, "compression": "zstd"},
    "statistics, snappy": {"write_statistics": True, "compression": "snappy"},
    "ferry's own": {"use_dictionary": ["status"], "compression": "zstd"},
}
PAGE_INDEX = {"write_page_index": True, "compression": "snappy"}


def footer(path: Path) -> bytes:
    data = path.read_bytes()
    (length,) = struct.unpack("<I", data[-8:-4])
    return data[-8 - length : -8]


@pytest.mark.parametrize(
    "options", [*WRITERS.values(), PAGE_INDEX], ids=[*WRITERS.keys(), "page index"]
)
def test_moving_offsets_by_nothing_changes_no_byte_and_by_n_moves_every_one(
    tmp_path: Path, options: dict[str, object]
) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(sample(3000), path, row_group_size=700, **options)  # type: ignore[arg-type]
    original = footer(path)
    assert shift_offsets(original, 0) == original
    moved = shift_offsets(original, 123_456)
    before = pq.read_metadata(path)
    after = pq.read_metadata(io.BytesIO(b"PAR1" + moved + struct.pack("<I", len(moved)) + b"PAR1"))
    assert after.num_rows == before.num_rows and after.num_row_groups == before.num_row_groups
    for group in range(before.num_row_groups):
        for column in range(before.num_columns):
            old, new = before.row_group(group).column(column), after.row_group(group).column(column)
            assert new.data_page_offset == old.data_page_offset + 123_456
            if old.has_dictionary_page:
                assert new.dictionary_page_offset == old.dictionary_page_offset + 123_456
            assert new.statistics == old.statistics


@pytest.mark.parametrize("options", WRITERS.values(), ids=WRITERS.keys())
def test_the_joined_file_reads_as_the_table_then_the_new_rows(
    tmp_path: Path, options: dict[str, object]
) -> None:
    table, tail, out = tmp_path / "t.parquet", tmp_path / "tail.parquet", tmp_path / "out.parquet"
    pq.write_table(sample(5000), table, row_group_size=1200, **options)  # type: ignore[arg-type]
    pq.write_table(sample(1700, start=5000), tail, row_group_size=1000, compression="zstd")
    append_files(table, tail, out)
    expected = pa.concat_tables([pq.read_table(table), pq.read_table(tail)])
    assert pq.read_table(out).equals(expected)
    assert pl.read_parquet(out).equals(pl.from_arrow(expected))  # type: ignore[arg-type]
    assert pq.read_metadata(out).num_row_groups == 5 + 2


@pytest.mark.parametrize("side", ["table", "new rows"])
def test_a_page_index_on_either_side_is_refused_before_anything_is_written(
    tmp_path: Path, side: str
) -> None:
    """A page index's offsets live in the file's body, where the footer walk cannot move them:
    a joined file would be read wrongly by readers that use it (DuckDB, DataFusion, Spark)."""
    table, tail, out = tmp_path / "t.parquet", tmp_path / "tail.parquet", tmp_path / "out.parquet"
    indexed = PAGE_INDEX if side == "table" else {}
    pq.write_table(sample(3000), table, row_group_size=1000, **indexed)  # type: ignore[arg-type]
    indexed = PAGE_INDEX if side == "new rows" else {}
    pq.write_table(sample(900, start=3000), tail, **indexed)  # type: ignore[arg-type]
    with pytest.raises(AppendError, match="page index"):
        append_files(table, tail, out)
    assert not out.exists()


def test_ferry_writes_its_tables_without_a_page_index(tmp_path: Path) -> None:
    path = ok_table(tmp_path)
    column = pq.read_metadata(path).row_group(0).column(0)
    assert not column.has_offset_index and not column.has_column_index


def test_a_table_with_a_page_index_is_merged_not_appended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pipeline.store.finish")
    path = ok_table(tmp_path)
    pq.write_table(pq.read_table(path), path, write_page_index=True)  # as another tool wrote it
    before = read_results(path)
    appended: list[Path] = []
    real = append_module.append_files

    def spy(table: Path, tail: Path, out: Path) -> None:
        appended.append(out)
        real(table, tail, out)

    monkeypatch.setattr(FINISH, "append_files", spy)
    merged = finish_with(path, [placed("y", "ok", 7 + 1, 1), placed("z", "ok", 7 + 2, 2)], 2)
    assert len(appended) == 1  # tried, refused, and the merge wrote the same rows
    assert "rewritten whole, not appended to" in caplog.text and "page index" in caplog.text
    assert merged.head(7).equals(before)
    assert merged["id"].to_list() == [*"abcdefg", "y", "z"]


def test_another_schema_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    table, tail, out = tmp_path / "t.parquet", tmp_path / "tail.parquet", tmp_path / "out.parquet"
    pq.write_table(sample(10), table)
    pq.write_table(sample(10).drop_columns(["size"]), tail)
    with pytest.raises(AppendError, match="equal schemas"):
        append_files(table, tail, out)
    assert not out.exists()


def test_wrong_offsets_are_caught_by_reading_the_result_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table, tail, out = tmp_path / "t.parquet", tmp_path / "tail.parquet", tmp_path / "out.parquet"
    pq.write_table(sample(4000), table, row_group_size=1000)
    pq.write_table(sample(1000, start=4000), tail)
    real = append_module.shift_offsets
    monkeypatch.setattr(append_module, "shift_offsets", lambda f, d: real(f, d + 40))
    with pytest.raises(AppendError, match="does not read back"):
        append_files(table, tail, out)


def ok_table(tmp_path: Path) -> Path:
    """A 7-row table a..g, every row ok, with an extra column ``owner``."""
    previous = fold(empty_results(), read_frame([row(x) for x in "abcdefg"])).with_columns(
        pl.Series("owner", list("ABCDEFG"))
    )
    path = tmp_path / "t.parquet"
    write_results(previous, path)
    return path


def finish_with(path: Path, finished: list[dict[str, object]], width: int) -> pl.DataFrame:
    recorder = RunRecorder(TableFiles(path), Base(fingerprint(path), rows=7, width=width), None)
    recorder.open()
    for number, done in enumerate(finished):
        recorder.append(done)
        if number == 0:
            recorder.checkpoint()
    recorder.finish()
    return read_results(path)


@pytest.mark.parametrize("width", [2, 3, 5, 1000])
def test_a_run_that_only_adds_rows_is_appended_and_gives_the_merged_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    path = ok_table(tmp_path)
    before = read_results(path)
    appended: list[Path] = []
    real = append_module.append_files

    def spy(table: Path, tail: Path, out: Path) -> None:
        real(table, tail, out)
        appended.append(out)

    monkeypatch.setattr(FINISH, "append_files", spy)
    finished = [placed("z", "ok", 7 + 3, 3), placed("y", "ok", 7 + 1, 1), placed("y", "ok", 8, 1)]
    merged = finish_with(path, finished, width)
    assert len(appended) == 1
    assert merged.head(7).equals(before)
    assert merged["id"].to_list()[7:] == ["y", "z"]
    assert merged["owner"].to_list()[7:] == [None, None]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]


def test_a_run_that_changes_a_current_row_is_merged_not_appended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = ok_table(tmp_path)
    calls: list[Path] = []
    monkeypatch.setattr(FINISH, "append_files", lambda t, tail, o: calls.append(o))
    merged = finish_with(path, [placed("y", "ok", 7 + 1, 1), placed("c", "failed", 2, 2)], 3)
    assert calls == []
    assert merged["id"].to_list() == [*"abcdefg", "y"]
    assert merged["status"].to_list()[2] == "failed"


def test_a_failed_append_falls_back_to_the_merge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = ok_table(tmp_path)
    real = append_module.shift_offsets
    monkeypatch.setattr(append_module, "shift_offsets", lambda f, d: real(f, d - 40))
    merged = finish_with(path, [placed("y", "ok", 7 + 1, 1), placed("z", "ok", 7 + 2, 2)], 2)
    assert merged["id"].to_list() == [*"abcdefg", "y", "z"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]
