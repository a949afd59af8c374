"""A relayed row holds its source's connection while it uploads: the connection pool must never
make it wait for a connection that another part of the run (or the row itself) holds.

With a pool sized to ``--concurrency``, a 50 MiB relay at ``--concurrency 1`` waited for its own
upload connection until ``--timeout``, and C relays at ``--concurrency C`` did the same. A short
``--timeout`` with no retries turns such a stall into a failed row at once. Real servers on
loopback; the sources are big enough that the download is still streaming while the upload runs.
"""

from __future__ import annotations

import hashlib
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from fileapi import BackgroundServer
from fileapi.sources import SOURCE_STATS
from pipeline.store.table import read_results
from tests.conftest import write_manifest

Cli = Callable[..., Result]
MIB = 1024 * 1024
#: As in the issue's measurement: far more than socket buffers and aiohttp's read-ahead hold.
SOURCE_BYTES = 50 * MIB
#: A stalled relay fails after this; a healthy 50 MiB relay on loopback takes a fraction of it.
TIMEOUT = "8"


@pytest.fixture(scope="module")
def big_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of four 50 MiB files, different from each other."""
    folder = tmp_path_factory.mktemp("big-sources")
    block = bytes(range(256)) * 4096  # 1 MiB
    for i in range(4):
        (folder / f"big{i}.bin").write_bytes(bytes([i]) + block * 50 + bytes([i]))
    return folder


@pytest.fixture
def big_source(start_sources: Callable[..., BackgroundServer], big_files: Path) -> BackgroundServer:
    """A source server of the big files."""
    return start_sources(big_files)


def relay_all(
    cli: Cli, api_url: str, source_url: str, tmp_path: Path, count: int, concurrency: int
) -> tuple[Result, list[dict[str, object]]]:
    rows = [{"id": f"big{i}", "url": f"{source_url}/big{i}.bin"} for i in range(count)]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    result = cli(
        "run", manifest, "--base-url", api_url, "--via", "relay",
        "--concurrency", str(concurrency), "--timeout", TIMEOUT, "--retries", "0",
    )  # fmt: skip
    return result, read_results(tmp_path / "m.results.parquet").sort("id").to_dicts()


def test_a_large_relay_at_concurrency_1_needs_no_second_pooled_connection(
    cli: Cli, api: BackgroundServer, big_source: BackgroundServer, big_files: Path, tmp_path: Path
) -> None:
    src = big_source
    result, rows = relay_all(cli, api.base_url, src.base_url, tmp_path, 1, 1)
    assert result.exit_code == 0, result.stderr
    (row,) = rows
    assert (row["status"], row["attempts"], row["file_size"]) == ("ok", 1, SOURCE_BYTES + 2)
    assert src.app[SOURCE_STATS].requests["big0.bin"] == 1
    with urllib.request.urlopen(str(row["download_url"]), timeout=30) as resp:
        stored = hashlib.sha256(resp.read()).hexdigest()
    assert stored == hashlib.sha256((big_files / "big0.bin").read_bytes()).hexdigest()


def test_c_large_relays_at_concurrency_c_run_at_once_without_a_stall(
    cli: Cli, api: BackgroundServer, big_source: BackgroundServer, tmp_path: Path
) -> None:
    src = big_source
    result, rows = relay_all(cli, api.base_url, src.base_url, tmp_path, 4, 4)
    assert result.exit_code == 0, result.stderr
    assert [(r["status"], r["attempts"]) for r in rows] == [("ok", 1)] * 4
    assert sum(src.app[SOURCE_STATS].requests.values()) == 4  # no source was asked twice
