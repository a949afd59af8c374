"""Reading ahead in a thread: same items, same order, errors raised where they happened,
and a caller that stops early stops the thread (the iterator is closed)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from pipeline.plan.prefetch import prefetched


def test_items_arrive_in_order_and_all_of_them() -> None:
    assert list(prefetched(iter(range(1000)), depth=3)) == list(range(1000))


def test_the_items_are_made_in_another_thread() -> None:
    def made() -> Iterator[int]:
        yield threading.get_ident()

    assert next(prefetched(made())) != threading.get_ident()


def test_an_error_is_raised_to_the_caller_after_the_items_before_it() -> None:
    def failing() -> Iterator[int]:
        yield 1
        yield 2
        raise KeyError("row 3")

    got: list[int] = []
    with pytest.raises(KeyError, match="row 3"):
        for item in prefetched(failing()):
            got.append(item)
    assert got == [1, 2]


def test_a_caller_that_stops_early_closes_the_iterator_and_ends_the_thread() -> None:
    closed = threading.Event()

    def endless() -> Iterator[int]:
        n = 0
        try:
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    before = threading.active_count()
    items = prefetched(endless(), depth=2)
    assert [next(items) for _ in range(5)] == [0, 1, 2, 3, 4]
    items.close()  # what a for loop that raises does
    assert closed.wait(5)
    assert threading.active_count() == before
