"""The journal's promise: a row reported finished is in the kernel already.

A row's line is written before the row is counted and before its worker takes the next row.
Checked at every count, in-process, by reading the files from disk with a second handle; and
for real, by SIGKILL right after a progress line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.commands.runner import run
from pipeline.core.progress import Progress
from pipeline.core.settings import RunSettings
from pipeline.store.checkpoints import Checkpoints
from pipeline.store.files import TableFiles
from tests.conftest import API_KEY, BackgroundServer, write_manifest


def durable_rows(results: Path) -> int:
    """Rows on disk for ``results``: journal lines plus checkpointed rows (no table yet)."""
    journal = TableFiles(results).journal
    lines = journal.read_bytes().count(b"\n") if journal.exists() else 0
    checkpointed = Checkpoints(TableFiles(results)).read_all()
    return lines + (checkpointed.height if checkpointed is not None else 0)


def many_rows(base_url: str, count: int) -> list[dict[str, str]]:
    return [
        {"url": f"{base_url}/f{i % 40:03d}.txt", "file_name": f"n{i}.txt"} for i in range(count)
    ]


def test_every_counted_row_is_in_the_journal_when_it_is_counted(
    start_api: Callable[..., BackgroundServer],
    sources: BackgroundServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = start_api()
    results = tmp_path / "m.results.parquet"
    manifest = write_manifest(tmp_path / "m.csv", many_rows(sources.base_url, 120))
    seen: list[tuple[int, int]] = []
    original = Progress.record

    def record(self: Progress, ok: bool) -> None:
        original(self, ok)
        seen.append((self.ok + self.failed, durable_rows(results)))

    monkeypatch.setattr(Progress, "record", record)
    settings = RunSettings(
        manifest=manifest, results=results, base_url=api.base_url, api_key=API_KEY, concurrency=16
    )
    summary = run(settings)
    assert summary.ok == 120 and len(seen) == 120
    assert all(on_disk >= counted for counted, on_disk in seen), seen


def test_sigkill_right_after_a_progress_line_loses_none_of_its_rows(
    start_api: Callable[..., BackgroundServer], sources: BackgroundServer, tmp_path: Path
) -> None:
    api = start_api(latency_ms=25)
    results = tmp_path / "m.results.parquet"
    manifest = write_manifest(tmp_path / "m.csv", many_rows(sources.base_url, 2000))
    env = {**os.environ, "KIE_API_KEY": API_KEY, "FERRY_LOG_FORMAT": "json"}
    argv = [sys.executable, "-m", "jobs", "run", str(manifest), "--base-url", api.base_url]
    process = subprocess.Popen(
        [*argv, "--no-progress", "--concurrency", "8"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    reported = 0
    deadline = time.monotonic() + 60
    try:
        for line in process.stderr:  # the first progress line comes after 5 s
            event = json.loads(line)
            if "rows_per_second" in event:
                os.kill(process.pid, signal.SIGKILL)
                reported = int(event["done"])
                break
            assert time.monotonic() < deadline, "no progress line within 60 s"
    finally:
        process.kill()
        process.wait(timeout=30)
    assert 0 < reported < 2000
    assert durable_rows(results) >= reported
