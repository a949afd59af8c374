"""The fan-out: at most N tasks at any moment, and a bug in ``work`` stops it loudly."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import pytest

from pipeline.upload.engine import StopSignal, fan_out


async def test_at_most_n_tasks_exist_and_every_item_is_done() -> None:
    done: list[int] = []
    most_tasks = 0
    baseline = len(asyncio.all_tasks())

    async def work(item: int) -> None:
        nonlocal most_tasks
        most_tasks = max(most_tasks, len(asyncio.all_tasks()) - baseline)
        await asyncio.sleep(0.001 * (item % 3))
        done.append(item)

    started = await fan_out(range(200), work, concurrency=8, signal=StopSignal())
    assert started == 200 and sorted(done) == list(range(200))
    assert most_tasks <= 8


async def test_items_are_taken_in_order_by_one_worker_each() -> None:
    taken: list[int] = []

    async def work(item: int | None) -> None:
        taken.append(-1 if item is None else item)
        await asyncio.sleep(0.001 * (len(taken) % 4))

    items = [*range(50), None, *range(50, 60)]  # None is an item like any other
    started = await fan_out(items, work, concurrency=6, signal=StopSignal())
    assert started == 61 and taken == [*range(50), -1, *range(50, 60)]


async def test_a_key_error_in_work_surfaces_and_stops_dispatch() -> None:
    handed_out: list[int] = []

    def items() -> Iterator[int]:
        for item in itertools.count():  # endless: only a stop ends this fan-out
            handed_out.append(item)
            yield item

    async def work(item: int) -> None:
        await asyncio.sleep(0.001)
        if item == 5:
            raise KeyError("url")

    with pytest.raises(KeyError, match="url"):
        await asyncio.wait_for(
            fan_out(items(), work, concurrency=4, signal=StopSignal()), timeout=10
        )
    assert len(handed_out) < 20  # dispatch stopped at once, it did not run on
    await asyncio.sleep(0)
    leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not leftovers  # the other tasks were cancelled and awaited, none left behind


async def test_stop_lets_in_flight_work_finish_and_starts_nothing_new() -> None:
    signal = StopSignal()
    finished: list[int] = []

    async def work(item: int) -> None:
        if item == 2:
            signal.stop()
        await asyncio.sleep(0.05)
        finished.append(item)

    started = await fan_out(range(100), work, concurrency=3, signal=signal)
    assert started == 3 and sorted(finished) == [0, 1, 2]


async def test_an_interrupt_cancels_what_outlives_the_grace_period() -> None:
    signal = StopSignal()
    cancelled: list[int] = []

    async def work(item: int) -> None:
        if item == 1:  # item 0 is in flight already
            signal.interrupt()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(item)
            raise

    started = await asyncio.wait_for(
        fan_out(range(10), work, concurrency=2, signal=signal, grace_seconds=0.1), timeout=10
    )
    assert started == 2 and sorted(cancelled) == [0, 1]
