"""A lock file beside the result table, so two runs never write one table.

``fcntl.flock`` is released by the kernel when its holder dies, so a lock left by a killed run
never blocks the next one; the file holds the holder's PID only to name it in the message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from pipeline.core.errors import LockedError
from pipeline.store.files import TableFiles


@contextlib.contextmanager
def table_lock(results: Path) -> Iterator[Path]:
    """Hold the lock of ``results`` for the ``with`` block; :class:`LockedError` when it is held."""
    path = TableFiles(results).lock
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise LockedError(
                f"{results}: another ferry run (PID {holder}) is using this result table; "
                f"wait for it to finish or stop it"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield path
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
