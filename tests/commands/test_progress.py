"""Progress: plain log lines every few seconds when not on a terminal, a tqdm bar when asked."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator

import pytest

from pipeline.core import logs
from pipeline.core.progress import Progress


@pytest.fixture
def text_logs() -> Iterator[None]:
    """ferry's log set-up, as the CLI makes it: plain lines on (pytest's) stderr."""
    logs.configure("text")
    yield
    logs.reset()


async def test_log_lines_come_on_a_timer_without_a_terminal(
    text_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    progress = Progress(4, bar=False, log_every=0.05, stream=io.StringIO())
    progress.start()
    progress.record(True)
    progress.record(False)
    await asyncio.sleep(0.18)
    await progress.close()
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) >= 2
    assert all(line.startswith("ferry: 2/4 rows, ok 1, failed 1, ") for line in lines)
    assert "\r" not in err


async def test_json_log_lines_carry_the_counts(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("json")
    try:
        progress = Progress(4, bar=False, log_every=0.05)
        progress.start()
        progress.record(True)
        progress.record(False)
        progress.record(True)
        await asyncio.sleep(0.12)
        await progress.close()
    finally:
        logs.reset()
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert events
    for event in events:
        assert {"ts", "level", "msg"} <= set(event)
        assert event["level"] == "info" and event["msg"].startswith("ferry: 3/4 rows")
        assert (event["done"], event["total"], event["ok"], event["failed"]) == (3, 4, 2, 1)
        assert event["rows_per_second"] > 0


async def test_bar_draws_on_the_stream() -> None:
    stream = io.StringIO()
    progress = Progress(2, bar=True, stream=stream)
    progress.start()
    progress.record(True)
    progress.record(True)
    await progress.close()
    assert "2/2" in stream.getvalue() and "ok=2" in stream.getvalue()
