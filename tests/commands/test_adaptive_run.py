"""``ferry run --concurrency auto[:MAX]`` end to end, against ferry's server with a capacity: the
limit stays within its bound, 429s are retried, and the limit is shown where people look."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from prometheus_client.parser import text_string_to_metric_families

from fileapi import BackgroundServer
from fileapi.state import CAPACITY
from pipeline.store.table import read_results
from tests.conftest import url_rows, write_manifest

Cli = Callable[..., Result]


def test_auto_max_bounds_the_requests_the_api_sees_and_json_shows_the_limit(
    cli: Cli, start_api: Callable[..., BackgroundServer], sources: BackgroundServer, tmp_path: Path
) -> None:
    api = start_api(latency_ms=40, capacity=16)  # room for more than the bound
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 40))
    metrics = tmp_path / "m.prom"
    result = cli(
        "run", manifest, "--base-url", api.base_url, "--concurrency", "auto:5", "--json",
        "--metrics-file", metrics,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    figures = summary["concurrency"]
    assert summary["ok"] == 40 and set(figures) == {"final", "min", "max"}
    assert 1 <= figures["min"] <= figures["final"] <= figures["max"] == 5
    assert api.app[CAPACITY].most_serving <= 5 and api.app[CAPACITY].rejected == 0
    assert "concurrency auto: " in result.stderr  # the summary a person reads
    samples = {
        s.name: s.value
        for family in text_string_to_metric_families(metrics.read_text())
        for s in family.samples
    }
    assert samples["ferry_run_concurrency"] == figures["final"]


def test_auto_backs_off_an_api_at_capacity_and_every_row_gets_done(
    cli: Cli, start_api: Callable[..., BackgroundServer], sources: BackgroundServer, tmp_path: Path
) -> None:
    api = start_api(latency_ms=60, capacity=2, queue=1)
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 30))
    result = cli(
        "run", manifest, "--base-url", api.base_url, "--concurrency", "auto", "--json",
        "--retries", "20",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    table = read_results(tmp_path / "m.results.parquet")
    assert table["status"].to_list() == ["ok"] * 30
    capacity = api.app[CAPACITY]
    assert capacity.most_serving == 2
    # every 429 was retried: the table's attempts add up to the answers the server gave
    assert int(table["attempts"].sum()) == 30 + capacity.rejected
    # the limit came down to what the server takes, rather than storming it
    assert json.loads(result.stdout)["concurrency"]["final"] <= 4
    assert capacity.rejected <= 15


def test_a_fixed_number_shows_as_itself(
    cli: Cli, api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> None:
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 3))
    result = cli("run", manifest, "--base-url", api.base_url, "--concurrency", "7", "--json")
    assert json.loads(result.stdout)["concurrency"] == {"final": 7, "min": 7, "max": 7}
    assert "concurrency auto" not in result.stderr


@pytest.mark.parametrize("value", ["0", "auto:0", "auto:", "lots", "auto:9999"])
def test_a_bad_concurrency_is_a_usage_error(cli: Cli, tmp_path: Path, value: str) -> None:
    manifest = write_manifest(tmp_path / "m.csv", [{"url": "https://example.com/a"}])
    result = cli("run", manifest, "--concurrency", value)
    assert result.exit_code == 2
    assert "--concurrency" in result.stderr and "Traceback" not in result.stderr
