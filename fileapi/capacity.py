"""``ferry serve --capacity N [--queue M]``: the server behaves like an API with N upload workers.

N uploads are served at once, M more wait for a worker in arrival order, and any further one is
answered 429 with ``Retry-After: 1`` at once, without waiting. Only the three upload endpoints
count, and only requests that passed authentication. The middleware sits outside the fault
knobs, so ``--latency`` is time a worker spends on an upload: with ``--latency 50`` and N
workers the server completes at most N / 50 ms uploads per second, whatever the clients do.
"""

from __future__ import annotations

import asyncio
from collections import deque

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from fileapi.faults import UPLOAD_PATHS
from fileapi.responses import ApiError

RETRY_AFTER_SECONDS = "1"


class Capacity:
    """N workers and M places in their queue, with what they have seen (for tests and benchmarks).

    ``serving`` is the uploads being served now and ``waiting`` those queued; ``most_serving``
    and ``most_waiting`` the most there have been at once; ``rejected`` counts the 429s.
    """

    def __init__(self, workers: int, queue: int) -> None:
        self.workers = workers
        self.queue = queue
        self.serving = 0
        self.most_serving = 0
        self.most_waiting = 0
        self.rejected = 0
        self._queued: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        """Uploads waiting for a worker now."""
        return len(self._queued)

    def admit(self) -> bool:
        """Whether an upload that arrives now may be served or wait (False: answer it 429)."""
        if self.serving + self.waiting >= self.workers + self.queue:
            self.rejected += 1
            return False
        return True

    async def serve(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Wait for a worker (first come, first served), then let ``handler`` answer."""
        if self.serving < self.workers:
            self.serving += 1
        else:
            waiter = asyncio.get_running_loop().create_future()
            self._queued.append(waiter)
            self.most_waiting = max(self.most_waiting, self.waiting)
            try:
                await waiter  # a worker that finishes hands itself over: serving stays the same
            except asyncio.CancelledError:
                if waiter.done():
                    self._hand_over()  # it had been handed a worker: pass it on
                else:
                    self._queued.remove(waiter)
                raise
        self.most_serving = max(self.most_serving, self.serving)
        try:
            return await handler(request)
        finally:
            self._hand_over()

    def _hand_over(self) -> None:
        """A worker is free: the next upload in the queue gets it, else it idles."""
        while self._queued:
            waiter = self._queued.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.serving -= 1


def capacity_middleware(capacity: Capacity) -> Middleware:
    """The middleware that puts every upload request through ``capacity``."""

    @web.middleware
    async def bounded(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method != "POST" or request.path not in UPLOAD_PATHS:
            return await handler(request)
        if not capacity.admit():
            raise ApiError(429, headers={"Retry-After": RETRY_AFTER_SECONDS})
        return await capacity.serve(request, handler)

    return bounded
