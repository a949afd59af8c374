"""``--log-format json``: every stderr line is one JSON object with ``ts``, ``level``, ``msg``
and the event's fields; text stays the default."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from fileapi import BackgroundServer
from pipeline.commands.runner import run
from pipeline.core import logs
from pipeline.core.settings import RunSettings
from tests.conftest import API_KEY, url_rows, write_manifest

Cli = Callable[..., Result]
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def events(stderr: str) -> list[dict[str, Any]]:
    """Every stderr line parsed as JSON (fails on any line that is not)."""
    parsed = [json.loads(line) for line in stderr.splitlines()]
    for event in parsed:
        assert ISO_UTC.match(event["ts"]), event
        datetime.fromisoformat(event["ts"].replace("Z", "+00:00"))
        assert event["level"] in {"debug", "info", "warning", "error", "critical"}
        assert isinstance(event["msg"], str)
    return parsed


def test_run_summary_is_one_json_line_with_the_json_keys(
    cli: Cli, api: BackgroundServer, start_sources: Callable[..., BackgroundServer], tmp_path: Path
) -> None:
    files = {f"f{i:03d}.txt": b"x" for i in range(5)}
    sources = start_sources(files)
    rows = url_rows(sources.base_url, 5)
    rows[4]["url"] = "ftp://example.invalid/x"
    manifest = write_manifest(tmp_path / "m.csv", rows)
    result = cli("run", manifest, "--base-url", api.base_url, "--log-format", "json", "--json")
    assert result.exit_code == 1, result.stderr
    (summary,) = [e for e in events(result.stderr) if "exit_code" in e]
    assert summary["msg"].startswith("ferry: ok 4, failed 1, skipped 0")
    assert summary["level"] == "info"
    stdout_keys = json.loads(result.stdout)
    for key, value in stdout_keys.items():
        assert summary[key] == value, key
    assert summary["error_kinds"] == {"invalid_row": 1}
    assert API_KEY not in result.stderr + result.stdout


@pytest.mark.parametrize("adaptive", [False, True], ids=["fixed", "auto"])
def test_progress_lines_carry_the_counts(
    start_api: Callable[..., BackgroundServer],
    sources: BackgroundServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    adaptive: bool,
) -> None:
    """Without a terminal the periodic line comes on a timer: a slow API shows several. With
    ``--concurrency auto`` it also carries the limit in force."""
    api = start_api(latency_ms=150)
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 4))
    settings = RunSettings(
        manifest=manifest,
        results=tmp_path / "m.results.parquet",
        base_url=api.base_url,
        api_key=API_KEY,
        concurrency=1,
        adaptive=adaptive,
        log_every_seconds=0.1,
    )
    logs.configure("json")
    try:
        summary = run(settings)
    finally:
        logs.reset()
    assert summary.ok == 4
    progress = [e for e in events(capsys.readouterr().err) if "rows_per_second" in e]
    progress = [e for e in progress if "results" not in e]  # not the summary
    assert len(progress) >= 2
    for event in progress:
        assert event["total"] == 4 and event["done"] == event["ok"] + event["failed"]
        line = (
            f"ferry: {event['done']}/4 rows, ok {event['ok']}, failed {event['failed']}, "
            f"{event['rows_per_second']:.1f} rows/s"
        )
        if adaptive:
            assert event["concurrency"] == 1  # auto:1
            line += ", concurrency 1"
        else:
            assert "concurrency" not in event
        assert event["msg"] == line
    assert progress[-1]["done"] > progress[0]["done"]


def test_bad_manifest_error_names_file_row_and_column(cli: Cli, tmp_path: Path) -> None:
    manifest = tmp_path / "ids.csv"
    manifest.write_text("id,url\na,https://example.com/1\n,https://example.com/2\n")
    result = cli("run", manifest, "--dry-run", env={"FERRY_LOG_FORMAT": "json"})
    assert result.exit_code == 2
    (error,) = events(result.stderr)
    assert error["level"] == "error" and error["msg"].startswith("ferry: error: ")
    assert error["file"] == str(manifest) and error["exit_code"] == 2
    assert error["column"] == "id" and error["row"] == 2 and "empty id" in error["msg"]


def test_usage_errors_are_json_too(cli: Cli) -> None:
    result = cli("run", "--no-such-option", "--log-format", "json")
    assert result.exit_code == 2
    (error,) = events(result.stderr)
    assert "--no-such-option" in error["msg"] and error["exit_code"] == 2


def test_text_stays_the_default(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", tmp_path / "absent.csv", "--dry-run")
    assert result.exit_code == 2
    assert result.stderr == f"ferry: error: {tmp_path / 'absent.csv'}: no such file\n"


@pytest.mark.parametrize("command", ["run", "status", "credits", "serve", "demo", "verify"])
def test_every_command_takes_the_option(cli: Cli, command: str) -> None:
    result = cli(command, "--help")
    assert "--log-format [text|json]" in result.stdout and "FERRY_LOG_FORMAT" in result.stdout


def test_serve_logs_json_lines(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobs", "serve", "--port", "0", "--data-dir", str(tmp_path / "d")],
        env={**_environ(), "FERRY_LOG_FORMAT": "json", "FERRY_SERVER_KEYS": "k"},
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        first = json.loads(proc.stderr.readline())
        second = json.loads(proc.stderr.readline())
        credit = f"{second['url']}/api/v1/chat/credit"
        request = urllib.request.Request(credit, headers={"Authorization": "Bearer k"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
        proc.terminate()
        rest = proc.communicate(timeout=20)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert first["msg"].startswith("ferry serve: data in") and first["data_dir"]
    assert second["msg"].startswith("ferry serve: listening on http://127.0.0.1:")
    assert second["url"] in second["msg"]
    access, *_, last = events(rest)
    assert access["msg"].startswith("GET /api/v1/chat/credit 200")
    assert last["msg"] == "ferry serve: shutting down"


def _environ() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
