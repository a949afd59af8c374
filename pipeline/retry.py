"""The one retry policy: which failures are tried again, how often, and after how long.

``ferry run`` (:mod:`pipeline.worker`) and ``ferry verify`` (:mod:`pipeline.verify`) both ask it.
A failure is tried again when its class says it is ``retryable`` and tries are left; the pause
is full-jitter exponential back-off, and a ``Retry-After`` the answer carried is a floor.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pipeline.errors import UploadError

#: A ``Retry-After`` is honoured up to this many back-off caps (a server asking for a day is
#: not waited for; the row fails and the next run retries it).
RETRY_AFTER_CAPS = 10


def backoff_delay(
    attempt: int, *, base: float, cap: float, retry_after: float | None = None
) -> float:
    """Full-jitter exponential back-off before retry number ``attempt`` (1-based).

    ``Retry-After`` from the answer is a floor: ferry never comes back sooner than asked.
    """
    delay = random.uniform(0, min(cap, base * 2 ** (attempt - 1)))
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap * RETRY_AFTER_CAPS))
    return delay


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``retries`` tries after the first, with back-off from ``backoff_base`` up to ``backoff_cap``
    seconds (``--retries``; the back-off numbers also pace the 429 gate of a run)."""

    retries: int
    backoff_base: float = 0.5
    backoff_cap: float = 30.0

    def should_retry(self, error: UploadError, attempts: int) -> bool:
        """True when ``error``, met on try number ``attempts``, deserves another try."""
        return error.retryable and attempts <= self.retries

    def delay(self, error: UploadError, attempts: int) -> float:
        """Seconds to wait before the try after number ``attempts``."""
        return backoff_delay(
            attempts, base=self.backoff_base, cap=self.backoff_cap, retry_after=error.retry_after
        )
