"""The fan-out under an adaptive limit: the limit in force, not the number of workers, bounds the
items in flight; a retry's back-off gives its slot to others; a stop ends the waiting."""

from __future__ import annotations

import asyncio

from pipeline.core.errors import RateLimitedError
from pipeline.upload.engine import LimitedSlots, StopSignal, fan_out
from pipeline.upload.limiter import AdaptiveLimit
from pipeline.upload.pacing import Pacing
from pipeline.upload.retry import RetryPolicy


def slots_at(limit: int) -> LimitedSlots:
    slots = LimitedSlots(AdaptiveLimit(64))
    slots.limit.limit = limit  # moved by hand here; by its answers in a run
    return slots


async def test_the_limit_in_force_bounds_the_items_in_flight_as_it_moves() -> None:
    slots = slots_at(3)
    in_flight = most = 0
    most_by_phase: dict[str, int] = {"low": 0, "high": 0}

    async def work(item: int) -> None:
        nonlocal in_flight, most
        in_flight += 1
        phase = "low" if slots.limit.limit == 3 else "high"
        most_by_phase[phase] = max(most_by_phase[phase], in_flight)
        if item == 30:
            slots.limit.limit = 7  # the limit grows mid-run
        await asyncio.sleep(0.002)
        in_flight -= 1

    started = await fan_out(range(100), work, concurrency=32, signal=StopSignal(), slots=slots)
    assert started == 100
    assert most_by_phase["low"] == 3 and most_by_phase["high"] == 7
    assert slots.in_flight == 0


async def test_a_backing_off_row_lends_its_slot_to_the_next_row() -> None:
    slots = slots_at(1)
    order: list[str] = []

    async def work(item: int) -> None:
        order.append(f"start {item}")
        if item == 0:
            await slots.pause(0.05)  # a retry's back-off
        order.append(f"end {item}")

    await fan_out(range(2), work, concurrency=4, signal=StopSignal(), slots=slots)
    assert order == ["start 0", "start 1", "end 1", "end 0"]
    assert slots.in_flight == 0


async def test_a_row_back_from_its_back_off_goes_before_new_rows() -> None:
    slots = slots_at(1)
    order: list[str] = []

    async def work(item: int) -> None:
        order.append(f"start {item}")
        if item == 0:
            await slots.pause(0.03)  # meanwhile 31 idle workers queue for the slot
        else:
            await asyncio.sleep(0.02)
        order.append(f"end {item}")

    await fan_out(range(10), work, concurrency=32, signal=StopSignal(), slots=slots)
    assert order.index("end 0") < order.index("start 4")  # not after every new row


async def test_a_stop_ends_the_workers_that_wait_for_a_slot() -> None:
    slots = slots_at(2)
    signal = StopSignal()
    taken: list[int] = []

    async def work(item: int) -> None:
        taken.append(item)
        if len(taken) == 4:
            signal.stop()
        await asyncio.sleep(0.01)

    started = await asyncio.wait_for(
        fan_out(range(1000), work, concurrency=64, signal=signal, slots=slots), timeout=10
    )
    assert started == len(taken) <= 5  # those in flight finished; nobody took another
    assert slots.in_flight == 0


def test_with_an_adaptive_limit_a_429_does_not_close_the_gate_for_everyone() -> None:
    policy = RetryPolicy(4)
    error = RateLimitedError("slow down", http_status=429, retry_after=1.0)
    fixed, adaptive = Pacing(policy), Pacing(policy, adaptive=True)
    fixed.on_error(error)
    adaptive.on_error(error)
    assert not fixed.free and adaptive.free
