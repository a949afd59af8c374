"""The two rows a worker handles: the planned row it receives and the result row it returns.

Both are ``NamedTuple``s: as cheap to build as the dicts they replace, and the worker's contract
is visible to mypy. A :class:`ResultRow`'s fields are the result table's columns, in order, with
timestamps as epoch microseconds (the journal's form); :meth:`ResultRow.to_journal` is the line.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any, NamedTuple

import polars as pl

from pipeline.client import Uploaded
from pipeline.errors import UploadError
from pipeline.schema import STATUS_FAILED, STATUS_OK

#: The plan's columns a worker reads, in :class:`PlannedRow` order.
PLANNED_COLUMNS = ("id", "url", "upload_path", "file_name", "_invalid")


class PlannedRow(NamedTuple):
    """One row to upload: its identity, source, target and, for a bad row, why it cannot go."""

    id: str
    url: str | None  # None only for an invalid row (empty URL)
    upload_path: str
    file_name: str | None
    invalid: str | None


def planned_rows(todo: pl.DataFrame) -> Iterator[PlannedRow]:
    """The rows of a plan's ``todo`` frame, lazily, as :class:`PlannedRow`."""
    return map(PlannedRow._make, todo.select(PLANNED_COLUMNS).iter_rows())


class ResultRow(NamedTuple):
    """One finished row: the result table's columns, timestamps as epoch microseconds."""

    id: str
    url: str | None
    upload_path: str
    file_name: str | None
    method: str
    status: str
    download_url: str | None
    file_path: str | None
    file_size: int | None
    mime_type: str | None
    uploaded_at: int | None
    expires_at: int | None
    error_kind: str | None
    error: str | None
    http_status: int | None
    attempts: int
    finished_at: int
    run_id: str

    def to_journal(self) -> dict[str, Any]:
        """The journal's line for this row: a dict keyed by the result columns, in order."""
        return self._asdict()


def _micros(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1_000_000)


_new_row = tuple.__new__  # positional, without NamedTuple's keyword handling: a hot path


def result_row(
    job: PlannedRow,
    *,
    method: str,
    run_id: str,
    attempts: int,
    uploaded: Uploaded | None = None,
    error: UploadError | None = None,
) -> ResultRow:
    """The result of ``job``: uploaded (``uploaded``) or failed (``error``)."""
    finished_at = time.time_ns() // 1000
    if uploaded is not None:
        return _new_row(
            ResultRow,
            (
                job.id,
                job.url,
                job.upload_path,
                job.file_name,
                method,
                STATUS_OK,
                uploaded.download_url,
                uploaded.file_path,
                uploaded.file_size,
                uploaded.mime_type,
                _micros(uploaded.uploaded_at),
                _micros(uploaded.expires_at),
                None,  # error_kind
                None,  # error
                uploaded.http_status,
                attempts,
                finished_at,
                run_id,
            ),
        )
    return _new_row(
        ResultRow,
        (
            job.id,
            job.url,
            job.upload_path,
            job.file_name,
            method,
            STATUS_FAILED,
            None,  # download_url
            None,  # file_path
            None,  # file_size
            None,  # mime_type
            None,  # uploaded_at
            None,  # expires_at
            error.error_kind if error else None,
            str(error) if error else None,
            error.http_status if error else None,
            attempts,
            finished_at,
            run_id,
        ),
    )
