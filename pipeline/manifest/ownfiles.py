"""Which files in a folder are ferry's own (result tables and what ferry keeps beside them).

A folder given as MANIFEST never uploads them, wherever ``--results`` points. The rule itself
belongs to the result store (:func:`pipeline.store.files.is_own_file`); this is the one place
the folder reader asks it.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.store.files import is_own_file


def is_ferry_file(path: Path) -> bool:
    """True for a result table, its journal, lock, checkpoints, plan and temporary files."""
    return is_own_file(path)
