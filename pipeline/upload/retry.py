"""The one retry policy: which failures are tried again, how often, and after how long.

``ferry run`` (:mod:`pipeline.upload.worker`) and ``ferry verify`` (:mod:`pipeline.commands.links`)
both go through :func:`tries`, the one retry loop. A failure is tried again when its class says it
is ``retryable`` and tries are left; the pause is full-jitter exponential back-off, and a
``Retry-After`` the answer carried is a floor.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from pipeline.core.errors import UploadError

T = TypeVar("T")

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


def _never(_error: UploadError) -> bool:
    return False


def _no_stop() -> bool:
    return False


async def tries(
    policy: RetryPolicy,
    attempt: Callable[[], Awaitable[T]],
    *,
    again_at_once: Callable[[UploadError], bool] = _never,
    failed: Callable[[UploadError], None] | None = None,
    pause: Callable[[float], Awaitable[None]] = asyncio.sleep,
    stopped: Callable[[], bool] = _no_stop,
) -> tuple[T | UploadError, int]:
    """Call ``attempt`` until it returns, fails for good or its tries run out; what it gave
    (its value, or the last :class:`UploadError`) and how many tries that took.

    ``again_at_once`` says a failure is tried again at once, whatever the policy says (``--via
    auto`` falling back to relay; the try counts among the row's attempts); ``failed`` hears of
    every other failure (pacing, the adaptive limit); ``pause`` waits out a back-off; once
    ``stopped`` says so, nothing is tried again. An exception that is not an
    :class:`UploadError` (a bug) is raised as it is.
    """
    count = 0
    while True:
        count += 1
        try:
            return await attempt(), count
        except UploadError as error:
            if again_at_once(error):
                continue
            if failed is not None:
                failed(error)
            if not policy.should_retry(error, count) or stopped():
                return error, count
            await pause(policy.delay(error, count))
            if stopped():
                return error, count
