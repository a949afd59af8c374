"""The result table: fold, atomic write, journal with a torn line, schema checks on read."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.errors import ResultsError
from pipeline.journal import Journal, read_journal
from pipeline.results import default_results_path, empty_results, fold, read_results, write_results
from pipeline.rows import PlannedRow, result_row
from pipeline.schema import RESULT_COLUMNS


def row(identity: str, status: str = "ok") -> dict[str, object]:
    job = PlannedRow(identity, f"http://s/{identity}", "p", None, None)
    journal_line = result_row(job, method="url", run_id="r1", attempts=1).to_journal()
    return journal_line | {"status": status}


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
    first = fold(empty_results(), read_frame([row("a"), row("b", "failed"), row("c")]), None)
    second = fold(first, read_frame([row("d"), row("b"), row("b", "failed"), row("b")]), None)
    assert second["id"].to_list() == ["a", "b", "c", "d"]
    assert second.filter(pl.col("id") == "b")["status"].item() == "ok"


def read_frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    path = Path(__import__("tempfile").mkdtemp()) / "j"
    journal = Journal(path).open()
    for r in rows:
        journal.append(r)
    journal.close()
    return read_journal(path)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_write_then_read_round_trips(tmp_path: Path, suffix: str) -> None:
    table = fold(empty_results(), read_frame([row("a"), row("b", "failed")]), None)
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
    table = fold(empty_results(), read_frame([row("a")]), None)
    for name in ("done.parquet", "done.csv"):
        write_results(table, tmp_path / name)
        assert default_results_path(tmp_path / name) == tmp_path / name
    plain = tmp_path / "plain.csv"
    plain.write_text("url,status\nhttp://x,new\n")
    assert default_results_path(plain) == tmp_path / "plain.results.parquet"
    assert default_results_path(tmp_path / "folder") == tmp_path / "folder.results.parquet"


@pytest.mark.parametrize("batch_rows", [2, 3, 1000])
def test_streaming_merge_equals_the_in_memory_fold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_rows: int
) -> None:
    import pipeline.results as results_module

    monkeypatch.setattr(results_module, "MERGE_BATCH_ROWS", batch_rows)
    previous = fold(
        empty_results(), read_frame([row(x, "failed") for x in "abcdefg"]), None
    ).with_columns(pl.Series("owner", list("ABCDEFG")))
    path = tmp_path / "t.parquet"
    write_results(previous, path)
    updates = read_frame([row("z"), row("c"), row("f"), row("y"), row("c", "failed"), row("a")])
    extras = pl.DataFrame({"id": ["y", "a", "z", "c", "f"], "owner": ["Y", "a2", "Z", "c2", "f2"]})
    expected = fold(read_results(path), updates, extras)
    results_module.merge_into_table(path, updates, extras)
    merged = read_results(path)
    assert merged.equals(expected)
    assert merged["id"].to_list() == ["a", "b", "c", "d", "e", "f", "g", "y", "z"]
    assert merged["owner"].to_list() == ["a2", "B", "c2", "D", "E", "f2", "G", "Y", "Z"]
    assert merged.filter(pl.col("id") == "c")["status"].item() == "failed"


def test_streaming_merge_into_a_missing_table_writes_the_updates(tmp_path: Path) -> None:
    from pipeline.results import merge_into_table

    path = tmp_path / "new.parquet"
    merge_into_table(path, read_frame([row("b"), row("a")]), pl.DataFrame({"id": ["a", "b"]}))
    assert read_results(path)["id"].to_list() == ["a", "b"]
