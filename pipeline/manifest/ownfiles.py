"""Which files in a folder are ferry's own (result tables and what ferry keeps beside them).

A folder given as MANIFEST never uploads them, wherever ``--results`` points. The rule itself
belongs to the result store (:mod:`pipeline.store.files`); this is the one place the folder
reader asks it. Names decide first, for a whole directory at once: only a file whose name
could be a table's (``.parquet``, ``.csv``) has its header read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Final

import polars as pl

from pipeline.store.files import COMPANION_PATTERN, TABLE_SUFFIXES, is_own_file, looks_like_results

_COMPANION: Final = re.compile(COMPANION_PATTERN)
_MAYBE_TABLE: Final = "(?i)(" + "|".join(re.escape(s) for s in TABLE_SUFFIXES) + ")$"


def is_ferry_file(path: Path) -> bool:
    """True for a result table, its journal, lock, checkpoints, plan and temporary files."""
    return is_own_file(path)


def is_ferry_folder(name: str) -> bool:
    """True for a folder ferry keeps beside a table (checkpoints, plan, a dry run's scratch)."""
    return _COMPANION.search(name) is not None


def own_files(names: pl.Series, path_of: Callable[[int], Path]) -> pl.Series:
    """Which of ``names`` (file names; ``path_of(i)`` is the path of the ``i``-th) are
    ferry's own, as a boolean mask."""
    own = names.str.contains(COMPANION_PATTERN)
    maybe = (names.str.contains(_MAYBE_TABLE) & ~own).arg_true()
    if maybe.len():
        own = own.scatter(maybe, [looks_like_results(path_of(i)) for i in maybe])
    return own
