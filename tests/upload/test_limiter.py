"""The adaptive limit of ``--concurrency auto``, in-process: synthetic APIs, an injected clock, no
sleeps and no sockets.

:class:`ModelApi` is an API with ``workers`` that each take ``latency`` per request, a queue of
``queue`` places, and a 429 for any request beyond (answered at once). Clients keep as many
requests in flight as their limit allows and report every answer (a request answered 429 gives
its slot back while its row waits, as in ``ferry run``; rows never run out here, so the slot is
taken again at once). Time only moves
from event to event, so a minute of traffic takes a fraction of a second to play.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from pipeline.upload.limiter import INITIAL_LIMIT, AdaptiveLimit

LATENCY = 0.05
NETWORK = 0.001


class Clock:
    """The time the limiter reads: set by the simulation."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Client:
    """One run: its limit, its requests in flight and what it got."""

    limit: AdaptiveLimit
    start: float = 0.0
    in_flight: int = 0
    done: list[float] = field(default_factory=list)
    dropped: list[float] = field(default_factory=list)
    limits: list[tuple[float, int]] = field(default_factory=list)

    def rate(self, since: float, until: float) -> float:
        """Requests served per second in ``[since, until)``."""
        return sum(1 for t in self.done if since <= t < until) / (until - since)

    def limits_between(self, since: float, until: float) -> list[int]:
        return [n for t, n in self.limits if since <= t < until]


@dataclass
class ModelApi:
    """``workers(t)`` workers of ``latency`` seconds each (times ``slow`` for the share
    ``slow_share`` of requests) and ``queue`` waiting places; 429 beyond. With ``crowding``,
    every request being served adds that many seconds to a request that starts: a server short
    of CPU whose latency is mostly a fixed delay."""

    workers: Callable[[float], int]
    queue: int
    latency: float = LATENCY
    slow_share: float = 0.0
    slow: float = 4.0
    crowding: float = 0.0
    seed: int = 7

    def play(self, clients: list[Client], clock: Clock, seconds: float) -> None:
        """Run the clients against the API for ``seconds`` of simulated time."""
        rng = random.Random(self.seed)
        events: list[tuple[float, int, str, int, float]] = []
        order = 0

        def push(at: float, kind: str, who: int, sent: float) -> None:
            nonlocal order
            order += 1
            heapq.heappush(events, (at, order, kind, who, sent))

        busy = 0
        waiting: deque[tuple[int, float]] = deque()

        def service() -> float:
            jitter = (self.latency + self.crowding * busy) * rng.uniform(0.9, 1.1)
            return jitter * self.slow if rng.random() < self.slow_share else jitter

        def fill(who: int, now: float) -> None:
            client = clients[who]
            while client.in_flight < client.limit.limit:
                client.in_flight += 1
                push(now, "arrive", who, now)

        for who, client in enumerate(clients):
            push(client.start, "start", who, 0.0)
        for tick in range(int(seconds * 10)):
            push(tick / 10, "tick", -1, 0.0)
        while events:
            now, _, kind, who, sent = heapq.heappop(events)
            if now > seconds:
                break
            clock.now = now
            if kind == "tick":
                for client in clients:
                    client.limits.append((now, client.limit.limit))
            elif kind == "start":
                fill(who, now)
            elif kind == "arrive":
                if busy < self.workers(now):
                    busy += 1
                    push(now + service(), "served", who, sent)
                elif len(waiting) < self.queue:
                    waiting.append((who, sent))
                else:
                    push(now + NETWORK, "rejected", who, sent)
            elif kind == "served":
                if waiting and busy <= self.workers(now):
                    next_who, next_sent = waiting.popleft()
                    push(now + service(), "served", next_who, next_sent)
                else:
                    busy -= 1
                self._answer(clients, who, now, sent)
                fill(who, now)
            else:  # rejected
                client = clients[who]
                client.limit.on_sample(now - sent, dropped=True, in_flight=client.in_flight)
                client.in_flight -= 1
                client.dropped.append(now)
                fill(who, now)

    @staticmethod
    def _answer(clients: list[Client], who: int, now: float, sent: float) -> None:
        client = clients[who]
        client.limit.on_sample(now - sent, dropped=False, in_flight=client.in_flight)
        client.in_flight -= 1
        client.done.append(now)


def usually(limits: list[int]) -> int:
    """The limit in force nine times out of ten: at least this."""
    return sorted(limits)[len(limits) // 10]


def capacity(workers: int) -> Callable[[float], int]:
    return lambda _t: workers


def clients_of(clock: Clock, count: int = 1, maximum: int = 256, **kw: float) -> list[Client]:
    return [
        Client(AdaptiveLimit(maximum, clock=clock), start=kw.get("start", 0.0) * i)
        for i in range(count)
    ]


@pytest.mark.parametrize(("workers", "queue"), [(16, 8), (64, 32)])
def test_it_starts_small_and_settles_at_what_the_api_serves_without_429s(
    workers: int, queue: int
) -> None:
    clock = Clock()
    (client,) = clients_of(clock)
    assert client.limit.limit == INITIAL_LIMIT
    ModelApi(capacity(workers), queue).play([client], clock, 30.0)
    served = workers / LATENCY
    assert client.rate(10.0, 30.0) >= 0.97 * served
    steady = client.limits_between(10.0, 30.0)
    assert max(steady) < workers + queue  # never into the 429s
    assert usually(steady) >= workers  # it dips below only for its rounds that measure afresh
    assert not [t for t in client.dropped if t >= 1.0]  # only slow start's overshoot met it


@pytest.mark.parametrize(("workers", "queue"), [(16, 8), (64, 32)])
def test_it_reaches_90_percent_of_the_api_within_a_second(workers: int, queue: int) -> None:
    clock = Clock()
    (client,) = clients_of(clock)
    ModelApi(capacity(workers), queue).play([client], clock, 5.0)
    assert client.rate(1.0, 5.0) >= 0.9 * workers / LATENCY


def test_it_follows_the_api_down_and_up_again_within_seconds() -> None:
    clock = Clock()
    (client,) = clients_of(clock)
    api = ModelApi(lambda t: 16 if 10.0 <= t < 20.0 else 64, queue=32)
    api.play([client], clock, 30.0)
    assert client.rate(12.0, 20.0) >= 0.95 * 16 / LATENCY
    assert max(client.limits_between(13.0, 20.0)) < 16 + 32  # shrunk below the new 429 wall
    assert client.rate(22.0, 30.0) >= 0.95 * 64 / LATENCY
    assert usually(client.limits_between(23.0, 30.0)) >= 64


def fixed(limit: int) -> AdaptiveLimit:
    """A limit that never moves (a fixed ``--concurrency``)."""
    return AdaptiveLimit(limit, initial=limit, clock=lambda: 0.0)


def test_a_server_whose_latency_grows_with_its_load_gets_at_least_the_fixed_default() -> None:
    """50 ms of fixed delay plus 2 ms per request being served (a server short of CPU): 16 in
    flight serve ~195/s, 64 ~320/s, at three times the latency. ``auto`` holds where latency
    starts to rise, but not below 16, as it never drops a request."""
    api = ModelApi(lambda _t: 10**6, queue=0, crowding=0.002)
    clock = Clock()
    client = Client(fixed(16))
    api.play([client], clock, 10.0)
    sixteen = client.rate(2.0, 10.0)
    clock = Clock()
    (client,) = clients_of(clock)
    api.play([client], clock, 20.0)
    assert usually(client.limits_between(5.0, 20.0)) >= 16  # its probes dip below, briefly
    assert client.rate(5.0, 20.0) >= 0.97 * sixteen


def test_one_burst_of_429s_cuts_once_though_some_of_it_left_after_the_cut() -> None:
    """The fan-out hands a larger limit's slots out over a few milliseconds: a request of the
    burst that met the wall may leave after the first 429 came back and cut the limit."""
    clock = Clock()
    limit = settled(clock)
    clock.now += 0.001
    limit.on_sample(0.001, dropped=True, in_flight=limit.limit)
    cut = limit.limit
    clock.now += 0.004
    limit.on_sample(0.002, dropped=True, in_flight=cut)  # sent 2 ms after the cut
    assert limit.limit == cut
    clock.now += LATENCY  # a round trip later the wall is met again: a second cut
    limit.on_sample(0.001, dropped=True, in_flight=cut)
    assert limit.limit < cut


@pytest.mark.parametrize(("workers", "queue"), [(20, 1000), (26, 1000)])
def test_an_endless_queue_gets_a_few_requests_over_the_workers(workers: int, queue: int) -> None:
    """An API that never answers 429 but queues: the limit stays a few above its workers (one
    doubling of slow start, 16 to 32, crosses them)."""
    clock = Clock()
    (client,) = clients_of(clock)
    ModelApi(capacity(workers), queue).play([client], clock, 10.0)
    assert client.rate(5.0, 10.0) >= 0.97 * workers / LATENCY
    assert usually(client.limits_between(5.0, 10.0)) >= workers
    assert max(client.limits_between(5.0, 10.0)) <= workers * 1.5


def test_on_an_api_that_never_pushes_back_it_keeps_at_least_the_fixed_default() -> None:
    """An API that answers at once and is short of CPU: more requests in flight only queue, so
    latency alone would hold few; until the API drops one, the floor is ferry's default, 16."""
    clock = Clock()
    (client,) = clients_of(clock)
    ModelApi(lambda _t: 10**6, queue=0, latency=0.0005, crowding=0.0005).play([client], clock, 5.0)
    assert usually(client.limits_between(1.0, 5.0)) >= 16 and not client.dropped


def test_after_a_drop_it_goes_below_the_floor_for_an_api_that_takes_few() -> None:
    clock = Clock()
    (client,) = clients_of(clock)
    ModelApi(capacity(4), 4).play([client], clock, 20.0)
    assert client.rate(5.0, 20.0) >= 0.95 * 4 / LATENCY
    assert max(client.limits_between(5.0, 20.0)) <= 8  # 4 served, 4 waiting: never beyond
    assert not [t for t in client.dropped if t >= 5.0]


def test_a_few_slow_requests_do_not_read_as_congestion() -> None:
    clock = Clock()
    (client,) = clients_of(clock)
    ModelApi(capacity(64), 32, slow_share=0.05).play([client], clock, 30.0)
    assert client.rate(10.0, 30.0) >= 0.85 * 64 / LATENCY


def test_two_runs_on_one_api_end_with_similar_shares_and_fill_it() -> None:
    clock = Clock()
    first, second = clients_of(clock, 2, start=1.0)  # the second starts a second later
    ModelApi(capacity(64), 32).play([first, second], clock, 30.0)
    a, b = first.rate(10.0, 30.0), second.rate(10.0, 30.0)
    assert min(a, b) / max(a, b) >= 0.8
    assert a + b >= 0.97 * 64 / LATENCY
    assert len(first.dropped) + len(second.dropped) <= 0.01 * (len(first.done) + len(second.done))


def settled(clock: Clock, workers: int = 64, rounds: int = 60) -> AdaptiveLimit:
    """A limit fed ``rounds`` full rounds by an API of ``workers`` with an endless queue (the
    latency grows with the requests in flight beyond the workers)."""
    limit = AdaptiveLimit(clock=clock)
    for _ in range(rounds):
        latency = LATENCY * max(1.0, limit.limit / workers)
        for _ in range(limit.limit):
            clock.now += latency / limit.limit
            limit.on_sample(latency, dropped=False, in_flight=limit.limit)
    return limit


def test_a_drop_cuts_the_limit_by_half_once_for_what_was_in_flight() -> None:
    clock = Clock()
    limit = settled(clock)
    before = limit.limit
    assert 64 <= before < 96
    clock.now += 0.001
    limit.on_sample(LATENCY, dropped=True, in_flight=before)
    assert limit.limit in (before // 2, (before - 1) // 2)
    cut = limit.limit
    for _ in range(before):  # the other requests sent before the cut are answered 429 too
        limit.on_sample(clock.now, dropped=True, in_flight=before)
    assert limit.limit == cut
    assert limit.lowest == INITIAL_LIMIT and limit.highest >= before


def test_latency_that_doubles_cuts_the_limit_multiplicatively() -> None:
    clock = Clock()
    limit = settled(clock)
    before = limit.limit
    for _ in range(3):  # three rounds at twice the latency it has settled at
        for _ in range(limit.limit):
            clock.now += 0.002
            limit.on_sample(LATENCY * before / 64 * 2, dropped=False, in_flight=limit.limit)
    assert limit.limit <= 0.6 * before


def test_the_limit_stays_within_one_and_the_maximum() -> None:
    clock = Clock()
    small = settled(clock)
    for _ in range(20):
        clock.now += 0.1
        small.on_sample(0.01, dropped=True, in_flight=small.limit)
    assert small.limit == 1 == small.lowest
    capped = AdaptiveLimit(8, clock=clock)
    for _ in range(100):
        clock.now += 0.1
        capped.on_sample(0.01, dropped=False, in_flight=capped.limit)
    assert capped.limit == 8 == capped.highest


def test_a_run_that_does_not_fill_its_limit_does_not_grow_it() -> None:
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    for _ in range(100):  # the manifest's tail: one request at a time
        clock.now += LATENCY
        limit.on_sample(LATENCY, dropped=False, in_flight=1)
    assert limit.limit == INITIAL_LIMIT


def test_a_limit_that_is_never_full_does_not_grow_until_it_is() -> None:
    """Rows waiting out a ``Retry-After`` leave slots free: such rounds say nothing about a larger
    limit (with Netflix's rule, fewer than half in flight, the limit of an API that takes three
    climbed from 3 to 5 at the end of a run while its 429'd rows waited)."""
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    clock.now += 0.01
    limit.on_sample(0.01, dropped=True, in_flight=INITIAL_LIMIT)  # slow start ends; no floor
    assert limit.limit == 2
    for _ in range(50):
        clock.now += LATENCY
        limit.on_sample(LATENCY, dropped=False, in_flight=limit.limit - 1)
    assert limit.limit == 2
    for _ in range(10):  # full rounds at the latency without a queue: room to grow
        clock.now += LATENCY
        limit.on_sample(LATENCY, dropped=False, in_flight=limit.limit)
    assert limit.limit > 2
