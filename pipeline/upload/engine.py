"""Bounded fan-out: ``concurrency`` workers and no other task, whatever the input size.

Each worker takes the next item from one shared iterator when its last one is done, so a
million-row plan never means a million pending tasks, nor a task created per row. ``work`` turns
every expected failure into a result of its own; an exception that escapes it is a bug, and the
workers live in an :class:`asyncio.TaskGroup` so that it stops the fan-out and is raised, never
left for the garbage collector to log.

With ``--concurrency auto`` there are as many workers as the limit may grow to, and each takes
a slot of :class:`LimitedSlots` before its next item (as aiometer's producer does): the
adaptive limit of :mod:`pipeline.upload.limiter`, not the number of workers, bounds the items in
flight.

Also here: the stop signal and its SIGINT/SIGTERM handlers, and the event loop a command runs on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal as signal_module
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from typing import Any, TypeVar

from pipeline.upload.limiter import AdaptiveLimit

T = TypeVar("T")
R = TypeVar("R")

DRAIN_POLL_SECONDS = 0.2


class StopSignal:
    """Why dispatch stopped: ``stop()`` lets in-flight work finish, ``interrupt()`` bounds it."""

    def __init__(self) -> None:
        self.stopped = asyncio.Event()
        self.interrupted_at: float | None = None

    def stop(self) -> None:
        """No new work; in-flight work finishes."""
        self.stopped.set()

    def interrupt(self) -> None:
        """No new work; in-flight work gets a grace period, then is cancelled."""
        if self.interrupted_at is None:
            self.interrupted_at = time.monotonic()
        self.stop()

    @property
    def interrupted(self) -> bool:
        """True once a signal (or ``interrupt()``) asked the run to stop."""
        return self.interrupted_at is not None

    @property
    def is_set(self) -> bool:
        """True once either stop or interrupt was asked for."""
        return self.stopped.is_set()


@contextlib.contextmanager
def interrupt_on_signals(signal: StopSignal, *, notice: str) -> Iterator[None]:
    """SIGINT/SIGTERM interrupt ``signal``: the first one lets in-flight work finish within the
    grace period, a second one cancels it at once. ``notice`` is logged on the first."""
    loop = asyncio.get_running_loop()
    installed: list[signal_module.Signals] = []

    def on_signal() -> None:
        if signal.interrupted:
            signal.interrupted_at = 0.0  # long ago: the grace period is over
            return
        signal.interrupt()
        logging.getLogger(__name__).warning(notice)  # logged, so --log-format json applies

    for signum in (signal_module.SIGINT, signal_module.SIGTERM):
        # not available off the main thread or on some platforms: then Ctrl-C is a plain interrupt
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, on_signal)
            installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def run_event_loop(coro: Coroutine[Any, Any, R]) -> R:
    """Run ``coro`` on uvloop when it is installed, else on asyncio's default loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


class LimitedSlots:
    """Slots for items in flight, as many as an :class:`AdaptiveLimit` allows at the moment.

    A worker takes one (:meth:`acquire`) before it takes an item and gives it back
    (:meth:`release`) when the item is done; answers are reported with :meth:`on_sample`, which
    moves the limit. A limit that shrinks takes effect as items finish: nothing is cancelled.
    """

    def __init__(self, limit: AdaptiveLimit) -> None:
        self.limit = limit
        self.in_flight = 0
        self._waiting: deque[asyncio.Future[bool]] = deque()
        self._closed = False

    async def acquire(self, *, first: bool = False) -> bool:
        """Wait for a free slot and take it; False (and no slot) once :meth:`close` was called.

        Slots go to the waiting in turn, a freed one handed to the next in line. ``first``
        waits ahead of the others: a row back from its back-off goes before new rows, or it
        would wait for every idle worker to take one (hundreds of rows) before its retry.
        """
        if self._closed:
            return False
        if self.in_flight < self.limit.limit and not self._waiting:
            self.in_flight += 1
            return True
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if first:
            self._waiting.appendleft(waiter)
        else:
            self._waiting.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if not waiter.done():
                self._waiting.remove(waiter)
            elif not waiter.cancelled() and waiter.result():
                self.release()  # handed a slot, but leaving
            raise

    def release(self) -> None:
        """Give a slot back."""
        self.in_flight -= 1
        self._wake()

    async def pause(self, seconds: float) -> None:
        """Give the slot back for ``seconds`` (a retry's back-off), then take one again.

        Once :meth:`close` was called the slot is taken back at once: the row finishes.
        """
        self.release()
        try:
            await asyncio.sleep(seconds)
            taken = await self.acquire(first=True)
        except BaseException:
            self.in_flight += 1  # the fan-out releases it when the row ends
            raise
        if not taken:
            self.in_flight += 1

    def on_sample(self, latency: float, *, dropped: bool) -> None:
        """An answer came after ``latency`` seconds (``dropped``: 429, 455, 5xx, timeout)."""
        self.limit.on_sample(latency, dropped=dropped, in_flight=self.in_flight)
        self._wake()

    def close(self) -> None:
        """No more slots: every waiting worker gets False."""
        self._closed = True
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(False)

    def _wake(self) -> None:
        """Hand the free slots to the next in line (counted as theirs at once)."""
        while self._waiting and self.in_flight < self.limit.limit:
            waiter = self._waiting.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(True)


#: Marks the end of the items (an item may be None).
_END: Any = object()


async def fan_out(
    items: Iterable[T],
    work: Callable[[T], Awaitable[None]],
    *,
    concurrency: int,
    signal: StopSignal,
    grace_seconds: float = 5.0,
    slots: LimitedSlots | None = None,
) -> int:
    """Run ``work`` over ``items`` with at most ``concurrency`` in flight; returns items started.

    ``concurrency`` workers take the items in order from one shared iterator, each taking its
    next one when its last is done: a run costs ``concurrency`` tasks, not one task per item
    (the bare ``gather`` loop pays a task, a semaphore wait and a callback per row). A worker
    takes nothing new once ``signal`` is set. With ``slots``, a worker also holds one of them
    for each item, so the adaptive limit bounds the items in flight below ``concurrency``.

    An exception raised by ``work`` cancels the other workers, stops dispatch and is raised
    here (the first one, when several fail at once).
    """
    source = iter(items)
    started = 0

    async def worker() -> None:
        nonlocal started
        while not signal.is_set:
            item = next(source, _END)  # synchronous: no two workers can take the same item
            if item is _END:
                return
            started += 1
            await work(item)

    async def limited_worker(slots: LimitedSlots) -> None:
        nonlocal started
        while await slots.acquire():
            try:
                item = _END if signal.is_set else next(source, _END)
                if item is _END:
                    slots.close()  # the others stop waiting for a slot too
                    return
                started += 1
                await work(item)
            finally:
                slots.release()

    try:
        async with asyncio.TaskGroup() as group:
            count = max(concurrency, 1)
            if slots is None:
                workers = {group.create_task(worker()) for _ in range(count)}
            else:
                workers = {group.create_task(limited_worker(slots)) for _ in range(count)}
            await _drain(workers, signal, grace_seconds, slots)
    except BaseExceptionGroup as group_error:
        raise _first_error(group_error) from None
    return started


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first exception of a task group (unwrapped), which is what a caller can handle."""
    first = group.exceptions[0]
    return _first_error(first) if isinstance(first, BaseExceptionGroup) else first


async def _drain(
    running: set[asyncio.Task[None]],
    signal: StopSignal,
    grace: float,
    slots: LimitedSlots | None = None,
) -> None:
    """Wait for the workers; after an interrupt's grace period, cancel what is left."""
    while running:
        _, running = await asyncio.wait(running, timeout=DRAIN_POLL_SECONDS)
        if slots is not None and signal.is_set:
            slots.close()  # workers waiting for a slot take nothing more
        if signal.interrupted_at is not None and time.monotonic() - signal.interrupted_at > grace:
            for task in list(running):
                task.cancel()
            return
