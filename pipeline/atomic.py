"""Files written whole or not at all: a temp file beside the target, fsync, rename over it, fsync
of the folder. Readers see the old file or the new one, never a part; a crash leaves the old.

The result table (:mod:`pipeline.results`) and the HTML report both write through here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


def temp_path(path: Path) -> Path:
    """The temp file beside ``path`` (hidden, one per process)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def commit(tmp: Path, path: Path) -> None:
    """fsync ``tmp``, rename it over ``path``, fsync the folder."""
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """A temp path to write ``path``'s new content to; it replaces ``path`` when the block ends
    without an exception, and is removed in every case."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        yield tmp
        commit(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``, atomically."""
    with atomic_target(path) as tmp:
        tmp.write_bytes(data)
