"""Faults from the API and the network, crash safety, signals and the lock: issue 5."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from aiohttp import web
from click.testing import Result

from fileapi import STATS, BackgroundServer
from pipeline.commands.status import load_table
from pipeline.core.units import Rate
from pipeline.store.files import TableFiles
from pipeline.store.leftovers import Leftovers
from pipeline.store.table import read_results
from tests.conftest import API_KEY, url_rows, write_manifest
from tests.helpers.runs import spawn_run, wait_for_journal_lines

Cli = Callable[..., Result]


def test_all_rows_succeed_under_25_percent_transient_failures(
    cli: Cli, start_api: Callable[..., BackgroundServer], sources: BackgroundServer, tmp_path: Path
) -> None:
    api = start_api(fail_rate=0.25, seed=7)
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 40))
    result = cli("run", manifest, "--base-url", api.base_url, "--retries", "12", "--json")
    assert result.exit_code == 0, result.stderr
    table = read_results(tmp_path / "m.results.parquet")
    assert table["status"].to_list() == ["ok"] * 40
    attempts = table["attempts"].to_list()
    assert sum(attempts) > 40  # some rows needed retries, and attempts counts them
    uploads = sum(n for p, n in api.app[STATS].requests_by_route.items() if p.startswith("/api/"))
    assert uploads == sum(attempts)


def test_permanent_failures_are_not_retried(
    cli: Cli, api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> None:
    rows = [{"id": "missing", "url": f"{sources.base_url}/absent.bin"}]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    result = cli("run", manifest, "--base-url", api.base_url, "--retries", "5")
    assert result.exit_code == 1
    row = read_results(tmp_path / "m.results.parquet").row(0, named=True)
    assert (row["error_kind"], row["attempts"]) == ("source_error", 1)


def test_exact_failure_sequence_is_retried_until_success(
    cli: Cli, start_api: Callable[..., BackgroundServer], sources: BackgroundServer, tmp_path: Path
) -> None:
    api = start_api(fail_sequence=(500, 429, 455))
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 1))
    result = cli("run", manifest, "--base-url", api.base_url, "--concurrency", "1")
    assert result.exit_code == 0, result.stderr
    assert read_results(tmp_path / "m.results.parquet")["attempts"].to_list() == [4]


def test_retries_exhausted_is_a_failed_row_with_its_attempts(
    cli: Cli, start_api: Callable[..., BackgroundServer], sources: BackgroundServer, tmp_path: Path
) -> None:
    api = start_api(fail_rate=1.0)
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 2))
    result = cli("run", manifest, "--base-url", api.base_url, "--retries", "2", "--json")
    assert result.exit_code == 1
    table = read_results(tmp_path / "m.results.parquet")
    assert table["attempts"].to_list() == [3, 3]
    assert table["error_kind"].to_list() == ["server_error"] * 2
    assert json.loads(result.stdout)["error_kinds"] == {"server_error": 2}


def test_rate_cap_keeps_the_api_under_its_limit(
    cli: Cli, start_api: Callable[..., BackgroundServer], sources: BackgroundServer, tmp_path: Path
) -> None:
    api = start_api(rate_limit=Rate(5, 1.0))
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 12))
    result = cli(
        "run", manifest, "--base-url", api.base_url, "--rate", "5/s", "--concurrency", "12"
    )
    assert result.exit_code == 0, result.stderr
    assert read_results(tmp_path / "m.results.parquet")["attempts"].to_list() == [1] * 12


def test_repeated_429_slow_ferry_down_without_rate(
    cli: Cli, start_api: Callable[..., BackgroundServer], sources: BackgroundServer, tmp_path: Path
) -> None:
    api = start_api(rate_limit=Rate(4, 1.0))
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 12))
    result = cli(
        "run", manifest, "--base-url", api.base_url, "--concurrency", "12", "--retries", "8"
    )
    assert result.exit_code == 0, result.stderr
    table = read_results(tmp_path / "m.results.parquet")
    assert table["status"].to_list() == ["ok"] * 12
    # the gate honoured Retry-After: far fewer requests than a blind retry storm would send
    assert sum(table["attempts"].to_list()) < 12 * 4


def test_credits_exhausted_stops_the_run_and_leaves_untried_rows_alone(
    cli: Cli, start_api: Callable[..., BackgroundServer], sources: BackgroundServer, tmp_path: Path
) -> None:
    api = start_api(credits=5)
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 30))
    result = cli("run", manifest, "--base-url", api.base_url, "--concurrency", "2", "--json")
    assert result.exit_code == 3
    assert "credits" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] == 5 and summary["failed"] == 0 and summary["not_attempted"] == 25
    table = read_results(tmp_path / "m.results.parquet")
    assert table.height == 5 and table["status"].to_list() == ["ok"] * 5


def test_timeout_bounds_a_hung_server(cli: Cli, stack: object, tmp_path: Path) -> None:
    async def hang(_request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response()

    app = web.Application()
    app.router.add_post("/api/file-url-upload", hang)
    with BackgroundServer(app) as hung:
        manifest = write_manifest(tmp_path / "m.csv", [{"url": "http://127.0.0.1:9/x"}])
        began = time.monotonic()
        result = cli(
            "run", manifest, "--base-url", hung.base_url, "--timeout", "0.3", "--retries", "1"
        )
        assert time.monotonic() - began < 10
    assert result.exit_code == 1
    row = read_results(tmp_path / "m.results.parquet").row(0, named=True)
    assert (row["error_kind"], row["attempts"]) == ("timeout", 2)


def test_dropped_connections_are_network_errors_and_retried(cli: Cli, tmp_path: Path) -> None:
    async def drop(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    app = web.Application()
    app.router.add_post("/api/file-url-upload", drop)
    with BackgroundServer(app) as dropper:
        manifest = write_manifest(tmp_path / "m.csv", [{"url": "http://127.0.0.1:9/x"}])
        result = cli("run", manifest, "--base-url", dropper.base_url, "--retries", "2")
    assert result.exit_code == 1
    row = read_results(tmp_path / "m.results.parquet").row(0, named=True)
    assert (row["error_kind"], row["attempts"]) == ("network", 3)


def test_sigkill_at_random_moments_loses_no_finished_row(
    start_api: Callable[..., BackgroundServer], sources: BackgroundServer, tmp_path: Path
) -> None:
    api = start_api(latency_ms=15)
    manifest = write_manifest(
        tmp_path / "m.csv",
        [
            {
                "id": f"r{i:03d}",
                "url": f"{sources.base_url}/f{i % 40:03d}.txt",
                "file_name": f"n{i}.txt",
            }
            for i in range(150)
        ],
    )
    results = tmp_path / "m.results.parquet"
    rng = random.Random(1234)
    done_before: set[str] = set()
    for _ in range(4):
        proc = spawn_run(manifest, api.base_url, "--concurrency", "4")
        try:
            wait_for_journal_lines(results, 1) if not done_before else None
            time.sleep(rng.uniform(0.05, 0.6))
        finally:
            proc.kill()
            proc.communicate(timeout=10)
        frame = load_table(results)  # the table and its journal are readable after every kill
        done_now = set(frame.filter(pl.col("status") == "ok")["id"].to_list())
        assert done_before <= done_now
        assert frame["id"].n_unique() == frame.height
        done_before = done_now
    final = spawn_run(manifest, api.base_url, "--concurrency", "8")
    _, err = final.communicate(timeout=60)
    assert final.returncode == 0, err.decode()
    table = read_results(results)
    assert sorted(table["id"].to_list()) == [f"r{i:03d}" for i in range(150)]
    assert table["status"].to_list() == ["ok"] * 150
    assert not TableFiles(results).journal.exists()


def test_sigterm_finishes_in_flight_rows_writes_the_table_and_exits_130(
    start_api: Callable[..., BackgroundServer], sources: BackgroundServer, tmp_path: Path
) -> None:
    api = start_api(latency_ms=50)
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 40) * 1)
    results = tmp_path / "m.results.parquet"
    proc = spawn_run(manifest, api.base_url, "--concurrency", "2")
    wait_for_journal_lines(results, 3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err.decode()
    assert "interrupted" in err.decode()
    table = read_results(results)
    assert 3 <= table.height < 40
    assert table["status"].to_list() == ["ok"] * table.height
    assert not TableFiles(results).journal.exists()


def test_second_run_on_a_locked_table_exits_4_naming_the_holder_and_stale_locks_do_not_block(
    cli: Cli, start_api: Callable[..., BackgroundServer], sources: BackgroundServer, tmp_path: Path
) -> None:
    api = start_api(latency_ms=100)
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 40))
    results = tmp_path / "m.results.parquet"
    holder = spawn_run(manifest, api.base_url, "--concurrency", "1")
    try:
        wait_for_journal_lines(results, 1)
        second = cli("run", manifest, "--base-url", api.base_url)
        assert second.exit_code == 4
        assert f"PID {holder.pid}" in second.stderr
    finally:
        holder.kill()
        holder.communicate(timeout=10)
    fast = cli("run", manifest, "--base-url", api.base_url, "--concurrency", "16")
    assert fast.exit_code == 0, fast.stderr
    assert read_results(results)["status"].to_list() == ["ok"] * 40


def test_log_lines_instead_of_a_bar_when_not_a_terminal(
    cli: Cli, start_api: Callable[..., BackgroundServer], sources: BackgroundServer, tmp_path: Path
) -> None:
    api = start_api(latency_ms=100)
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 3))
    proc = spawn_run(manifest, api.base_url, "--concurrency", "1")
    _, err = proc.communicate(timeout=30)
    text = err.decode()
    assert proc.returncode == 0, text
    assert "\r" not in text
    assert "ferry: ok 3, failed 0, skipped 0" in text


@pytest.mark.parametrize("flag", ["--debug", None])
def test_no_traceback_without_debug(cli: Cli, tmp_path: Path, flag: str | None) -> None:
    args = ["run", str(tmp_path / "absent.csv"), "--dry-run"] + ([flag] if flag else [])
    if flag:
        with pytest.raises(Exception, match=r"absent\.csv"):
            cli(*args)
    else:
        result = cli(*args)
        assert result.exit_code == 2
        assert "Traceback" not in result.stderr
        assert result.stderr.count("\n") == 1 and "absent.csv" in result.stderr


def test_checkpoints_make_rows_visible_to_readers_while_the_run_goes_on(
    start_api: Callable[..., BackgroundServer], sources: BackgroundServer, tmp_path: Path
) -> None:
    import threading

    from pipeline.commands.runner import run
    from pipeline.core.settings import RunSettings

    api = start_api(latency_ms=60)
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 12))
    results = tmp_path / "m.results.parquet"
    settings = RunSettings(
        manifest=manifest,
        results=results,
        base_url=api.base_url,
        api_key=API_KEY,
        concurrency=1,
        checkpoint_seconds=0.2,
    )
    outcome: dict[str, object] = {}
    worker = threading.Thread(target=lambda: outcome.setdefault("summary", run(settings)))
    worker.start()
    seen_mid_run: list[tuple[int, bool]] = []
    deadline = time.monotonic() + 20
    while worker.is_alive() and time.monotonic() < deadline:
        table_written = results.exists()
        # what status, report, verify and merge see: the table with the checkpoints folded in
        seen_mid_run.append((load_table(results).height, table_written))
        time.sleep(0.05)
    worker.join(timeout=20)
    # partial rows were visible mid-run, before the table file was written (once, at the end)
    assert any(0 < rows < 12 and not written for rows, written in seen_mid_run)
    assert read_results(results)["status"].to_list() == ["ok"] * 12
    assert not Leftovers(results).exist()
