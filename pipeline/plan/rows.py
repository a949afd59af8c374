"""The two rows a worker handles: the planned row it receives and the result row it returns.

Both are ``NamedTuple``s: as cheap to build as the dicts they replace, and the worker's contract
is visible to mypy. A :class:`ResultRow`'s fields are the result table's columns, in order, with
timestamps as epoch microseconds (the journal's form), then the row's place (``key``, ``row``);
:meth:`ResultRow.to_journal` is its journal line.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from pipeline.core.schema import STATUS_FAILED, STATUS_OK
from pipeline.store.journal import JOURNAL_COLUMNS

if TYPE_CHECKING:  # the planner builds planned rows without importing aiohttp
    from pipeline.core.errors import UploadError
    from pipeline.upload.checksums import Expected
    from pipeline.upload.client import Uploaded


class PlannedRow(NamedTuple):
    """One row to upload: its identity, source, target, for a bad row why it cannot go, and its
    place (``key`` in the table, ``row`` of the manifest; see :mod:`pipeline.store`), and what
    its bytes should be (``expected``: only when the manifest gives ``size``, ``md5`` or
    ``sha256`` for it; None costs nothing), and where else a relay may fetch them.

    The fields are :data:`pipeline.plan.planner.TODO_COLUMNS`, in order.
    """

    id: str
    url: str | None  # None only for an invalid row (empty URL)
    upload_path: str
    file_name: str | None
    invalid: str | None
    key: int | None
    row: int | None
    expected: Expected | None = None
    #: Further URLs of the same file (aria2's mirrors), tried in turn by a relay.
    mirrors: tuple[str, ...] | None = None
    #: The row's own request headers for a relay (aria2's ``header=`` lines): never logged.
    headers: tuple[tuple[str, str], ...] | None = None


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
    key: int | None
    row: int | None

    def to_journal(self) -> dict[str, Any]:
        """The journal's line for this row: the result columns, in order, then ``_key`` and
        ``_row``."""
        return dict(zip(JOURNAL_COLUMNS, self))  # noqa: B905 - the fields are the columns (tested)


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
    ok = uploaded is not None
    return _new_row(
        ResultRow,
        (
            job.id,
            job.url,
            job.upload_path,
            job.file_name,
            method,
            STATUS_OK if ok else STATUS_FAILED,
            uploaded.download_url if uploaded else None,
            uploaded.file_path if uploaded else None,
            uploaded.file_size if uploaded else None,
            uploaded.mime_type if uploaded else None,
            _micros(uploaded.uploaded_at) if uploaded else None,
            _micros(uploaded.expires_at) if uploaded else None,
            error.error_kind if error else None,
            str(error) if error else None,
            uploaded.http_status if uploaded else (error.http_status if error else None),
            attempts,
            time.time_ns() // 1000,
            run_id,
            job.key,
            job.row,
        ),
    )
