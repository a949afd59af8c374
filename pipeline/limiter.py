"""The limit of ``--concurrency auto``: how many requests may be in flight, learnt from answers.

The method is TCP Vegas as Netflix's concurrency-limits applies it to requests (``VegasLimit``),
updated smoothly as its ``Gradient2Limit`` is, and with TCP's multiplicative decrease on loss:

* It starts as TCP does, in *slow start*: the limit doubles every round until the latency
  rises by a quarter over ``rtt_noload`` or a request is dropped; then it moves as below.
* Answers are taken in *rounds*: at least as many answers as the limit (about one round trip's
  worth) and at least :data:`MIN_ROUND_SECONDS`. A round's latency is its median, so a few slow
  requests (a large file, a slow source) do not read as congestion.
* ``rtt_noload``, the latency of an API that is not queueing, is the least round latency of the
  last :data:`NOLOAD_WINDOW_SECONDS` (a window, so that a lasting change of the API is learnt).
* Vegas's estimate of the requests that wait in the API's queues rather than being served is
  ``queue = limit × (1 − rtt_noload / rtt)``. Each round moves the limit halfway towards
  ``limit − queue + allowance``: it grows by the allowance while answers come back as fast as
  before, and shrinks in proportion when latency inflates (by at most half a round). It settles
  where ``queue`` equals the allowance, ``max(3, √limit)``: a little above what the API serves
  at once. Because the allowance grows more slowly than the limit, runs that share an API settle
  at equal limits (a larger one sees its queue above its allowance and gives way).
* A drop (429, 455, 5xx, a timeout) halves the limit at once, as TCP does on loss: deep enough
  that the API's queues drain and the next rounds see its latency without a queue again.
  Answers to requests sent before a cut do not count after it (they met the old limit).
* Every :data:`PROBE_EVERY_SECONDS` one round runs at three quarters of the limit (as BBR's
  ProbeRTT does): the queue it may have built drains, and ``rtt_noload`` is measured afresh
  before the window forgets it; otherwise a run that keeps a queue would, once the window had
  moved on, take its own queue for the API's latency and grow into 429s.
* A round in which fewer than half the limit were in flight (the manifest's tail, retries
  waiting) does not grow the limit: nothing was learnt about a larger one.

The object is pure: it is fed ``(latency, dropped, in_flight)`` samples and reads time from the
clock it is given, so tests drive it with synthetic latencies. The fan-out
(:class:`pipeline.engine.LimitedSlots`) bounds the requests in flight by :attr:`limit`.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

DEFAULT_MAXIMUM = 256
#: Where ``auto`` starts: small, so an API that takes few requests at once sees few 429s.
INITIAL_LIMIT = 4
MIN_ROUND_SAMPLES = 4
MIN_ROUND_SECONDS = 0.05
NOLOAD_WINDOW_SECONDS = 10.0
#: Slow start ends at the first round whose latency is this multiple of ``rtt_noload``.
SLOW_START_EXIT = 1.25
#: Latency up to this multiple of ``rtt_noload`` is not read as queueing (as Gradient2Limit's
#: ``rttTolerance``): an API's latency rises a little with its load before it saturates.
TOLERANCE = 1.0
#: How often a round runs at :data:`PROBE_SHARE` of the limit to measure ``rtt_noload`` again.
PROBE_EVERY_SECONDS = NOLOAD_WINDOW_SECONDS / 2
PROBE_SHARE = 0.75
#: Each round moves the limit this share of the way towards its new estimate.
SMOOTHING = 0.5
#: Latency alone never cuts the limit below this share of itself in one round.
MAX_CUT = 0.5
#: A drop cuts the limit to this share of itself.
DROP_CUT = 0.5


def allowance(limit: float) -> float:
    """The queue a run may keep at the API: ``max(3, √limit)``."""
    return max(3.0, math.sqrt(limit))


class AdaptiveLimit:
    """An adaptive concurrency limit between 1 and ``maximum`` (see the module docstring).

    ``limit`` is the limit in force; ``lowest`` and ``highest`` the extremes it has taken.
    """

    def __init__(
        self,
        maximum: int = DEFAULT_MAXIMUM,
        *,
        initial: int = INITIAL_LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if maximum < 1:
            raise ValueError("maximum must be at least 1")
        self.maximum = maximum
        self._clock = clock
        self._estimate = float(min(max(initial, 1), maximum))
        self.limit = int(self._estimate)
        self.lowest = self.limit
        self.highest = self.limit
        self._noload: deque[tuple[float, float]] = deque()  # (time, latency), latencies rising
        self._cut_at = -math.inf
        self._round_start = 0.0
        self._latencies: list[float] = []
        self._most_in_flight = 0
        self._slow_start = True
        self._probe_at = clock() + PROBE_EVERY_SECONDS
        self._probing = False

    def on_sample(self, latency: float, *, dropped: bool, in_flight: int) -> None:
        """One answer: its ``latency`` in seconds, whether the API ``dropped`` it (429, 455,
        5xx, timeout), and how many requests were in flight when it came."""
        now = self._clock()
        if now - latency < self._cut_at:
            return  # sent before the last cut: it says nothing about the limit in force
        if dropped:  # at once: a round's worth of further requests would meet the wall too
            self._probing = self._slow_start = False
            self._set(self._estimate * DROP_CUT)
            self._cut_at = now
            self._new_round()
            return
        if not self._latencies:
            self._round_start = now - latency
        self._latencies.append(latency)
        self._most_in_flight = max(self._most_in_flight, in_flight)
        if len(self._latencies) >= max(MIN_ROUND_SAMPLES, self.limit) and (
            now - self._round_start >= MIN_ROUND_SECONDS
        ):
            self._end_round(now)

    def _new_round(self) -> None:
        self._latencies = []
        self._most_in_flight = 0

    def _end_round(self, now: float) -> None:
        latencies = sorted(self._latencies)
        app_limited = self._most_in_flight < self._estimate / 2
        self._new_round()
        rtt = latencies[len(latencies) // 2]
        noload = self._noload_latency(now, rtt)
        if self._probing:  # measured: back to the limit
            self._probing = False
            self._set(self._estimate)
            return
        if now >= self._probe_at and not self._slow_start:
            self._probe(now)
            return
        if app_limited or rtt <= 0:
            return
        if self._slow_start:
            if rtt <= SLOW_START_EXIT * noload:
                self._set(self._estimate * 2)
                return
            self._slow_start = False
        gradient = max(MAX_CUT, min(1.0, TOLERANCE * noload / rtt))
        target = self._estimate * gradient + allowance(self._estimate)
        self._set(self._estimate + SMOOTHING * (target - self._estimate))

    def _probe(self, now: float) -> None:
        """Run the next round at :data:`PROBE_SHARE` of the limit (see the module docstring)."""
        self._probing = True
        self._probe_at = now + PROBE_EVERY_SECONDS
        self._cut_at = now  # the round counts only requests sent at the lower limit
        self.limit = max(1, int(self._estimate * PROBE_SHARE))

    def _noload_latency(self, now: float, rtt: float) -> float:
        """Add this round's latency to the window; the least of the window."""
        window = self._noload
        while window and window[-1][1] >= rtt:
            window.pop()
        window.append((now, rtt))
        while window[0][0] < now - NOLOAD_WINDOW_SECONDS:
            window.popleft()
        return window[0][1]

    def _set(self, estimate: float) -> None:
        self._estimate = min(float(self.maximum), max(1.0, estimate))
        self.limit = int(self._estimate)
        self.lowest = min(self.lowest, self.limit)
        self.highest = max(self.highest, self.limit)
