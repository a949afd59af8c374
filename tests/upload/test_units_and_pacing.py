"""Durations, rates, the sliding-window rate cap and the back-off."""

from __future__ import annotations

import asyncio
import time

import pytest

from pipeline.core.errors import UsageError
from pipeline.core.units import Rate, parse_duration, parse_rate
from pipeline.upload.pacing import BackoffGate, SlidingWindowLimiter
from pipeline.upload.retry import backoff_delay


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("12h", 43200), ("3d", 259200), ("10", 10)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("20/10s", Rate(20, 10)),
        ("5/s", Rate(5, 1)),
        ("300/min", Rate(300, 60)),
        ("7/2m", Rate(7, 120)),
    ],
)
def test_rates(text: str, rate: Rate) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "fast", "0/s", "5/", "5/x", "-1/s"])
def test_bad_rates_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="--rate"):
        parse_rate(text)


@pytest.mark.parametrize("text", ["", "soon", "3 days", "-5s"])
def test_bad_durations_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)


async def test_sliding_window_never_exceeds_the_cap_in_any_window() -> None:
    rate = Rate(count=5, per_seconds=0.25)
    limiter = SlidingWindowLimiter(rate)
    starts: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        starts.append(time.monotonic())

    began = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(17))), timeout=5)
    # the first window holds at most 5 (no initial burst beyond the cap) ...
    assert sum(1 for s in starts if s - began < rate.per_seconds) <= 5
    # ... and so does every window that starts at any request
    for first in starts:
        assert sum(1 for s in starts if first <= s < first + rate.per_seconds) <= 5
    # 17 starts need at least 3 full windows
    assert max(starts) - began >= 3 * rate.per_seconds


def test_backoff_is_jittered_exponential_and_honours_retry_after() -> None:
    delays = [backoff_delay(1, base=1.0, cap=30.0) for _ in range(200)]
    assert all(0 <= d <= 1.0 for d in delays) and len(set(delays)) > 100
    assert all(0 <= backoff_delay(4, base=1.0, cap=30.0) <= 8.0 for _ in range(50))
    assert all(backoff_delay(10, base=1.0, cap=3.0) <= 3.0 for _ in range(50))
    assert backoff_delay(1, base=0.1, cap=30.0, retry_after=2.0) >= 2.0


async def test_backoff_gate_pauses_everyone_after_a_429() -> None:
    gate = BackoffGate(base=0.05, cap=1.0)
    gate.on_rate_limited(retry_after=0.2)
    began = time.monotonic()
    await gate.wait()
    assert time.monotonic() - began >= 0.18


async def test_a_burst_of_429s_closes_the_gate_once_without_escalating() -> None:
    gate = BackoffGate(base=0.05, cap=30.0)
    for _ in range(12):  # twelve in-flight requests all answered 429 at once
        gate.on_rate_limited(retry_after=0.1)
    began = time.monotonic()
    await gate.wait()
    assert 0.08 <= time.monotonic() - began < 0.5
