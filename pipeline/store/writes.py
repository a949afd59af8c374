"""One way a failed write beside a table is reported:
:class:`~pipeline.core.errors.TableWriteError`.

Whatever ferry was writing (the journal, a checkpoint, the plan, the table itself), a full disk
or a missing permission gives the same one line, naming the file and saying that every row
recorded before is kept for the next run to fold in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from pipeline.core.errors import TableWriteError


def write_failure(target: Path, table: Path, exc: BaseException) -> TableWriteError:
    """The error for a failed write of ``target`` (beside ``table``), caused by ``exc``."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return TableWriteError(
        f"{target}: cannot write ({reason}); every row recorded before is kept beside "
        f"{table.name} and the next run folds it in: free some space and run again",
        path=target,
    )


@contextlib.contextmanager
def writes_to(target: Path, table: Path) -> Iterator[None]:
    """Turn a failed write under ``target`` (disk full, permissions) into one clear error."""
    try:
        yield
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise write_failure(target, table, exc) from exc
