"""Memory follows bytes as well as rows (issue 24, row B): large rows (``data:`` URLs) are read
in batches bounded in bytes, journaled and checkpointed by reference, joined back where the
table is written or read, and a kill at any moment still loses no finished row."""

from __future__ import annotations

import base64
import logging
import random
import signal
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from click.testing import Result

import pipeline.store.table as table_module
from fileapi import BackgroundServer
from pipeline.core.batching import BATCH_BYTES
from pipeline.manifest import open_manifest
from pipeline.plan.rows import PlannedRow, result_row
from pipeline.store import ResultStore
from pipeline.store.files import TableFiles
from pipeline.store.refs import INLINE_CHARS, by_reference, resolved, url_hash
from pipeline.store.table import conform, iter_table, read_results, write_results
from tests.conftest import write_manifest
from tests.helpers.runs import spawn_run, wait_for_journal_lines

Cli = Callable[..., Result]


def data_url(size: int, seed: int) -> str:
    """A ``data:`` URL of ``size`` random bytes (about 4/3 of that in text)."""
    payload = random.Random(seed).randbytes(size)
    return "data:application/octet-stream;base64," + base64.b64encode(payload).decode()


def large_rows(count: int, size: int = 12_000) -> list[dict[str, str]]:
    return [
        {"url": data_url(size, i), "file_name": f"blob-{i:03d}.bin", "tag": f"t{i}"}
        for i in range(count)
    ]


def test_a_manifest_of_large_rows_comes_in_batches_bounded_in_bytes(tmp_path: Path) -> None:
    rows = large_rows(40, size=1_000_000)  # 40 rows of 1.3 MB: one batch of rows, 53 MB
    for name in ("m.csv", "m.parquet"):
        manifest = write_manifest(tmp_path / name, rows)
        with open_manifest(manifest) as source:
            batches = list(source.batches(25_000))
        assert sum(batch.height for batch in batches) == 40
        assert len(batches) >= 3, name
        assert max(batch.estimated_size() for batch in batches) <= 2 * BATCH_BYTES, name


def test_long_urls_go_by_reference_and_a_kill_loses_none_of_them(
    start_api: Callable[..., BackgroundServer], cli: Cli, tmp_path: Path
) -> None:
    rows = large_rows(24)
    manifest = write_manifest(tmp_path / "m.csv", rows)
    table = tmp_path / "m.results.parquet"
    slow = start_api(latency_ms=200)
    process = spawn_run(manifest, slow.base_url, "--concurrency", "2")
    try:
        wait_for_journal_lines(table, 4)
        # a reader sees the finished rows with their whole source, from the run's plan
        seen = ResultStore(table).read()
        assert seen.height >= 4
        by_url = {row["file_name"]: row["url"] for row in rows}
        for row in seen.iter_rows(named=True):
            assert row["url"] == by_url[row["file_name"]]
            assert row["tag"] == f"t{int(row['file_name'][5:8])}"
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=30)
    journal = TableFiles(table).journal.read_bytes()
    lines = journal.splitlines()
    assert len(lines) >= 4
    assert all(len(line) < 2_000 for line in lines)  # a reference, not the 16 kB URL
    assert b"base64," not in journal

    done = cli("run", manifest, "--base-url", start_api().base_url, "--json")
    assert done.exit_code == 0, done.stderr
    final = read_results(table)
    assert final.height == 24 and set(final["status"]) == {"ok"}
    expected = {row["file_name"]: (row["url"], row["tag"]) for row in rows}
    for row in final.iter_rows(named=True):
        assert (row["url"], row["tag"]) == expected[row["file_name"]]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["api-data-0", "api-data-1", "m.csv", "m.results.parquet"]


def _plan_rows(rows: list[dict[str, str]]) -> pl.DataFrame:
    """``rows`` as a plan keeps them in its chunks."""
    return pl.DataFrame(
        {
            "id": [f"id{i}" for i in range(len(rows))],
            "url": [row["url"] for row in rows],
            "upload_path": ["p"] * len(rows),
            "file_name": [row["file_name"] for row in rows],
            "_row": list(range(1, len(rows) + 1)),
            "_invalid": [None] * len(rows),
            "tag": [row["tag"] for row in rows],
        },
        schema_overrides={"_invalid": pl.String},
    )


def _killed_run(
    store: ResultStore, rows: list[dict[str, str]], *, checkpointed: bool
) -> pl.DataFrame:
    """A run of ``rows`` (their plan kept in ``T.plan/``) that journaled every row and was
    killed, after a checkpoint or before one; the planned frame."""
    frame = _plan_rows(rows)
    with store.open_run() as space:
        assert space.chunks is not None
        space.chunks.append(frame, ["tag"])
        space.chunks.close()
        recorder = space.recorder()
        for number, row in enumerate(frame.iter_rows(named=True)):
            job = PlannedRow(row["id"], row["url"], "p", row["file_name"], None, number, number + 1)
            recorder.append(result_row(job, method="base64", run_id="r", attempts=1).to_journal())
        if checkpointed:
            recorder.checkpoint()
        recorder.close()  # killed here
    return frame


def test_a_checkpoint_holds_references_and_every_way_out_joins_the_sources_back(
    tmp_path: Path,
) -> None:
    rows = [*large_rows(6), {"url": "http://s/short", "file_name": "short.txt", "tag": "s"}]
    table = tmp_path / "t.parquet"
    store = ResultStore(table)
    frame = _killed_run(store, rows, checkpointed=True)  # checkpointed, not finished
    (segment,) = (TableFiles(table).checkpoints).glob("b*.parquet")
    stored = pl.read_parquet(segment)
    assert stored.filter(pl.col("_url_hash").is_not_null()).height == 6
    assert stored["url"].to_list() == [None] * 6 + ["http://s/short"]
    assert segment.stat().st_size < 20_000  # six 16 kB URLs are not in it

    seen = ResultStore(table).read()  # a reader, while the leftovers are there
    assert seen["url"].to_list() == frame["url"].to_list()
    assert seen["tag"].to_list() == frame["tag"].to_list()
    assert ResultStore(table).read(["id", "status"]).height == 7

    with store.open_run() as space:  # the next run folds them in first
        assert space.recovered == 7
        space.discard_plan()
    final = read_results(table)
    assert final["url"].to_list() == frame["url"].to_list()
    assert final["tag"].to_list() == frame["tag"].to_list()


def test_a_source_that_cannot_be_found_or_checked_is_left_empty_never_wrong(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from pipeline.store.chunks import ManifestChunks

    rows = large_rows(2)
    chunks = ManifestChunks.create(tmp_path / "plan")
    chunks.append(_plan_rows(rows), ["tag"])
    chunks.close()
    journaled = pl.DataFrame(
        {
            "id": ["id0", "id1"],
            "url": [None, None],
            "_row": [1, 2],
            "_url_bytes": [len(rows[0]["url"])] * 2,
            "_url_hash": [
                url_hash(rows[0]["url"]),
                "0" * 32,  # the plan's row 2 holds another text: not taken
            ],
        },
        schema_overrides={"url": pl.String},
    )
    with caplog.at_level(logging.WARNING):
        out = resolved(journaled, chunks)
    assert out["url"].to_list() == [rows[0]["url"], None]
    assert out.columns == ["id", "url", "_row"]
    assert "could not be found" in caplog.text
    assert resolved(journaled, None)["url"].to_list() == [None, None]


def test_a_table_of_large_rows_is_read_and_rewritten_batch_by_batch(tmp_path: Path) -> None:
    table = tmp_path / "t.parquet"
    urls = [data_url(300_000, i) for i in range(60)]  # 24 MB of text
    frame = pl.DataFrame({"id": [f"i{i}" for i in range(60)], "url": urls, "status": ["ok"] * 60})
    write_results(conform(frame, table), table)
    groups = pq.ParquetFile(table).metadata.num_row_groups
    assert groups >= 2  # row groups bounded in bytes too
    batches = list(iter_table(table, columns=["id", "url", "status"]))
    assert len(batches) >= 2
    assert max(batch.estimated_size() for batch in batches) <= 2 * BATCH_BYTES
    with ResultStore(table).rewrite() as rewrite:
        rewrite.read(["id", "status"])
        rewrite.update(lambda rows: rows.with_columns(pl.lit("failed").alias("status")))
    after = read_results(table)
    assert after["url"].to_list() == urls and set(after["status"]) == {"failed"}


def test_verify_reads_only_the_columns_a_check_needs(
    cli: Cli, api: BackgroundServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = write_manifest(tmp_path / "m.csv", large_rows(5))
    assert cli("run", manifest, "--base-url", api.base_url).exit_code == 0
    table = tmp_path / "m.results.parquet"
    before = read_results(table)
    # one link dies: verify marks its row, and every other column of every row stays
    first = before["download_url"][0]
    for path in (tmp_path / "api-data-0").rglob("blob-000.bin"):
        path.unlink()
    asked: list[object] = []
    real = table_module.read_results

    def spy(path: Path, columns: object = None) -> pl.DataFrame:
        asked.append(columns)
        return real(path, columns)  # type: ignore[arg-type]

    monkeypatch.setattr(table_module, "read_results", spy)
    monkeypatch.setattr("pipeline.store.read_results", spy)
    result = cli("verify", table)
    assert result.exit_code == 1, result.stderr
    assert asked and all(columns is not None and "url" not in columns for columns in asked)
    after = real(table)
    assert after.filter(pl.col("download_url") == first)["error_kind"].to_list() == ["link_dead"]
    assert after["url"].to_list() == before["url"].to_list()


def test_progress_lines_while_planning_and_writing_and_the_summary_counts_them(
    api: BackgroundServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from pipeline import run_manifest
    from pipeline.core.settings import RunSettings
    from tests.conftest import API_KEY

    manifest = write_manifest(tmp_path / "m.csv", large_rows(3))
    settings = RunSettings(
        manifest=manifest,
        results=tmp_path / "m.results.parquet",
        base_url=api.base_url,
        api_key=API_KEY,
        log_every_seconds=0.0,  # every step says where it is, each time it moves
    )
    with caplog.at_level(logging.INFO):
        summary = run_manifest(settings)
    assert summary.ok == 3
    assert "ferry: planning: 3 manifest rows read" in caplog.text
    assert "ferry: writing the table: 3 rows written" in caplog.text
    steps = {getattr(r, "fields", {}).get("step") for r in caplog.records}
    assert {"planning", "writing the table"} <= steps


def test_only_long_urls_go_by_reference(tmp_path: Path) -> None:
    from pipeline.store.chunks import ManifestChunks

    chunks = ManifestChunks.create(tmp_path / "plan")
    short = {"url": "http://s/" + "a" * (INLINE_CHARS - 9), "_row": 1}
    assert by_reference(short, chunks) is short
    long = {"url": short["url"] + "a", "_row": 2}
    line = by_reference(long, chunks)
    assert line["url"] is None and line["_url_bytes"] == INLINE_CHARS + 1
    assert by_reference(long, None) is long  # no plan to refer to: the text itself


def test_without_the_runs_plan_a_reader_says_so_and_the_next_run_keeps_the_rows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import shutil

    from pipeline.core.errors import ResultsError

    rows = large_rows(3)
    table = tmp_path / "t.parquet"
    store = ResultStore(table)
    _killed_run(store, rows, checkpointed=False)
    shutil.rmtree(TableFiles(table).plan)  # and its plan removed by hand
    with pytest.raises(ResultsError, match=r"t\.parquet\.plan is gone"):
        store.read()
    assert store.read(["id", "status"]).height == 3  # what does not need the sources reads
    with caplog.at_level(logging.WARNING), store.open_run() as space:
        assert space.recovered == 3
        space.discard_plan()
    final = read_results(table)
    assert final["id"].to_list() == ["id0", "id1", "id2"] and final["url"].null_count() == 3
    assert "could not be found" in caplog.text
