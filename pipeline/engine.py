"""Bounded fan-out: at most ``concurrency`` tasks exist at any moment, whatever the input size.

The producer takes a slot before it creates each task and the task frees it when done (the
aiometer pattern), so a million-row plan never means a million pending tasks. ``work`` turns
every failure into a result of its own; the pool itself never crashes on one item.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal as signal_module
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")

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
        self.stopped.set()

    @property
    def interrupted(self) -> bool:
        """True once a signal (or ``interrupt()``) asked the run to stop."""
        return self.interrupted_at is not None

    @property
    def is_set(self) -> bool:
        """True once either stop or interrupt was asked for."""
        return self.stopped.is_set()


@contextlib.contextmanager
def interrupt_on_signals(signal: StopSignal, *, notice: str, out: TextIO) -> Iterator[None]:
    """SIGINT/SIGTERM interrupt ``signal``: the first one lets in-flight work finish within the
    grace period, a second one cancels it at once. ``notice`` is logged on the first (``out``
    is no longer used)."""
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


async def fan_out(
    items: Iterable[T],
    work: Callable[[T], Awaitable[None]],
    *,
    concurrency: int,
    signal: StopSignal,
    grace_seconds: float = 5.0,
) -> int:
    """Run ``work`` over ``items`` with at most ``concurrency`` in flight; returns items started."""
    slots = asyncio.Semaphore(concurrency)
    running: set[asyncio.Task[None]] = set()
    started = 0

    async def guarded(item: T) -> None:
        try:
            await work(item)
        finally:
            slots.release()

    for item in items:
        await slots.acquire()
        if signal.is_set:
            slots.release()
            break
        task = asyncio.create_task(guarded(item))
        running.add(task)
        task.add_done_callback(running.discard)
        started += 1
    await _drain(running, signal, grace_seconds)
    return started


async def _drain(running: set[asyncio.Task[None]], signal: StopSignal, grace: float) -> None:
    while running:
        await asyncio.wait(set(running), timeout=DRAIN_POLL_SECONDS)
        if signal.interrupted_at is not None and time.monotonic() - signal.interrupted_at > grace:
            for task in list(running):
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            return
