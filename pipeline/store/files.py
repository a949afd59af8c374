"""The names of the files a result table owns, and how to recognise any of them.

Everything ferry keeps for a table ``T`` is named ``T.*`` beside it: the journal ``T.journal``,
the lock ``T.lock``, checkpoint files in ``T.checkpoints/``, a run's plan in ``T.plan/`` (a
dry run's in ``T.dryrun-*/``) and the temporary file ``T.tmp-<pid>`` of an atomic write. This
module is the one place those names are spelled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

#: The extensions a result table may have.
TABLE_SUFFIXES: Final = (".parquet", ".csv")

#: A companion file or folder of a table: ``<name>.parquet.journal``, ``.lock``, ``.tmp-123``,
#: ``.checkpoints``, ``.plan``, ``.dryrun-xyz``; and the older ``.<name>.tmp-123`` temp files.
_COMPANION: Final = re.compile(
    r"\.(parquet|csv)\.(journal|lock|tmp-\d+|checkpoints|plan|dryrun-[A-Za-z0-9_]+)$"
    r"|^\.[^/]*\.tmp-\d+$"
)


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
    def plan(self) -> Path:
        """The folder where a run keeps its plan while it goes on."""
        return self._beside("plan")

    def temp(self, pid: int) -> Path:
        """Where process ``pid`` writes a new version of the table before renaming it."""
        return self._beside(f"tmp-{pid}")

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


def is_own_file(path: Path) -> bool:
    """True for any file ferry wrote for a result table: the table itself or a companion.

    A table is recognised by its header (``status`` and ``run_id`` columns), whatever its
    name, so a folder being migrated never uploads a table that ``--results`` put inside it.
    """
    if is_companion(path):
        return True
    from pipeline.store.table import looks_like_results  # the table reader needs pyarrow

    return path.suffix.lower() in TABLE_SUFFIXES and looks_like_results(path)
