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
from pipeline.upload.client import ApiClient
from pipeline.upload.engine import LimitedSlots, StopSignal
from pipeline.upload.pacing import Pacing
from pipeline.upload.retry import RetryPolicy
from pipeline.upload.transfers import Transfers

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
        attempts = 0
        while True:
            if not self.pacing.free:
                await self.pacing.ready()
            attempts += 1
            sent = time.monotonic() if self.slots is not None else 0.0
            try:
                uploaded = await self.transfers.send(self.client, job, method)
            except FatalApiError:
                self.signal.stop()
                raise
            except UploadError as exc:
                if self.slots is not None and isinstance(exc, OVERLOADED):
                    self.slots.on_sample(time.monotonic() - sent, dropped=True)
                if self.transfers.falls_back(job, exc, method):
                    method = self.transfers.method_for(job, relaying=True)
                    continue
                self.pacing.on_error(exc)
                if self.retry.should_retry(exc, attempts) and not self.signal.is_set:
                    await self._back_off(self.retry.delay(exc, attempts))
                    if not self.signal.is_set:
                        continue
                return result_row(
                    job, method=method, run_id=self.run_id, attempts=attempts, error=exc
                )
            if self.slots is not None:
                self.slots.on_sample(time.monotonic() - sent, dropped=False)
            self.pacing.on_success()
            return result_row(
                job, method=method, run_id=self.run_id, attempts=attempts, uploaded=uploaded
            )

    async def _back_off(self, seconds: float) -> None:
        """Wait before a retry; with an adaptive limit the row's slot serves others meanwhile."""
        if self.slots is None:
            await asyncio.sleep(seconds)
        else:
            await self.slots.pause(seconds)
