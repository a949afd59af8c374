"""Request pacing shared by every worker of a run: the ``--rate`` cap and the 429 back-off gate.

:class:`Pacing` is what a worker sees: wait until a request may start, report how it went.

The rate cap is a sliding window: a request may start only when fewer than ``count`` requests
started in the last ``per_seconds``. Unlike a token bucket that starts full, or a leaky bucket,
this never lets the API see more than the cap in any window, the first one included.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from pipeline.core.errors import RateLimitedError, UploadError
from pipeline.core.units import Rate
from pipeline.upload.retry import RetryPolicy

#: Requests reach the server a little after they leave, and not always equally late: a start
#: waits for the window plus this margin (2 %, at least 50 ms) so jitter cannot squeeze one more
#: request into the server's window.
_WINDOW_MARGIN = 1.02
_WINDOW_PAD_SECONDS = 0.05


class SlidingWindowLimiter:
    """At most ``rate.count`` request starts in any window of ``rate.per_seconds``."""

    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        self._starts: deque[float] = deque(maxlen=rate.count)
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait for a slot in the window, then record this start."""
        window = max(
            self.rate.per_seconds * _WINDOW_MARGIN, self.rate.per_seconds + _WINDOW_PAD_SECONDS
        )
        async with self._lock:
            while len(self._starts) == self.rate.count:
                wait = self._starts[0] + window - time.monotonic()
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            self._starts.append(time.monotonic())


class BackoffGate:
    """After 429s, every worker waits: the API's ``Retry-After`` or a growing pause.

    Without ``--rate`` this is how ferry slows down on its own; a success halves the pause.
    """

    def __init__(self, *, base: float = 0.5, cap: float = 30.0) -> None:
        self._base = base
        self._cap = cap
        self._open_at = 0.0
        self._strikes = 0

    def on_rate_limited(self, retry_after: float | None) -> None:
        """Close the gate for ``retry_after`` seconds, or an exponentially growing pause.

        429s that arrive while the gate is already closed answer requests sent before it closed:
        they extend the pause to their ``Retry-After`` but do not make it grow.
        """
        now = time.monotonic()
        if now >= self._open_at:
            self._strikes += 1
        pause = min(self._cap, self._base * 2 ** min(max(self._strikes - 1, 0), 16))
        if retry_after is not None:
            pause = max(pause, retry_after)
        self._open_at = max(self._open_at, now + pause)

    def on_success(self) -> None:
        """Relax after a success."""
        if self._strikes:
            self._strikes //= 2

    @property
    def closed(self) -> bool:
        """True while workers must wait (checked without a coroutine on the hot path)."""
        return self._open_at > time.monotonic()

    async def wait(self) -> None:
        """Wait while the gate is closed."""
        delay = self._open_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


class Pacing:
    """The pacing of one run: after 429s the gate holds every worker, then ``--rate`` spaces the
    starts. The gate's pauses use the retry policy's back-off numbers.

    With ``adaptive`` (``--concurrency auto``) a 429 never closes the gate: it cuts the adaptive
    limit instead (:mod:`pipeline.upload.limiter`), so the other rows in flight go on while the
    limit shrinks, and the row that met it waits for its own ``Retry-After``.
    """

    def __init__(
        self, policy: RetryPolicy, rate: Rate | None = None, *, adaptive: bool = False
    ) -> None:
        self.gate = BackoffGate(base=policy.backoff_base, cap=policy.backoff_cap)
        self.limiter = SlidingWindowLimiter(rate) if rate else None
        self.adaptive = adaptive

    @property
    def free(self) -> bool:
        """True when a request may start at once (checked without a coroutine: a hot path)."""
        return self.limiter is None and not self.gate.closed

    async def ready(self) -> None:
        """Wait until the next request may start."""
        if self.gate.closed:
            await self.gate.wait()
        if self.limiter is not None:
            await self.limiter.acquire()

    def on_error(self, error: UploadError) -> None:
        """A request failed: a 429 closes the gate for everyone (unless the limit adapts)."""
        if isinstance(error, RateLimitedError) and not self.adaptive:
            self.gate.on_rate_limited(error.retry_after)

    def on_success(self) -> None:
        """A request succeeded: the gate relaxes."""
        self.gate.on_success()
