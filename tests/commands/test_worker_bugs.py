"""A bug in ferry never hides: a worker's unexpected exception fails its row as
``internal_error`` (logged, exit 1, not retried), and a checkpoint task that dies stops the run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from click.testing import Result

import pipeline.commands.runner as runner_module
from pipeline.commands.runner import run
from pipeline.core.errors import InternalError
from pipeline.core.settings import RunSettings
from pipeline.store.table import read_results
from pipeline.upload.transfers import Transfers
from tests.conftest import API_KEY, BackgroundServer, url_rows, write_manifest


@pytest.fixture
def buggy_send(monkeypatch: pytest.MonkeyPatch) -> None:
    """``Transfers.send`` breaks (a bug, not an upload error) on the row of ``f003.txt``."""
    original = Transfers.send

    async def send(self: Transfers, client: object, job: object, method: str) -> object:
        if job.url.endswith("/f003.txt"):  # type: ignore[attr-defined]
            raise KeyError("fileUrl")
        return await original(self, client, job, method)  # type: ignore[arg-type]

    monkeypatch.setattr(Transfers, "send", send)


def run_cli(
    cli: Callable[..., Result], manifest: Path, api: BackgroundServer, *extra: str
) -> Result:
    return cli("run", manifest, "--base-url", api.base_url, "--no-progress", *extra)


@pytest.mark.usefixtures("buggy_send")
def test_a_worker_bug_fails_its_row_as_internal_error_with_one_line_and_exit_1(
    cli: Callable[..., Result], api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> None:
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 6))
    result = run_cli(cli, manifest, api)
    assert result.exit_code == 1, result.output
    table = read_results(tmp_path / "m.results.parquet")
    bad = table.filter(pl.col("status") == "failed")
    assert bad["id"].to_list() == ["row-003"]
    assert bad["error_kind"].to_list() == ["internal_error"]
    assert bad["error"].to_list() == ["KeyError: 'fileUrl'"]
    assert bad["attempts"].to_list() == [1]  # not retried
    assert table.filter(pl.col("status") == "ok").height == 5
    lines = [line for line in result.stderr.splitlines() if "internal error" in line]
    assert lines == [
        "ferry: internal error on row row-003: KeyError: 'fileUrl' "
        "(a bug in ferry: please report it)"
    ]
    assert "Traceback" not in result.stderr


@pytest.mark.usefixtures("buggy_send")
def test_with_debug_the_internal_error_line_carries_its_traceback(
    cli: Callable[..., Result], api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> None:
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 6))
    result = run_cli(cli, manifest, api, "--debug")
    assert result.exit_code == 1
    assert "Traceback" in result.stderr and 'raise KeyError("fileUrl")' in result.stderr


def test_a_checkpoint_task_that_dies_stops_the_run_at_once(
    start_api: Callable[..., BackgroundServer],
    sources: BackgroundServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken_checkpoint(*_args: object) -> None:
        raise ValueError("a bug in the checkpoint")

    monkeypatch.setattr(runner_module._Run, "checkpoint", broken_checkpoint)
    api = start_api(latency_ms=100)
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 40))
    results = tmp_path / "m.results.parquet"
    settings = RunSettings(
        manifest=manifest,
        results=results,
        base_url=api.base_url,
        api_key=API_KEY,
        concurrency=1,
        checkpoint_seconds=0.3,
    )
    with pytest.raises(InternalError, match="the checkpoint task failed: ValueError"):
        run(settings)
    table = read_results(results)  # what was finished is kept, the table is whole
    assert 0 < table.height < 40
    assert set(table["status"]) == {"ok"}
