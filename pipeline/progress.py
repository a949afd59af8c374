"""Progress on stderr: a tqdm bar on a terminal, one plain log line every few seconds otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from typing import TextIO

from tqdm import tqdm


class Progress:
    """Counts finished rows and shows them; ``start()``/``close()`` bracket the run."""

    def __init__(
        self,
        total: int,
        *,
        bar: bool,
        log_every: float = 5.0,
        stream: TextIO | None = None,
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

    @property
    def done(self) -> int:
        """Rows finished so far."""
        return self.ok + self.failed

    def start(self) -> None:
        """Show the bar, or start the periodic log line."""
        self._started = time.monotonic()
        if self._bar_wanted:
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
                self._bar.set_postfix(ok=self.ok, failed=self.failed, refresh=False)

    def line(self) -> str:
        """``1200/3000 rows, ok 1190, failed 10, 240.0 rows/s``."""
        elapsed = max(time.monotonic() - self._started, 1e-9)
        return (
            f"ferry: {self.done}/{self.total} rows, ok {self.ok}, failed {self.failed}, "
            f"{self.done / elapsed:.1f} rows/s"
        )

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._log_every)
            print(self.line(), file=self._stream, flush=True)

    async def close(self) -> None:
        """Stop the bar or the log line."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._bar is not None:
            self._bar.set_postfix(ok=self.ok, failed=self.failed)
            self._bar.close()
