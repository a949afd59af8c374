"""Files written whole or not at all: a temp file beside the target, fsync, rename over it, fsync
of the folder. Readers see the old file or the new one, never a part; a crash leaves the old.

The result table, checkpoint files and the HTML report all write through here; the temporary
file's name comes from :func:`pipeline.store.files.temp_beside`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from pipeline.store.files import temp_beside


def fsync_folder(folder: Path) -> None:
    """fsync a folder, so that a rename or a new file in it survives a power loss."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(tmp: Path, path: Path, *, sync_folder: bool = True) -> None:
    """fsync ``tmp``, rename it over ``path``, fsync the folder (unless the caller does it
    once for several files: ``sync_folder=False``)."""
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    if sync_folder:
        fsync_folder(path.parent)


@contextlib.contextmanager
def atomic_target(path: Path, *, sync_folder: bool = True) -> Iterator[Path]:
    """A temp path to write ``path``'s new content to; it replaces ``path`` when the block ends
    without an exception, and is removed in every case."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(path)
    try:
        yield tmp
        commit(tmp, path, sync_folder=sync_folder)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``, atomically."""
    with atomic_target(path) as tmp:
        tmp.write_bytes(data)
