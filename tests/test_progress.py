"""Progress: plain log lines every few seconds when not on a terminal, a tqdm bar when asked."""

from __future__ import annotations

import asyncio
import io

from pipeline.progress import Progress


async def test_log_lines_come_on_a_timer_without_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress(4, bar=False, log_every=0.05, stream=stream)
    progress.start()
    progress.record(True)
    progress.record(False)
    await asyncio.sleep(0.18)
    await progress.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 2
    assert all(line.startswith("ferry: 2/4 rows, ok 1, failed 1, ") for line in lines)
    assert "\r" not in stream.getvalue()


async def test_bar_draws_on_the_stream() -> None:
    stream = io.StringIO()
    progress = Progress(2, bar=True, stream=stream)
    progress.start()
    progress.record(True)
    progress.record(True)
    await progress.close()
    assert "2/2" in stream.getvalue() and "ok=2" in stream.getvalue()
