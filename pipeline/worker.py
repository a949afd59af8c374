"""One row, start to finish: pacing, the upload call, retries, and the result row it becomes."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.client import ApiClient, Uploaded
from pipeline.engine import StopSignal
from pipeline.errors import FatalApiError, InvalidRowError, RateLimitedError, UploadError
from pipeline.pacing import BackoffGate, SlidingWindowLimiter, backoff_delay
from pipeline.schema import STATUS_FAILED, STATUS_OK
from pipeline.transfers import Transfers

Row = dict[str, Any]


def _micros(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1_000_000)


def result_row(
    job: Row,
    *,
    method: str,
    run_id: str,
    attempts: int,
    uploaded: Uploaded | None = None,
    error: UploadError | None = None,
) -> Row:
    """The journal's form of one finished row (timestamps as epoch microseconds)."""
    ok = uploaded is not None
    return {
        "id": job["id"],
        "url": job["url"],
        "upload_path": job["upload_path"],
        "file_name": job["file_name"],
        "method": method,
        "status": STATUS_OK if ok else STATUS_FAILED,
        "download_url": uploaded.download_url if uploaded else None,
        "file_path": uploaded.file_path if uploaded else None,
        "file_size": uploaded.file_size if uploaded else None,
        "mime_type": uploaded.mime_type if uploaded else None,
        "uploaded_at": _micros(uploaded.uploaded_at) if uploaded else None,
        "expires_at": _micros(uploaded.expires_at) if uploaded else None,
        "error_kind": error.error_kind if error else None,
        "error": str(error) if error else None,
        "http_status": uploaded.http_status if uploaded else (error.http_status if error else None),
        "attempts": attempts,
        "finished_at": time.time_ns() // 1000,
        "run_id": run_id,
        "_key": job.get("_key"),
        "_row": job.get("_row"),
    }


@dataclass
class RowUploader:
    """Uploads one planned row with retries and returns its result row.

    Raises :class:`FatalApiError` (after stopping dispatch) so the run can abort; every other
    failure becomes a ``failed`` row.
    """

    client: ApiClient
    run_id: str
    retries: int
    signal: StopSignal
    gate: BackoffGate
    limiter: SlidingWindowLimiter | None = None
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    transfers: Transfers = field(default_factory=Transfers)

    async def __call__(self, job: Row) -> Row:
        """Upload ``job``; the result row records the attempts made."""
        method = self.transfers.method_for(job)
        if job.get("_invalid"):
            error = InvalidRowError(str(job["_invalid"]))
            return result_row(job, method=method, run_id=self.run_id, attempts=0, error=error)
        attempts = 0
        while True:
            if self.gate.closed:
                await self.gate.wait()
            if self.limiter is not None:
                await self.limiter.acquire()
            attempts += 1
            try:
                uploaded = await self.transfers.send(self.client, job, method)
            except FatalApiError:
                self.signal.stop()
                raise
            except UploadError as exc:
                if self.transfers.falls_back(job, exc, method):
                    method = self.transfers.method_for(job, relaying=True)
                    continue
                retry_after = exc.retry_after if isinstance(exc, RateLimitedError) else None
                if isinstance(exc, RateLimitedError):
                    self.gate.on_rate_limited(retry_after)
                if exc.retryable and attempts <= self.retries and not self.signal.is_set:
                    delay = backoff_delay(
                        attempts,
                        base=self.backoff_base,
                        cap=self.backoff_cap,
                        retry_after=retry_after,
                    )
                    await asyncio.sleep(delay)
                    if not self.signal.is_set:
                        continue
                return result_row(
                    job, method=method, run_id=self.run_id, attempts=attempts, error=exc
                )
            self.gate.on_success()
            return result_row(
                job, method=method, run_id=self.run_id, attempts=attempts, uploaded=uploaded
            )
