"""``--metrics-file``: Prometheus text for node_exporter's textfile collector, parsed back with
prometheus_client's own parser; and the ``--dry-run`` capacity estimate."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import Result
from prometheus_client.parser import text_string_to_metric_families

from fileapi import BackgroundServer
from pipeline.commands.runner import run
from pipeline.core.settings import RunSettings
from pipeline.core.summary import CapacityEstimate
from pipeline.core.units import parse_rate
from pipeline.store.table import read_results, write_results
from tests.conftest import API_KEY, url_rows, write_manifest

Cli = Callable[..., Result]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

CONTRACT = {
    "ferry_run_rows",
    "ferry_run_errors",
    "ferry_run_duration_seconds",
    "ferry_run_concurrency",
    "ferry_run_last_finish_timestamp_seconds",
    "ferry_run_exit_code",
    "ferry_table_rows",
    "ferry_table_expired_rows",
    "ferry_table_expiring_rows",
}


def read_metrics(path: Path, table: Path) -> Samples:
    """Every sample of the file, keyed by name and labels other than ``table``, which must be
    ``table`` (absolute) on every sample."""
    samples: Samples = {}
    for family in text_string_to_metric_families(path.read_text()):
        assert family.type == "gauge", family.name
        for sample in family.samples:
            labels = dict(sample.labels)
            assert labels.pop("table") == str(table.resolve()), sample
            samples[(sample.name, frozenset(labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


def test_run_writes_every_contract_metric(
    cli: Cli, api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> None:
    rows = url_rows(sources.base_url, 6)
    rows[5]["url"] = "ftp://example.invalid/nope"
    manifest = write_manifest(tmp_path / "m.csv", rows)
    metrics = tmp_path / "collector" / "ferry-m.prom"
    metrics.parent.mkdir()
    before = time.time()
    result = cli("run", manifest, "--base-url", api.base_url, "--metrics-file", metrics)
    assert result.exit_code == 1, result.stderr
    samples = read_metrics(metrics, tmp_path / "m.results.parquet")
    assert names(samples) == CONTRACT
    assert value(samples, "ferry_run_rows", status="ok") == 5
    assert value(samples, "ferry_run_rows", status="failed") == 1
    assert value(samples, "ferry_run_rows", status="skipped") == 0
    assert value(samples, "ferry_run_rows", status="not_attempted") == 0
    assert value(samples, "ferry_run_errors", kind="invalid_row") == 1
    assert value(samples, "ferry_run_errors", kind="auth") == 0
    assert value(samples, "ferry_run_exit_code") == 1
    assert before <= value(samples, "ferry_run_last_finish_timestamp_seconds") <= time.time()
    assert 0 < value(samples, "ferry_run_duration_seconds") < 60
    assert value(samples, "ferry_run_concurrency") == 16  # the default, fixed
    assert value(samples, "ferry_table_rows", status="ok") == 5
    assert value(samples, "ferry_table_rows", status="failed") == 1
    assert value(samples, "ferry_table_expired_rows") == 0
    assert value(samples, "ferry_table_expiring_rows", within="24h") == 0
    assert not [p for p in metrics.parent.iterdir() if p != metrics]  # no temp file left

    again = cli("run", manifest, "--base-url", api.base_url, "--metrics-file", metrics)
    assert again.exit_code == 1
    samples = read_metrics(metrics, tmp_path / "m.results.parquet")
    assert value(samples, "ferry_run_rows", status="skipped") == 5
    assert value(samples, "ferry_run_rows", status="ok") == 0


def test_table_figures_count_expired_and_expiring_rows(
    cli: Cli, api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> None:
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 4))
    assert cli("run", manifest, "--base-url", api.base_url).exit_code == 0
    results = tmp_path / "m.results.parquet"
    table = read_results(results)
    now = datetime.now(UTC)
    expiry = [now - timedelta(hours=1), now + timedelta(hours=2), now + timedelta(hours=3)]
    expiry.append(now + timedelta(days=2))
    expires_at = pl.Series("expires_at", expiry, dtype=pl.Datetime("us", "UTC"))
    write_results(table.with_columns(expires_at), results)
    metrics = tmp_path / "m.prom"
    # a refresh of only what expires within 1 hour: the expired row; two stay expiring
    result = cli(
        "run", manifest, "--base-url", api.base_url, "--refresh-within", "1h",
        "--metrics-file", metrics,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    samples = read_metrics(metrics, results)
    assert value(samples, "ferry_run_rows", status="ok") == 1
    assert value(samples, "ferry_table_expired_rows") == 0
    assert value(samples, "ferry_table_expiring_rows", within="24h") == 2


def test_a_bad_manifest_writes_exit_code_2(cli: Cli, tmp_path: Path) -> None:
    metrics = tmp_path / "m.prom"
    result = cli("run", tmp_path / "absent.csv", "--metrics-file", metrics)
    assert result.exit_code == 2
    samples = read_metrics(metrics, tmp_path / "absent.results.parquet")
    assert value(samples, "ferry_run_exit_code") == 2
    assert value(samples, "ferry_run_rows", status="ok") == 0
    assert "ferry_table_rows" not in names(samples)  # there is no table


def test_a_missing_folder_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", tmp_path / "m.csv", "--metrics-file", tmp_path / "nowhere" / "m.prom")
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_checkpoints_write_the_file_and_keep_the_last_finished_run(
    start_api: Callable[..., BackgroundServer], sources: BackgroundServer, tmp_path: Path
) -> None:
    """Mid-run (a checkpoint) the file has the rows so far and the last finished run's verdict."""
    api = start_api(latency_ms=100)
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 12))
    results = tmp_path / "m.results.parquet"
    metrics = tmp_path / "m.prom"
    metrics.write_text(
        "# HELP ferry_run_exit_code x\n# TYPE ferry_run_exit_code gauge\n"
        f'ferry_run_exit_code{{table="{results.resolve()}"}} 3.0\n'
        "# HELP ferry_run_last_finish_timestamp_seconds x\n"
        "# TYPE ferry_run_last_finish_timestamp_seconds gauge\n"
        f'ferry_run_last_finish_timestamp_seconds{{table="{results.resolve()}"}} 1e9\n'
    )
    seen: list[Samples] = []
    settings = RunSettings(
        manifest=manifest,
        results=results,
        base_url=api.base_url,
        api_key=API_KEY,
        concurrency=2,
        checkpoint_seconds=0.15,
        metrics_file=metrics,
    )
    stop = threading.Event()

    def watch() -> None:
        last = ""
        while not stop.is_set():
            text = metrics.read_text()
            if text != last and "ferry_run_rows" in text:
                seen.append(read_metrics(metrics, results))
                last = text
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        summary = run(settings)
    finally:
        stop.set()
        watcher.join(timeout=10)
    seen.append(read_metrics(metrics, results))  # the end's checkpoint, if the watcher missed it
    assert summary.ok == 12
    assert len(seen) >= 3, "checkpoints did not write the metrics file"
    assert value(seen[0], "ferry_run_rows", status="not_attempted") > 0  # written mid-run
    for samples in seen:  # what a checkpoint writes
        assert value(samples, "ferry_run_exit_code") == 3
        assert value(samples, "ferry_run_last_finish_timestamp_seconds") == 1e9
        done = value(samples, "ferry_run_rows", status="ok")
        assert done == value(samples, "ferry_table_rows", status="ok")
    assert value(seen[-1], "ferry_run_rows", status="ok") == 12


def test_verify_writes_the_table_and_keeps_the_run_metrics(
    cli: Cli, api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> None:
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 3))
    metrics = tmp_path / "m.prom"
    assert (
        cli("run", manifest, "--base-url", api.base_url, "--metrics-file", metrics).exit_code == 0
    )
    results = tmp_path / "m.results.parquet"
    finished = value(read_metrics(metrics, results), "ferry_run_last_finish_timestamp_seconds")
    table = read_results(results)
    dead = table["download_url"][0] + "-gone"
    write_results(table.with_columns(table["download_url"].scatter(0, dead)), results)
    result = cli("verify", results, "--metrics-file", metrics, "--retries", "0")
    assert result.exit_code == 1, result.stderr
    samples = read_metrics(metrics, results)
    assert names(samples) == CONTRACT
    assert value(samples, "ferry_table_rows", status="failed") == 1
    assert value(samples, "ferry_table_rows", status="ok") == 2
    assert value(samples, "ferry_run_exit_code") == 0
    assert value(samples, "ferry_run_last_finish_timestamp_seconds") == finished


@pytest.mark.parametrize(
    ("rate", "retention", "seconds", "warns"),
    [("2/s", "3d", 3.0, False), ("1/1d", "3d", 6 * 86400.0, True)],
)
def test_dry_run_estimates_the_time_at_the_rate(
    cli: Cli, tmp_path: Path, rate: str, retention: str, seconds: float, warns: bool
) -> None:
    manifest = write_manifest(tmp_path / "m.csv", url_rows("http://127.0.0.1:9", 6))
    args = ("run", manifest, "--dry-run", "--rate", rate, "--retention", retention)
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "new 6, retry 0, refresh 0, skip 0\n"
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"ferry: at {parse_rate(rate)} the 6 planned rows take at least")
    assert len(lines) == (2 if warns else 1)
    if warns:
        assert "longer than --retention 3 days" in lines[1]
    as_json = json.loads(cli(*args, "--json").stdout)
    assert as_json == {"new": 6, "retry": 0, "refresh": 0, "skip": 0, "estimated_seconds": seconds}
    plain = cli("run", manifest, "--dry-run", "--json")
    assert json.loads(plain.stdout) == {"new": 6, "retry": 0, "refresh": 0, "skip": 0}
    assert plain.stderr == ""


def test_the_issue_example_is_58_days() -> None:
    estimate = CapacityEstimate(10_000_000, parse_rate("20/10s"), 3 * 86400)
    assert estimate.too_slow and round(estimate.seconds / 86400) == 58
    assert estimate.line() == "ferry: at 20/10s the 10000000 planned rows take at least 57.9 days"
