"""Real ``ferry run`` processes, and waiting for what they write."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from pipeline.store.files import TableFiles
from tests.conftest import API_KEY


def spawn_run(manifest: Path, base_url: str, *extra: str) -> subprocess.Popen[bytes]:
    """A real ``ferry run`` process, started the way ferry starts its own subprocesses."""
    env = {**os.environ, "KIE_API_KEY": API_KEY}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jobs",
            "run",
            str(manifest),
            "--base-url",
            base_url,
            "--no-progress",
            *extra,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for_journal_lines(results: Path, minimum: int, timeout: float = 20.0) -> None:
    journal = TableFiles(results).journal
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_bytes().count(b"\n") >= minimum:
            return
        time.sleep(0.05)
    raise AssertionError(f"no {minimum} journal lines within {timeout}s")
