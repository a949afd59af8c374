"""Read ahead in a thread: the next items of an iterator are made while the caller uses the last.

Planning reads a manifest (CSV parsing, then one BLAKE2b hash per row in Python) and writes it
into partitions (Arrow and polars, which release the GIL). Run one after the other they leave a
core idle; run in two threads the hashing of one batch overlaps the writing of the previous one.

An exception raised by the iterator is raised to the caller, as it was, at the item where it
happened; a caller that stops early (an exception of its own, ``close()``) stops the thread,
which closes the iterator (its ``finally`` blocks run) before it ends.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

#: How long a blocked thread waits before it checks whether the caller has gone.
_POLL_SECONDS = 0.1
#: How long a caller that stops early waits for the thread to end.
_JOIN_SECONDS = 5.0


class _Raised:
    """What the thread hands over when the iterator raised."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


class _Reader(Generic[T]):
    def __init__(self, items: Iterator[T], depth: int) -> None:
        self.items = items
        self.queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="ferry-read-ahead", daemon=True)

    def _put(self, value: object) -> bool:
        while not self.stopped.is_set():
            try:
                self.queue.put(value, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self.items:
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the caller, raised there
            self._put(_Raised(exc))
            return
        finally:
            close = getattr(self.items, "close", None)
            if close is not None:
                close()
        self._put(_DONE)


def prefetched(items: Iterator[T], *, depth: int = 2) -> Iterator[T]:
    """The items of ``items``, made by a thread of their own up to ``depth`` ahead."""
    reader = _Reader(items, depth)
    reader.thread.start()
    try:
        while True:
            value = reader.queue.get()
            if value is _DONE:
                return
            if isinstance(value, _Raised):
                raise value.error
            yield value  # type: ignore[misc]
    finally:
        reader.stopped.set()
        # bounded: a thread blocked reading a pipe that never ends is left behind (a daemon)
        reader.thread.join(timeout=_JOIN_SECONDS)
