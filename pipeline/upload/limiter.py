"""The limit of ``--concurrency auto``: how many requests may be in flight, learnt from answers.

The method is TCP Vegas as Netflix's concurrency-limits applies it to requests (``VegasLimit``),
updated smoothly as its ``Gradient2Limit`` is, with TCP's slow start and multiplicative decrease
on loss, and BBR's periodic re-measurement of the latency floor (ProbeRTT):

* **Rounds.** Answers are taken in rounds of at least as many answers as the limit (about one
  round trip's worth) and at least :data:`MIN_ROUND_SECONDS`. A round's latency is its median,
  so a few slow requests (a large file, a slow source) do not read as congestion.
  ``rtt_noload``, the API's latency without a queue, is the least round latency of the last
  :data:`NOLOAD_WINDOW_SECONDS`.
* **Slow start.** The limit starts at :data:`INITIAL_LIMIT` and doubles every round while
  doubling pays: while the requests served per second (requests in flight over latency,
  Little's law) grow by at least :data:`LADDER_GAIN` with each doubling. A round after a
  doubling counts only the requests sent at the new limit. Slow start ends at the first
  doubling that does not pay, or at a drop.
* **Each round** then moves the limit halfway towards ``limit x rtt_noload / rtt + allowance``
  (never below half of it in one round). ``limit x (1 - rtt_noload / rtt)`` is Vegas's estimate
  of the requests that wait at the API instead of being served: the limit grows by the
  allowance, ``max(3, √limit)``, while none wait, shrinks in proportion when latency inflates,
  and settles where the requests waiting equal the allowance: a few above what the API serves
  at once. Because the allowance grows more slowly than the limit, runs that share an API
  settle at similar limits (a larger one sees more of its requests waiting, and gives way).
* **Probes.** One round every :data:`PROBE_EVERY_SECONDS` runs at :data:`PROBE_SHARE` of the
  limit, or one and a half allowances below it if that is lower: the queue the run keeps drains
  and ``rtt_noload`` is measured afresh before the window forgets it. The window in turn lets
  every run that shares an API forget what it measured before the others came, so a run that
  started late, and first took the others' queue for the API's latency, does not keep a
  larger share.
* **Drops.** A 429, 455, 5xx or timeout halves the limit at once, as TCP does on loss: the
  API's queues drain and the rounds after see its latency without a queue again. Answers to
  requests sent before a cut do not count after it: they met the old limit, and one burst of
  429s cuts once. Nor does a drop within one round trip of the last (TCP cuts once per
  window): the fan-out hands a larger limit's slots out over a few milliseconds, so some
  requests of the burst that met the wall leave after its first 429 came back.
* **Floor.** Until the API has dropped a request, latency alone never takes the limit below
  :data:`FLOOR`, ferry's fixed default: ``auto`` does not hold fewer requests than
  ``--concurrency 16`` on an API that does not push back (one that answers at once spends its
  time on CPU, where fewer requests in flight only lose the overlap of client and server).
  After a drop there is no floor but 1.
* **Idle.** A round in which the limit was never full (the manifest's tail, rows waiting for a
  retry, a ``--rate``) does not grow the limit: nothing was learnt about a larger one (TCP's
  congestion window validation, RFC 7661). Netflix's rule, fewer than half in flight, let the
  limit of a small API climb while its 429'd rows waited out their ``Retry-After``.

The object is pure: it is fed ``(latency, dropped, in_flight)`` samples and reads time from the
clock it is given, so tests drive it with synthetic latencies. The fan-out
(:class:`pipeline.upload.engine.LimitedSlots`) bounds the requests in flight by :attr:`limit`.
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
#: How often a round runs at :data:`PROBE_SHARE` of the limit to measure ``rtt_noload`` again.
PROBE_EVERY_SECONDS = NOLOAD_WINDOW_SECONDS / 2
PROBE_SHARE = 0.75
#: Slow start goes on while a doubling of the limit serves this many times the requests.
LADDER_GAIN = 1.25
#: Each round moves the limit this share of the way towards its new estimate.
SMOOTHING = 0.5
#: Latency alone never cuts the limit below this share of itself in one round.
MAX_CUT = 0.5
#: A drop cuts the limit to this share of itself.
DROP_CUT = 0.5
#: The least limit that latency alone may set, until the API first drops a request.
FLOOR = 16


def allowance(limit: float) -> float:
    """The queue a run may keep at the API: ``max(3, √limit)``."""
    return max(3.0, math.sqrt(limit))


class AdaptiveLimit:
    """An adaptive concurrency limit between 1 and ``maximum`` (see the module docstring).

    ``limit`` is the limit in force; ``lowest`` and ``highest`` the extremes it has taken
    (a probe's lower limit is not counted).
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
        self._floor = float(min(FLOOR, maximum))
        self._noload: deque[tuple[float, float]] = deque()  # (time, latency), latencies rising
        self._slow_start = True
        #: Slow start: the requests served per second at the last doubling that paid.
        self._paid: float | None = None
        self._probing = False
        self._probe_at = math.inf
        self._cut_at = -math.inf
        self._dropped_at = -math.inf
        self._round_start = 0.0
        self._latencies: list[float] = []
        self._most_in_flight = 0

    def on_sample(self, latency: float, *, dropped: bool, in_flight: int) -> None:
        """One answer: its ``latency`` in seconds, whether the API ``dropped`` it (429, 455,
        5xx, timeout), and how many requests were in flight when it came."""
        now = self._clock()
        if now - latency < self._cut_at:
            return  # sent before the last cut: it says nothing about the limit in force
        if dropped and now - self._dropped_at < self._round_trip():
            # the same burst: a larger limit's slots are handed out over a few milliseconds,
            # so some of its requests leave after the first 429 came back
            return
        if dropped:  # at once: a round's worth of further requests would meet the wall too
            self._end_slow_start(now)
            self._probing = False
            self._floor = 1.0
            self._set(self._estimate * DROP_CUT)
            self._cut_at = self._dropped_at = now
            self._latencies, self._most_in_flight = [], 0
            return
        if not self._latencies:
            self._round_start = now - latency
        self._latencies.append(latency)
        self._most_in_flight = max(self._most_in_flight, in_flight)
        if len(self._latencies) >= max(MIN_ROUND_SAMPLES, self.limit) and (
            now - self._round_start >= MIN_ROUND_SECONDS
        ):
            self._end_round(now)

    def _end_round(self, now: float) -> None:
        latencies, in_flight = sorted(self._latencies), self._most_in_flight
        self._latencies, self._most_in_flight = [], 0
        rtt = latencies[len(latencies) // 2]
        if rtt <= 0:
            return
        noload = self._noload_latency(now, rtt)
        app_limited = in_flight < self.limit
        if self._probing:  # measured: back to the limit
            self._probing = False
            self._set(self._estimate)
            return
        if self._slow_start:
            if app_limited:
                return
            served = in_flight / rtt
            if self._paid is None or served >= LADDER_GAIN * self._paid:
                self._paid = served
                self._set(self._estimate * 2)
                self._cut_at = now  # the next round measures the doubled limit alone
                return
            self._end_slow_start(now)
        if now >= self._probe_at:
            self._probe(now)
            return
        gradient = noload / rtt
        if app_limited and gradient >= 1.0:
            return
        target = self._estimate * max(MAX_CUT, gradient) + allowance(self._estimate)
        self._set(max(self._floor, self._estimate + SMOOTHING * (target - self._estimate)))

    def _end_slow_start(self, now: float) -> None:
        if self._slow_start:
            self._slow_start = False
            self._probe_at = now + PROBE_EVERY_SECONDS

    def _round_trip(self) -> float:
        """``rtt_noload`` as last measured; :data:`MIN_ROUND_SECONDS` before the first round."""
        return self._noload[0][1] if self._noload else MIN_ROUND_SECONDS

    def _probe(self, now: float) -> None:
        """Run the next round below the limit (see the module docstring)."""
        self._probing = True
        self._probe_at = now + PROBE_EVERY_SECONDS
        self._cut_at = now  # the round counts only requests sent at the lower limit
        drained = self._estimate - 1.5 * allowance(self._estimate)
        self.limit = max(1, int(min(self._estimate * PROBE_SHARE, drained)))

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
