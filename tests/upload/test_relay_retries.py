"""Relay retries: a relayed source's 429 (with ``Retry-After``), 5xx and dropped connections are
retried like the API's retryable answers; a source 4xx is not. Real servers on loopback."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from click.testing import Result

from fileapi import BackgroundServer
from fileapi.sources import SOURCE_STATS, Scripted, SourceStats
from pipeline.store.table import read_results
from tests.conftest import write_manifest

Cli = Callable[..., Result]
DATA = bytes(range(256)) * 64


def relay(
    cli: Cli,
    api: BackgroundServer,
    start_sources: Callable[..., BackgroundServer],
    tmp_path: Path,
    script: Mapping[str, Sequence[Scripted]],
    *args: str,
) -> tuple[dict[str, Any], SourceStats, Result]:
    """Relay ``f.bin`` from a source that plays ``script`` first; the row and the source's stats."""
    src = start_sources({"f.bin": DATA}, script=script)
    manifest = write_manifest(tmp_path / "m.csv", [{"id": "f", "url": f"{src.base_url}/f.bin"}])
    result = cli("run", manifest, "--base-url", api.base_url, "--via", "relay", *args)
    row = read_results(tmp_path / "m.results.parquet").row(0, named=True)
    return row, src.app[SOURCE_STATS], result


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as resp:
        body: bytes = resp.read()
        return body


def test_a_source_429_is_asked_again_no_sooner_than_its_retry_after(
    cli: Cli, api: BackgroundServer, start_sources: Callable[..., BackgroundServer], tmp_path: Path
) -> None:
    script = {"f.bin": [Scripted(429, retry_after="1")]}
    row, stats, result = relay(cli, api, start_sources, tmp_path, script)
    assert result.exit_code == 0, result.stderr
    assert (row["status"], row["attempts"]) == ("ok", 2)
    first, second = stats.times["f.bin"]
    assert second - first >= 1.0  # the default back-off alone would be at most 0.5 s
    assert fetch(row["download_url"]) == DATA


def test_source_5xx_then_200_succeeds_and_attempts_count_the_source_tries(
    cli: Cli, api: BackgroundServer, start_sources: Callable[..., BackgroundServer], tmp_path: Path
) -> None:
    script = {"f.bin": [Scripted(503), Scripted(502)]}
    row, stats, result = relay(cli, api, start_sources, tmp_path, script)
    assert result.exit_code == 0, result.stderr
    assert (row["status"], row["attempts"], stats.requests["f.bin"]) == ("ok", 3, 3)


def test_a_source_that_drops_the_connection_is_retried(
    cli: Cli, api: BackgroundServer, start_sources: Callable[..., BackgroundServer], tmp_path: Path
) -> None:
    row, stats, result = relay(cli, api, start_sources, tmp_path, {"f.bin": [Scripted(drop=True)]})
    assert result.exit_code == 0, result.stderr
    assert (row["status"], row["attempts"], stats.requests["f.bin"]) == ("ok", 2, 2)
    assert fetch(row["download_url"]) == DATA  # the stored file is the whole one


def test_retries_exhausted_on_a_source_is_a_source_error_with_its_attempts(
    cli: Cli, api: BackgroundServer, start_sources: Callable[..., BackgroundServer], tmp_path: Path
) -> None:
    script = {"f.bin": [Scripted(503), Scripted(500), Scripted(drop=True)]}
    row, stats, result = relay(cli, api, start_sources, tmp_path, script, "--retries", "2")
    assert result.exit_code == 1
    assert (row["status"], row["error_kind"]) == ("failed", "source_error")
    host = row["url"].split("/")[2]
    assert row["error"].startswith(f"source {host}: connection broke during the answer")
    assert (row["attempts"], stats.requests["f.bin"]) == (3, 3)


def test_a_source_4xx_is_permanent_and_not_retried(
    cli: Cli, api: BackgroundServer, start_sources: Callable[..., BackgroundServer], tmp_path: Path
) -> None:
    for status in (404, 403):
        (tmp_path / "m.results.parquet").unlink(missing_ok=True)
        script = {"f.bin": [Scripted(status)]}
        row, stats, result = relay(cli, api, start_sources, tmp_path, script, "--retries", "5")
        assert result.exit_code == 1
        assert (row["error_kind"], row["http_status"], row["attempts"]) == (
            "source_error",
            status,
            1,
        )
        assert stats.requests["f.bin"] == 1
