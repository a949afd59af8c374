"""The result table: fold, atomic write, journal with a torn line, schema checks on read."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.core.errors import ResultsError
from pipeline.core.schema import RESULT_COLUMNS
from pipeline.core.settings import default_results_path
from pipeline.store import ManifestChunks, ResultStore, RunRecorder
from pipeline.store.checkpoints import Base, Checkpoints, fingerprint
from pipeline.store.files import TableFiles, is_own_file
from pipeline.store.journal import Journal, read_journal
from pipeline.store.leftovers import Leftovers
from pipeline.store.table import (
    empty_results,
    fold,
    read_results,
    write_results,
)
from tests.helpers.rows import placed, read_frame, row


def test_default_results_path() -> None:
    assert default_results_path("a/b/m.csv") == Path("a/b/m.results.parquet")
    assert default_results_path("m.csv.gz") == Path("m.results.parquet")
    assert default_results_path("m.parquet") == Path("m.results.parquet")
    assert default_results_path("m.results.parquet") == Path("m.results.parquet")


def test_journal_survives_a_torn_last_line(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "t.parquet.journal").open()
    journal.append(row("a"))
    journal.append(row("b", "failed"))
    journal.close()
    with open(journal.path, "a", encoding="utf-8") as handle:
        handle.write('{"id": "c", "sta')  # killed mid-write
    frame = read_journal(journal.path)
    assert frame["id"].to_list() == ["a", "b"]
    assert frame["finished_at"].dtype == pl.Datetime("us", "UTC")


def test_fold_keeps_places_replaces_latest_and_appends_new() -> None:
    first = fold(empty_results(), read_frame([row("a"), row("b", "failed"), row("c")]))
    second = fold(first, read_frame([row("d"), row("b"), row("b", "failed"), row("b")]))
    assert second["id"].to_list() == ["a", "b", "c", "d"]
    assert second.filter(pl.col("id") == "b")["status"].item() == "ok"


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_write_then_read_round_trips(tmp_path: Path, suffix: str) -> None:
    table = fold(empty_results(), read_frame([row("a"), row("b", "failed")]))
    table = table.with_columns(pl.lit("extra").alias("owner"))
    path = tmp_path / f"t{suffix}"
    write_results(table, path)
    back = read_results(path)
    assert back.columns == [*RESULT_COLUMNS, "owner"]
    assert back["status"].to_list() == ["ok", "failed"]
    assert back["finished_at"].dtype == pl.Datetime("us", "UTC")
    assert not list(tmp_path.glob(".*tmp*"))


def test_other_timestamp_units_are_accepted(tmp_path: Path) -> None:
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    table = pa.table(
        {
            "id": ["a"],
            "status": ["ok"],
            "expires_at": pa.array([stamp], pa.timestamp("ns", tz="UTC")),
            "finished_at": pa.array([stamp.replace(tzinfo=None)], pa.timestamp("ms")),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    back = read_results(tmp_path / "t.parquet")
    assert back["expires_at"].item() == stamp
    assert back["finished_at"].item() == stamp


def test_a_foreign_or_corrupt_table_is_refused_and_left_alone(tmp_path: Path) -> None:
    corrupt = tmp_path / "c.parquet"
    corrupt.write_bytes(b"PAR1 not really")
    with pytest.raises(ResultsError, match=r"c\.parquet"):
        read_results(corrupt)
    assert corrupt.read_bytes() == b"PAR1 not really"
    foreign = tmp_path / "f.parquet"
    pl.DataFrame({"url": ["x"]}).write_parquet(foreign)
    with pytest.raises(ResultsError, match="no column 'id'"):
        read_results(foreign)
    bad_status = tmp_path / "s.csv"
    bad_status.write_text("id,status\na,done\n")
    with pytest.raises(ResultsError, match="status"):
        read_results(bad_status)


def test_a_result_table_under_any_name_is_its_own_results(tmp_path: Path) -> None:
    table = fold(empty_results(), read_frame([row("a")]))
    for name in ("done.parquet", "done.csv"):
        write_results(table, tmp_path / name)
        assert default_results_path(tmp_path / name) == tmp_path / name
    plain = tmp_path / "plain.csv"
    plain.write_text("url,status\nhttp://x,new\n")
    assert default_results_path(plain) == tmp_path / "plain.results.parquet"
    assert default_results_path(tmp_path / "folder") == tmp_path / "folder.results.parquet"


def record(recorder: RunRecorder, done: dict[str, object]) -> None:
    """Journal one row as a run does (the call returns once the row is written)."""
    recorder.append(done)


@pytest.mark.parametrize("width", [2, 3, 1000])
def test_streamed_final_write_equals_the_in_memory_fold(tmp_path: Path, width: int) -> None:
    previous = fold(
        empty_results(), read_frame([row(x, "failed") for x in "abcdefg"])
    ).with_columns(pl.Series("owner", list("ABCDEFG")))
    path = tmp_path / "t.parquet"
    write_results(previous, path)
    # the manifest: y, a, z, c, f (rows 1..5), with their owners
    manifest = pl.DataFrame(
        {
            "id": ["y", "a", "z", "c", "f"],
            "_row": [1, 2, 3, 4, 5],
            "owner": ["Y", "a2", "Z", "c2", "f2"],
        }
    )
    chunks = ManifestChunks.create(tmp_path / "t.parquet.plan")
    chunks.append(manifest.head(2), ["owner"])
    chunks.append(manifest.tail(3), ["owner"])
    chunks.close()
    store = ResultStore(path)
    base = Base(fingerprint=fingerprint(path), rows=7, width=width)
    recorder = RunRecorder(TableFiles(path), base, chunks)
    recorder.open()
    finished = [
        placed("z", "ok", 7 + 3, 3),
        placed("c", "ok", 2, 4),
        placed("f", "ok", 5, 5),
        placed("y", "ok", 7 + 1, 1),
        placed("a", "ok", 0, 2),
    ]
    for number, done in enumerate(finished):
        record(recorder, done)
        if number == 2:
            recorder.checkpoint()
            # a reader sees checkpointed rows before the table is rewritten
            assert store.read().filter(pl.col("id") == "f")["status"].item() == "ok"
            assert read_results(path).filter(pl.col("id") == "f")["status"].item() == "failed"
    recorder.finish()
    merged = read_results(path)
    assert merged["id"].to_list() == ["a", "b", "c", "d", "e", "f", "g", "y", "z"]
    assert merged["owner"].to_list() == ["a2", "B", "c2", "D", "E", "f2", "G", "Y", "Z"]
    assert merged["status"].to_list() == [
        "ok",
        "failed",
        "ok",
        "failed",
        "failed",
        "ok",
        "failed",
        "ok",
        "ok",
    ]
    assert not Leftovers(path).exist()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]


def _killed_run(tmp_path: Path, stage: str) -> tuple[Path, pl.DataFrame]:
    """A run into a 4-row table that is 'killed' at ``stage``; and the table a clean run makes."""
    path = tmp_path / "t.parquet"
    write_results(fold(empty_results(), read_frame([row(x, "failed") for x in "abcd"])), path)
    base = Base(fingerprint=fingerprint(path), rows=4, width=2)
    recorder = RunRecorder(TableFiles(path), base, None)
    recorder.open()
    finished = [placed("b", "ok", 1, 2), placed("e", "ok", 4 + 5, 5), placed("d", "ok", 3, 4)]
    record(recorder, finished[0])
    record(recorder, finished[1])
    recorder.checkpoint()
    record(recorder, finished[2])
    plain = [{k: v for k, v in done.items() if not k.startswith("_")} for done in finished]
    expected = fold(read_results(path), read_frame(plain))
    if stage == "journal":
        recorder.close()  # killed with a row in the journal and two in checkpoints
    elif stage == "final-write":
        recorder.checkpoint()
        recorder.close()
        TableFiles(path).temp(12345).write_bytes(b"PAR1 half a table")  # killed mid-write
    elif stage == "after-rename":
        recorder.checkpoint()
        from pipeline.store.finish import _merge_streamed

        checkpoints = Checkpoints(TableFiles(path))
        _merge_streamed(path, checkpoints, checkpoints.segments(), checkpoints.base())  # type: ignore[arg-type]
        recorder.close()  # killed after the rename, before the clean-up
    return path, expected


@pytest.mark.parametrize("stage", ["journal", "final-write", "after-rename"])
def test_recovery_after_a_kill_at_any_stage_keeps_every_finished_row(
    tmp_path: Path, stage: str
) -> None:
    path, expected = _killed_run(tmp_path, stage)
    store = ResultStore(path)
    assert store.read().equals(expected)  # readers see every finished row before recovery
    read_results(path)  # the table itself is readable whatever the moment of the kill
    with store.rewrite() as rewrite:
        rewrite.read()
    assert read_results(path).equals(expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]
    with store.rewrite() as rewrite:
        rewrite.read()  # nothing left: a second recovery changes nothing
    assert read_results(path).equals(expected)


def test_own_files_are_recognised_whatever_the_table_is_called(tmp_path: Path) -> None:
    table = tmp_path / "out.parquet"
    write_results(fold(empty_results(), read_frame([row("a")])), table)
    files = TableFiles(table)
    for own in (
        table,
        files.journal,
        files.lock,
        files.temp(7),
        files.checkpoints / "b1-2.parquet",
    ):
        assert is_own_file(own), own
    other = tmp_path / "photo.parquet"
    pl.DataFrame({"url": ["x"]}).write_parquet(other)
    assert not is_own_file(other)
    assert not is_own_file(tmp_path / "notes.journal.txt")
