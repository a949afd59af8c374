"""The result store's three ways in, used as the commands use them: ``read``, ``rewrite`` and
``open_run`` (a run, and a dry run that plans from what it reads without copying the table)."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

import pipeline.store.table as table_module
from pipeline.core.errors import LockedError, TableWriteError
from pipeline.plan.rows import PlannedRow, result_row
from pipeline.store import ResultStore
from pipeline.store.files import TableFiles
from pipeline.store.journal import Journal
from pipeline.store.table import empty_results, fold, read_results, write_results


def journal_row(identity: str, status: str, key: int | None = None) -> dict[str, object]:
    job = PlannedRow(identity, f"http://s/{identity}", "p", None, None, key, None)
    return result_row(job, method="url", run_id="r2", attempts=1).to_journal() | {"status": status}


def table_with(path: Path, statuses: dict[str, str]) -> None:
    rows = pl.DataFrame([journal_row(i, s) for i, s in statuses.items()]).drop("_key", "_row")
    frame = fold(
        empty_results(), rows.with_columns(pl.col("^.*_at$").cast(pl.Datetime("us", "UTC")))
    )
    write_results(frame.with_columns(pl.Series("owner", [f"o-{i}" for i in statuses])), path)


def leave_journal(path: Path, rows: list[dict[str, object]]) -> None:
    """A journal as a killed run (or one going on) leaves it beside the table."""
    journal = Journal(TableFiles(path).journal).open()
    for row in rows:
        journal.append(row)
    journal.close()


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "t.parquet"
    table_with(path, {"a": "ok", "b": "failed", "c": "failed"})
    leave_journal(path, [journal_row("b", "ok"), journal_row("d", "failed")])
    return path


def test_read_folds_the_leftovers_and_reads_only_the_columns_asked_for(table: Path) -> None:
    store = ResultStore(table)
    whole = store.read()
    assert whole["id"].to_list() == ["a", "b", "c", "d"]
    assert whole["status"].to_list() == ["ok", "ok", "failed", "failed"]
    assert whole["owner"].to_list() == ["o-a", "o-b", "o-c", None]  # the table's extras kept
    some = store.read(["id", "status", "owner"])
    assert some.columns == ["id", "status", "owner"]
    assert some.equals(whole.select("id", "status", "owner"))
    assert TableFiles(table).journal.exists()  # a reader changes nothing


def test_rewrite_folds_the_leftovers_in_then_replaces_the_table(table: Path) -> None:
    store = ResultStore(table)
    with store.rewrite() as rewrite:
        assert rewrite.leftovers
        current = rewrite.read()
        assert current["status"].to_list() == ["ok", "ok", "failed", "failed"]
        assert not TableFiles(table).journal.exists()  # folded into the table
        rewrite.replace(current.filter(pl.col("status") == "ok"))
    assert read_results(table)["id"].to_list() == ["a", "b"]
    assert sorted(p.name for p in table.parent.iterdir()) == ["t.parquet"]


def test_rewrite_and_a_run_take_the_lock_and_a_dry_run_does_not(table: Path) -> None:
    store = ResultStore(table)
    with store.rewrite():
        with pytest.raises(LockedError), store.open_run():
            pass
        with store.open_run(dry_run=True) as space:
            assert space.recovered == 0 and space.chunks is None


def test_a_dry_run_plans_against_the_leftovers_without_writing_the_table(
    table: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a dry run wrote a table")

    monkeypatch.setattr(table_module, "write_results", refuse)
    monkeypatch.setattr(table_module.TableWriter, "__enter__", refuse)
    before = table.stat().st_mtime_ns
    with ResultStore(table).open_run(dry_run=True) as space:
        rows = pl.concat(list(space.table_rows()))
        scratch = space.scratch
        assert scratch.is_dir()
    assert rows.select("id", "status").rows() == [
        ("a", "ok"),
        ("b", "ok"),
        ("c", "failed"),
        ("d", "failed"),
    ]
    assert not scratch.exists()
    assert table.stat().st_mtime_ns == before
    assert TableFiles(table).journal.exists()


def test_a_run_folds_the_leftovers_in_first_and_a_failed_plan_leaves_no_plan(table: Path) -> None:
    store = ResultStore(table)
    with pytest.raises(RuntimeError), store.open_run() as space:
        assert space.recovered == 2
        assert read_results(table)["status"].to_list() == ["ok", "ok", "failed", "failed"]
        assert TableFiles(table).plan.is_dir()
        raise RuntimeError("the plan failed")
    assert not TableFiles(table).plan.exists()


def test_a_failed_journal_write_is_a_table_write_error_naming_the_file(table: Path) -> None:
    store = ResultStore(table)
    with store.open_run() as space:
        recorder = space.recorder()
        recorder.close()
        # the disk fills up: every write of the journal fails as a full disk's does (ENOSPC)
        recorder._journal._fd = os.open("/dev/full", os.O_WRONLY)
        with pytest.raises(TableWriteError, match=r"t\.parquet\.journal: cannot write \(No space"):
            recorder.append(journal_row("e", "ok", key=4))
        with pytest.raises(TableWriteError):  # broken: nothing more is taken, nor finished
            recorder.finish()
        recorder.close()
