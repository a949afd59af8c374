"""``ferry run`` as one library call: read, lock, fold, plan, fan out, journal, write, summarise."""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from pipeline.buckets.needs import StoreNeeds
from pipeline.buckets.registry import Stores
from pipeline.buckets.signing import Signer
from pipeline.commands.planning import manifest_batches, plan_in, plan_run, run_stores
from pipeline.core.errors import FatalApiError, InternalError, TableWriteError
from pipeline.core.fdlimit import fit_concurrency
from pipeline.core.logs import fields
from pipeline.core.metrics import record_run
from pipeline.core.progress import Progress, StepProgress
from pipeline.core.settings import RunSettings
from pipeline.core.summary import ConcurrencyFigures, RunSummary
from pipeline.plan.planner import Plan
from pipeline.plan.rows import PlannedRow, ResultRow, result_row
from pipeline.store import ResultStore, RunRecorder
from pipeline.upload.checksums import has_hash
from pipeline.upload.client import ApiClient
from pipeline.upload.engine import (
    LimitedSlots,
    StopSignal,
    fan_out,
    interrupt_on_signals,
    run_event_loop,
)
from pipeline.upload.limiter import AdaptiveLimit
from pipeline.upload.pacing import Pacing
from pipeline.upload.retry import RetryPolicy
from pipeline.upload.sources import Sources
from pipeline.upload.transfers import Transfers
from pipeline.upload.transport import make_session
from pipeline.upload.worker import RowUploader

log = logging.getLogger(__name__)

INTERRUPT_GRACE_SECONDS = 5.0


def new_run_id() -> str:
    """A sortable, unique run id: ``20261127T031700Z-1a2b3c``."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def run(settings: RunSettings, *, stream: TextIO | None = None) -> RunSummary:
    """Do one run of ``settings.manifest`` into ``settings.results`` and summarise it.

    Raises :class:`~pipeline.core.errors.PipelineError` subclasses for bad input (exit 2) and a held
    lock (exit 4) before any request; fatal API answers and interrupts end up in the summary.
    """
    if settings.dry_run:
        return plan_run(settings)
    started = time.monotonic()
    settings = replace(settings, concurrency=fit_concurrency(settings.concurrency))
    out = stream if stream is not None else sys.stderr
    store = ResultStore(settings.results)
    stores, needs = run_stores(settings), StoreNeeds()
    with (
        manifest_batches(settings, stores, needs) as (batches, base_dir, names),
        store.open_run() as space,
    ):
        if space.recovered:
            log.info(
                f"ferry: folding {space.recovered} rows left by an interrupted run into "
                f"{settings.results}",
                extra=fields(rows=space.recovered, results=str(settings.results)),
            )
        plan = plan_in(batches, space, settings, names)
        # a store without credentials stops the run here, before any upload
        needs.require(stores.environment, sign=settings.via != "relay")
        run = _Run(settings, plan, space.recorder(), base_dir, out, stores, started)
        result: RunSummary = run_event_loop(run.execute())
        return result


class _Run:
    """The state of one executing run: journal, counters, table and checkpoints."""

    def __init__(
        self,
        settings: RunSettings,
        plan: Plan,
        recorder: RunRecorder,
        base_dir: Path,
        out: TextIO,
        stores: Stores,
        started: float,
    ) -> None:
        self.settings = settings
        self.stores = stores
        #: When the command began (``time.monotonic``): the summary's time is the command's,
        #: planning and the final write included.
        self.started = started
        self.plan = plan
        self.base_dir = base_dir
        self.recorder = recorder
        self.summary = RunSummary(results=settings.results, run_id=new_run_id(), plan=plan.counts)
        self.signal = StopSignal()
        #: ``--concurrency auto``: the adaptive limit and the slots it bounds.
        self.slots = (
            LimitedSlots(AdaptiveLimit(settings.concurrency)) if settings.adaptive else None
        )
        self.write_error: TableWriteError | None = None
        #: An unexpected error of the checkpoint task: it stopped the run and is raised at the end.
        self.crash: BaseException | None = None
        #: When the table's figures for the metrics file were last read (they cost O(table)).
        self._table_figures_at = float("-inf")
        self.progress = Progress(
            plan.todo.height,
            bar=settings.progress,
            log_every=settings.log_every_seconds,
            stream=out,
            concurrency=self._concurrency if settings.adaptive else None,
        )

    def _concurrency(self) -> int:
        """The limit in force."""
        return self.slots.limit.limit if self.slots is not None else self.settings.concurrency

    def _note_concurrency(self) -> None:
        """Put the limit's figures so far into the summary (for the metrics file and the end)."""
        if self.slots is None:
            n = self.settings.concurrency
            self.summary.concurrency = ConcurrencyFigures(n, n, n)
            return
        limit = self.slots.limit
        self.summary.concurrency = ConcurrencyFigures(
            limit.limit, limit.lowest, limit.highest, adaptive=True
        )

    async def execute(self) -> RunSummary:
        """Fan the plan out (the recorder is open), then write the table whatever happened."""
        try:
            with interrupt_on_signals(
                self.signal,
                notice="ferry: interrupted: finishing in-flight rows, then writing the table",
            ):
                await self._fan_out()
        finally:
            self.summary.interrupted = self.signal.interrupted
            self._note_concurrency()
            await self.progress.close()
            self._finish()
            self.summary.elapsed_seconds = time.monotonic() - self.started
        if self.crash is not None:
            raise InternalError(
                f"the checkpoint task failed: {type(self.crash).__name__}: {self.crash}"
            ) from self.crash
        if self.write_error is not None:
            raise self.write_error
        return self.summary

    async def _fan_out(self) -> None:
        settings = self.settings
        async with make_session(timeout=settings.timeout) as session:
            client = ApiClient(
                session,
                base_url=settings.base_url,
                api_key=settings.api_key,
                retention_seconds=settings.retention,
            )
            policy = RetryPolicy(settings.retries, settings.backoff_base, settings.backoff_cap)
            uploader = RowUploader(
                client=client,
                transfers=Transfers(
                    Sources(session, self.base_dir, settings.source_headers, self.stores),
                    settings.via,
                    Signer(self.stores, settings.presign_expiry),
                ),
                run_id=self.summary.run_id,
                retry=policy,
                pacing=Pacing(policy, settings.rate, adaptive=settings.adaptive),
                signal=self.signal,
                slots=self.slots,
            )

            async def work(job: PlannedRow) -> None:
                try:
                    row = await uploader(job)
                except FatalApiError as exc:
                    self._abort(exc)
                    return
                except Exception as exc:  # a bug in ferry: the row fails loudly, the run goes on
                    row = self._internal_error(job, exc)
                ok = self._record(row)
                if row.method == "url":
                    self._count_unchecked(job, ok)

            self.progress.start()
            checkpoints = asyncio.create_task(self._checkpoints())
            checkpoints.add_done_callback(self._checkpoints_ended)
            try:
                await fan_out(
                    self.plan.rows(),
                    work,
                    concurrency=settings.concurrency,
                    signal=self.signal,
                    grace_seconds=INTERRUPT_GRACE_SECONDS,
                    slots=self.slots,
                )
            finally:
                checkpoints.cancel()
                await asyncio.wait([checkpoints])  # its error, if any, is self.crash

    def _internal_error(self, job: PlannedRow, exc: Exception) -> ResultRow:
        """The ``internal_error`` row of a worker's unexpected exception, logged on one line
        (with its traceback under ``--debug``)."""
        error = InternalError(f"{type(exc).__name__}: {exc}")
        log.error(
            f"ferry: internal error on row {job.id}: {error} (a bug in ferry: please report it)",
            exc_info=exc if self.settings.debug else None,
            extra=fields(id=job.id, error=type(exc).__name__),
        )
        return result_row(job, method="url", run_id=self.summary.run_id, attempts=1, error=error)

    def _checkpoints_ended(self, task: asyncio.Task[None]) -> None:
        """A checkpoint task that died of an unexpected error stops the run at once."""
        if not task.cancelled() and task.exception() is not None:
            self.crash = task.exception()
            self.signal.stop()

    def _count_unchecked(self, job: PlannedRow, ok: bool) -> None:
        """What ferry could not do for a URL upload: check the hashes of an ``ok`` row (ferry
        never saw its bytes), send a row's own headers (the API fetched the source)."""
        if ok and has_hash(job.expected):
            self.summary.unchecked_hashes += 1
        if job.headers:
            self.summary.unsent_headers += 1

    def _record(self, row: ResultRow) -> bool:
        """Journal ``row`` and count it; True when it was an ``ok`` row."""
        if self.write_error is not None:
            return False  # the journal failed: this row is not recorded, nor counted
        try:
            checkpoint_due = self.recorder.append(row.to_journal())
        except TableWriteError as exc:  # disk full: stop, and count only the rows on disk
            self._failed_write(exc)
            return False
        ok = row.status == "ok"
        if ok:
            self.summary.ok += 1
        else:
            self.summary.failed += 1
            self.summary.error_kinds[row.error_kind or ""] += 1
            self.summary.top_errors[row.error or ""] += 1
        self.progress.record(ok)
        if checkpoint_due:
            self.checkpoint()
        return ok

    def _abort(self, exc: FatalApiError) -> None:
        if self.summary.aborted:
            return
        self.summary.aborted = exc.error_kind
        self.summary.error_kinds[exc.error_kind] += 1
        self.summary.aborted_message = f"{exc.explain()}; rows not attempted were left as they were"

    async def _checkpoints(self) -> None:
        while True:
            await asyncio.sleep(self.settings.checkpoint_seconds)
            self.checkpoint()

    def checkpoint(self) -> None:
        """Make the rows finished since the last checkpoint durable and visible to readers.

        A failed write stops dispatch (the rows stay in the journal); it is not retried.
        """
        if self.write_error is not None:
            return
        try:
            self.recorder.checkpoint()
        except TableWriteError as exc:
            self._failed_write(exc)
            return
        now = time.monotonic()
        # time-based checkpoints always refresh them; row-count ones in between do not
        due = now - self._table_figures_at >= self.settings.checkpoint_seconds / 2
        if due:
            self._table_figures_at = now
        self._note_concurrency()
        record_run(self.settings.metrics_file, self.summary, final=False, table_due=due)

    def _finish(self) -> None:
        """Write the table once, streamed; on failure every finished row stays recoverable."""
        if self.write_error is None:
            try:
                self.recorder.finish(
                    StepProgress(
                        "writing the table", "rows written", every=self.settings.log_every_seconds
                    )
                )
            except TableWriteError as exc:
                self._failed_write(exc)
            else:
                record_run(self.settings.metrics_file, self.summary, final=False)
                return
        self.recorder.close()

    def _failed_write(self, error: TableWriteError) -> None:
        """A write failed (disk full): stop dispatch, and say so once, at the end."""
        self.signal.stop()
        if self.write_error is None:
            self.write_error = error
