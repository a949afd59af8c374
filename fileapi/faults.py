"""Fault knobs for testing clients: latency, rate limit, replayed failures, random 500s.

One middleware, built by :func:`fault_middleware`, runs inside authentication:

* ``latency_ms`` delays every request;
* ``rate_limit`` is a sliding window per API key over every ``/api/`` request; a request over
  it is answered 429 with ``Retry-After`` (whole seconds, at least 1) and is not counted;
* ``fail_sequence`` answers the first upload requests with exactly those statuses, in order
  (``200`` lets that request through), then stops;
* ``fail_rate`` answers that share of the remaining upload requests 500.

``status_mode`` is applied by the error middleware (``fileapi.middleware``), to every answer.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from collections.abc import Callable, Iterable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from fileapi.responses import ApiError
from pipeline.core.units import Rate

UPLOAD_PATHS = frozenset(
    {"/api/file-url-upload", "/api/file-stream-upload", "/api/file-base64-upload"}
)


class SlidingWindow:
    """At most ``rate.count`` admitted requests per key in any ``rate.per_seconds`` window."""

    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}

    def admit(self, key: str) -> float | None:
        """``None`` if ``key`` may go now (and count it), else seconds until it may."""
        now = self._clock()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.rate.per_seconds:
            hits.popleft()
        if len(hits) >= self.rate.count:
            return hits[0] + self.rate.per_seconds - now
        hits.append(now)
        return None


class FaultState:
    """Mutable fault state: what is left of ``fail_sequence``, the RNG, the rate window."""

    def __init__(
        self,
        *,
        fail_sequence: Iterable[int] = (),
        fail_rate: float = 0.0,
        rate_limit: Rate | None = None,
        seed: int | None = None,
    ) -> None:
        self.pending = deque(fail_sequence)
        self.fail_rate = fail_rate
        self.window = SlidingWindow(rate_limit) if rate_limit else None
        self._random = random.Random(seed)

    def next_forced_status(self) -> int | None:
        """The status the next upload request must get, or ``None`` to handle it normally."""
        if self.pending:
            status = self.pending.popleft()
            return None if status == 200 else status
        if self.fail_rate > 0 and self._random.random() < self.fail_rate:
            return 500
        return None


def forced_error(status: int) -> ApiError:
    """The error answered for a replayed or random failure with ``status``."""
    headers = {"Retry-After": "1"} if status in (429, 503) else None
    return ApiError(status, headers=headers)


def fault_middleware(
    state: FaultState, latency_ms: float, key_of: Callable[[web.Request], str | None]
) -> Middleware:
    """The middleware applying ``state`` and ``latency_ms``; ``key_of`` gives the API key."""

    @web.middleware
    async def faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        if latency_ms > 0:
            await asyncio.sleep(latency_ms / 1000)
        key = key_of(request)
        if key is not None and state.window is not None:
            wait = state.window.admit(key)
            if wait is not None:
                retry_after = str(max(1, math.ceil(wait)))
                raise ApiError(429, headers={"Retry-After": retry_after})
        if key is not None and request.method == "POST" and request.path in UPLOAD_PATHS:
            status = state.next_forced_status()
            if status is not None:
                raise forced_error(status)
        return await handler(request)

    return faults
