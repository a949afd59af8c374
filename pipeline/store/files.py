"""The names of the files a result table owns, and how to recognise any of them.

Everything ferry keeps for a table ``T`` is named ``T.*`` beside it: the journal ``T.journal``,
the lock ``T.lock``, checkpoint files in ``T.checkpoints/`` (with the new rows of an increment
in ``tail.parquet`` there before they join the table), a run's plan in ``T.plan/`` (its hash
partitions in ``T.plan/partitions/``), a dry run's scratch folder ``T.dryrun-*/`` and the
temporary file ``T.tmp-<pid>`` of an atomic write (of a table, a report or any file ferry
writes whole). This module is the one place those names are spelled.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

#: The extensions a result table may have.
TABLE_SUFFIXES: Final = (".parquet", ".csv")

#: A companion file or folder of a table: ``<name>.parquet.journal``, ``.lock``, ``.tmp-123``,
#: ``.checkpoints``, ``.plan``, ``.dryrun-xyz``; and the older ``.<name>.tmp-123`` temp files.
COMPANION_PATTERN: Final = (
    r"\.(parquet|csv)\.(journal|lock|tmp-\d+|checkpoints|plan|dryrun-[A-Za-z0-9_]+)$"
    r"|^\.[^/]*\.tmp-\d+$"
)
_COMPANION: Final = re.compile(COMPANION_PATTERN)
_TAIL: Final = "tail.parquet"
_PARTITIONS: Final = "partitions"


def temp_beside(path: Path, pid: int | None = None) -> Path:
    """Where process ``pid`` (this one by default) writes a new version of ``path`` before it
    renames it over ``path``."""
    return path.with_name(f"{path.name}.tmp-{os.getpid() if pid is None else pid}")


@dataclass(frozen=True)
class TableFiles:
    """The paths of one table and its companions."""

    table: Path

    @property
    def journal(self) -> Path:
        """Finished rows not yet in a checkpoint, one JSON line each."""
        return self._beside("journal")

    @property
    def lock(self) -> Path:
        """Held by the one process that writes the table."""
        return self._beside("lock")

    @property
    def checkpoints(self) -> Path:
        """The folder of checkpoint files of the run in progress (or of a killed one)."""
        return self._beside("checkpoints")

    @property
    def tail(self) -> Path:
        """An increment's new rows as a file of their own, before they follow the table's."""
        return self.checkpoints / _TAIL

    @property
    def plan(self) -> Path:
        """The folder where a run keeps its plan (its copy of the manifest) while it goes on."""
        return self._beside("plan")

    @property
    def partitions(self) -> Path:
        """The plan's hash partitions, inside :attr:`plan`."""
        return self.plan / _PARTITIONS

    def dry_run_scratch(self) -> Path:
        """A new, empty scratch folder for a dry run's plan: beside the table (as its own), or
        in the system's temporary folder when the table's folder cannot take it."""
        try:
            return Path(
                tempfile.mkdtemp(prefix=f"{self.table.name}.dryrun-", dir=self.table.parent)
            )
        except OSError:  # no such folder yet, or not writable
            return Path(tempfile.mkdtemp(prefix="ferry-dryrun-"))

    def temp(self, pid: int | None = None) -> Path:
        """Where process ``pid`` writes a new version of the table before renaming it."""
        return temp_beside(self.table, pid)

    def stale_temps(self) -> list[Path]:
        """Temporary files a killed writer left beside the table."""
        parent = self.table.parent
        if not parent.is_dir():
            return []
        prefixes = (f"{self.table.name}.tmp-", f".{self.table.name}.tmp-")
        return [p for p in parent.iterdir() if p.name.startswith(prefixes)]

    def _beside(self, suffix: str) -> Path:
        return self.table.with_name(f"{self.table.name}.{suffix}")


def is_companion(path: Path) -> bool:
    """True for a file that ferry keeps beside a table (journal, lock, checkpoint, plan, temp)."""
    if _COMPANION.search(path.name):
        return True
    return any(_COMPANION.search(part) for part in path.parts[:-1])


def looks_like_results(path: Path) -> bool:
    """True when the file at ``path`` has ``status`` and ``run_id`` columns (header only)."""
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq  # only for a file that might be a table

            names = set(pq.read_schema(path).names)
        elif path.suffix.lower() == ".csv":
            with open(path, encoding="utf-8-sig", errors="replace") as handle:
                names = {c.strip().strip('"') for c in handle.readline().split(",")}
        else:
            return False
    except (OSError, ValueError):  # unreadable (pyarrow's errors are ValueErrors): the
        return False  # manifest reader reports it properly
    return {"status", "run_id"} <= names


def may_be_table(name: str) -> bool:
    """True when a file of this name could be a result table (its extension): only such a
    file's header is read to tell."""
    return name.lower().endswith(TABLE_SUFFIXES)


def is_own_file(path: Path) -> bool:
    """True for any file ferry wrote for a result table: the table itself or a companion.

    A table is recognised by its header (``status`` and ``run_id`` columns), whatever its
    name, so a folder being migrated never uploads a table that ``--results`` put inside it.
    """
    if is_companion(path):
        return True
    return may_be_table(path.name) and looks_like_results(path)
