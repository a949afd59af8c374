"""One row, start to finish: pacing, the upload call, retries, and the result row it becomes."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from pipeline.core.errors import (
    FatalApiError,
    InvalidRowError,
    NetworkError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    UploadError,
)
from pipeline.plan.rows import PlannedRow, ResultRow, result_row
from pipeline.upload.client import ApiClient, Uploaded
from pipeline.upload.engine import LimitedSlots, StopSignal
from pipeline.upload.pacing import Pacing
from pipeline.upload.retry import RetryPolicy, tries
from pipeline.upload.transfers import Method, Transfers

#: Answers that say the API is overloaded: with ``--concurrency auto`` they cut the limit.
OVERLOADED = (RateLimitedError, ServerError, RequestTimeoutError, NetworkError)


@dataclass
class RowUploader:
    """Uploads one planned row with retries and returns its result row.

    Raises :class:`FatalApiError` (after stopping dispatch) so the run can abort; every other
    failure becomes a ``failed`` row.
    """

    client: ApiClient
    transfers: Transfers
    run_id: str
    retry: RetryPolicy
    pacing: Pacing
    signal: StopSignal
    #: ``--concurrency auto``: every API answer (its latency, and whether it says the API is
    #: overloaded) is reported here; failures that say nothing about the API are not.
    slots: LimitedSlots | None = None

    async def __call__(self, job: PlannedRow) -> ResultRow:
        """Upload ``job``; the result row records the attempts made."""
        method = self.transfers.method_for(job)
        if job.invalid:
            error = InvalidRowError(job.invalid)
            return result_row(job, method=method, run_id=self.run_id, attempts=0, error=error)
        row = _Row(self, job, method)
        outcome, attempts = await tries(
            self.retry,
            row.attempt,
            again_at_once=row.falls_back,
            failed=row.failed,
            pause=self._back_off,
            stopped=self._stopped,
        )
        if isinstance(outcome, FatalApiError):
            self.signal.stop()
            raise outcome
        if isinstance(outcome, UploadError):
            return result_row(
                job, method=row.method, run_id=self.run_id, attempts=attempts, error=outcome
            )
        self.pacing.on_success()
        return result_row(
            job, method=row.method, run_id=self.run_id, attempts=attempts, uploaded=outcome
        )

    def _stopped(self) -> bool:
        return self.signal.is_set

    async def _back_off(self, seconds: float) -> None:
        """Wait before a retry; with an adaptive limit the row's slot serves others meanwhile."""
        if self.slots is None:
            await asyncio.sleep(seconds)
        else:
            await self.slots.pause(seconds)


class _Row:
    """One row's tries: the method in use (``--via auto`` may fall back to relay) and, with an
    adaptive limit, when the try in flight was sent."""

    __slots__ = ("job", "method", "sent", "uploader")

    def __init__(self, uploader: RowUploader, job: PlannedRow, method: Method) -> None:
        self.uploader = uploader
        self.job = job
        self.method = method
        self.sent = 0.0

    async def attempt(self) -> Uploaded:
        """One try: wait for pacing, send, and report its latency to the adaptive limit."""
        uploader = self.uploader
        if not uploader.pacing.free:
            await uploader.pacing.ready()
        slots = uploader.slots
        if slots is None:
            return await uploader.transfers.send(uploader.client, self.job, self.method)
        self.sent = time.monotonic()
        uploaded = await uploader.transfers.send(uploader.client, self.job, self.method)
        slots.on_sample(time.monotonic() - self.sent, dropped=False)
        return uploaded

    def falls_back(self, error: UploadError) -> bool:
        """``--via auto``: a URL upload the API could not fetch is tried at once by relay."""
        transfers = self.uploader.transfers
        if not transfers.falls_back(self.job, error, self.method):
            return False
        self.method = transfers.method_for(self.job, relaying=True)
        return True

    def failed(self, error: UploadError) -> None:
        """A failed try: a 429 closes the pacing gate; an overloaded API cuts the adaptive limit."""
        uploader = self.uploader
        if uploader.slots is not None and isinstance(error, OVERLOADED):
            uploader.slots.on_sample(time.monotonic() - self.sent, dropped=True)
        uploader.pacing.on_error(error)
