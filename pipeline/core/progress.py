"""Progress on stderr: a tqdm bar on a terminal, one log line every few seconds otherwise.

The periodic line is a log record (``ferry: 1200/3000 rows, ...`` as text; with JSON logs it
carries ``done``, ``total``, ``ok``, ``failed`` and ``rows_per_second``). The steps before and
after the rows, planning and the final write of the table, have a line of their own
(:class:`StepProgress`), so that a long one is never silent. With ``--concurrency auto`` the
line, the bar and the JSON fields also show the limit in force (``concurrency``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from pipeline.core.logs import fields

if TYPE_CHECKING:
    from tqdm import tqdm

log = logging.getLogger(__name__)


class Progress:
    """Counts finished rows and shows them; ``start()``/``close()`` bracket the run.

    ``stream`` is where the bar draws (stderr by default); the periodic line is logged.
    ``concurrency``, when given, reads the limit in force (an adaptive one) to show it.
    """

    def __init__(
        self,
        total: int,
        *,
        bar: bool,
        log_every: float = 5.0,
        stream: TextIO | None = None,
        concurrency: Callable[[], int] | None = None,
    ) -> None:
        self.total = total
        self.ok = 0
        self.failed = 0
        self._bar_wanted = bar
        self._log_every = log_every
        self._stream = stream if stream is not None else sys.stderr
        self._bar: tqdm[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._started = time.monotonic()
        self._concurrency = concurrency

    @property
    def done(self) -> int:
        """Rows finished so far."""
        return self.ok + self.failed

    def start(self) -> None:
        """Show the bar, or start the periodic log line."""
        self._started = time.monotonic()
        if self._bar_wanted:
            from tqdm import tqdm

            self._bar = tqdm(
                total=self.total, file=self._stream, unit="row", dynamic_ncols=True, smoothing=0.1
            )
        elif self.total:
            self._ticker = asyncio.create_task(self._tick())

    def record(self, ok: bool) -> None:
        """One row finished."""
        if ok:
            self.ok += 1
        else:
            self.failed += 1
        if self._bar is not None:
            self._bar.update(1)
            if self.done % 50 == 0 or self.done == self.total:
                self._bar.set_postfix(self._postfix(), refresh=False)

    def _postfix(self) -> dict[str, int]:
        """What the bar shows after its counts."""
        shown = {"ok": self.ok, "failed": self.failed}
        if self._concurrency is not None:
            shown["concurrency"] = self._concurrency()
        return shown

    def rows_per_second(self) -> float:
        """Finished rows per second since :meth:`start`."""
        return self.done / max(time.monotonic() - self._started, 1e-9)

    def line(self, rows_per_second: float | None = None) -> str:
        """``1200/3000 rows, ok 1190, failed 10, 240.0 rows/s`` (``, concurrency 24`` with
        ``--concurrency auto``)."""
        rate = self.rows_per_second() if rows_per_second is None else rows_per_second
        line = (
            f"ferry: {self.done}/{self.total} rows, ok {self.ok}, failed {self.failed}, "
            f"{rate:.1f} rows/s"
        )
        if self._concurrency is not None:
            line += f", concurrency {self._concurrency()}"
        return line

    def event(self, rows_per_second: float | None = None) -> dict[str, Any]:
        """The fields of the progress line, for JSON logs."""
        rate = self.rows_per_second() if rows_per_second is None else rows_per_second
        event: dict[str, Any] = {
            "done": self.done,
            "total": self.total,
            "ok": self.ok,
            "failed": self.failed,
            "rows_per_second": round(rate, 2),
        }
        if self._concurrency is not None:
            event["concurrency"] = self._concurrency()
        return event

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._log_every)
            # once, and rounded as the text shows it, so the text and the fields agree
            rate = round(self.rows_per_second(), 1)
            log.info(self.line(rate), extra=fields(**self.event(rate)))

    async def close(self) -> None:
        """Stop the bar or the log line."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._bar is not None:
            self._bar.set_postfix(self._postfix())
            self._bar.close()


class StepProgress:
    """A line every ``every`` seconds while a step that finishes no row goes on: called with
    how far it is (``ferry: planning: 120000 manifest rows read``; JSON logs carry ``step`` and
    ``done``). Quiet for the first ``every`` seconds: a short step says nothing."""

    def __init__(self, step: str, unit: str, *, every: float) -> None:
        self.step = step
        self.unit = unit
        self._every = every
        self._last = time.monotonic()

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if now - self._last < self._every:
            return
        self._last = now
        log.info(f"ferry: {self.step}: {done} {self.unit}", extra=fields(step=self.step, done=done))
