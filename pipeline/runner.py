"""``ferry run`` as one library call: read, lock, fold, plan, fan out, journal, write, summarise."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

import polars as pl

from pipeline.client import ApiClient, make_session
from pipeline.engine import StopSignal, fan_out, interrupt_on_signals
from pipeline.errors import FatalApiError, ServerError, TableWriteError
from pipeline.journal import Journal, journal_path_for, read_journal
from pipeline.lock import table_lock
from pipeline.manifest import Manifest, read_manifest
from pipeline.pacing import BackoffGate, SlidingWindowLimiter
from pipeline.plan import Plan, make_plan
from pipeline.progress import Progress
from pipeline.results import check_results_path, fold, merge_into_table, read_results
from pipeline.settings import RunSettings
from pipeline.summary import RunSummary
from pipeline.transfers import Transfers
from pipeline.worker import Row, RowUploader, result_row

INTERRUPT_GRACE_SECONDS = 5.0
#: A checkpoint also comes after this many finished rows, so the journal (read back whole at a
#: checkpoint) stays small however long the run.
CHECKPOINT_ROWS = 10_000


def new_run_id() -> str:
    """A sortable, unique run id: ``20261127T031700Z-1a2b3c``."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def run_event_loop(coro: Any) -> Any:
    """Run ``coro`` on uvloop when it is installed, else on asyncio's default loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def extras_of(manifest: Manifest) -> pl.DataFrame:
    """``id`` plus the manifest's extra columns, to join onto updated result rows."""
    return manifest.frame.select("id", *manifest.extra_columns)


def plan_run(settings: RunSettings) -> RunSummary:
    """``--dry-run``: the plan against the table (and any journal), calling nothing."""
    manifest = read_manifest(settings.manifest, settings.manifest_options)
    check_results_path(settings.results)
    table = read_results(settings.results)
    table = fold(table, read_journal(journal_path_for(settings.results)), extras_of(manifest))
    plan = _plan(settings, manifest, table)
    return RunSummary(results=settings.results, run_id="dry-run", plan=plan.counts, dry_run=True)


def _plan(settings: RunSettings, manifest: Manifest, table: pl.DataFrame) -> Plan:
    return make_plan(
        manifest.frame,
        table,
        now=datetime.now(UTC),
        failed_only=settings.failed_only,
        refresh_within=settings.refresh_within,
        limit=settings.limit,
        shard=settings.shard,
    )


def run(settings: RunSettings, *, stream: TextIO | None = None) -> RunSummary:
    """Do one run of ``settings.manifest`` into ``settings.results`` and summarise it.

    Raises :class:`~pipeline.errors.PipelineError` subclasses for bad input (exit 2) and a held
    lock (exit 4) before any request; fatal API answers and interrupts end up in the summary.
    """
    if settings.dry_run:
        return plan_run(settings)
    out = stream if stream is not None else sys.stderr
    manifest = read_manifest(settings.manifest, settings.manifest_options)
    check_results_path(settings.results)
    with table_lock(settings.results):
        table = read_results(settings.results)
        journal_path = journal_path_for(settings.results)
        leftover = read_journal(journal_path)
        if leftover.height:
            print(
                f"ferry: folding {leftover.height} rows left by an interrupted run into "
                f"{settings.results}",
                file=out,
            )
            merge_into_table(settings.results, leftover, extras_of(manifest))
            table = fold(table, leftover, extras_of(manifest))
            journal_path.unlink()
        plan = _plan(settings, manifest, table)
        del table  # the run never holds the table: checkpoints stream it from disk
        run = _Run(settings, manifest, plan, out)
        del manifest  # the run keeps the plan and the extras, not the whole manifest
        result: RunSummary = run_event_loop(run.execute())
        return result


class _Run:
    """The state of one executing run: journal, counters, table and checkpoints."""

    def __init__(
        self,
        settings: RunSettings,
        manifest: Manifest,
        plan: Plan,
        out: TextIO,
    ) -> None:
        self.settings = settings
        self.plan = plan
        self.out = out
        self.extras = extras_of(manifest)
        self.base_dir = manifest.base_dir
        self.journal = Journal(journal_path_for(settings.results))
        self.summary = RunSummary(results=settings.results, run_id=new_run_id(), plan=plan.counts)
        self.signal = StopSignal()
        self.write_error: TableWriteError | None = None
        self.progress = Progress(
            plan.todo.height,
            bar=settings.progress,
            log_every=settings.log_every_seconds,
            stream=out,
        )

    async def execute(self) -> RunSummary:
        """Fan the plan out, then write the table whatever happened."""
        started = time.monotonic()
        self.journal.open()
        try:
            with interrupt_on_signals(
                self.signal,
                notice="ferry: interrupted: finishing in-flight rows, then writing the table",
                out=self.out,
            ):
                await self._fan_out()
        finally:
            self.summary.interrupted = self.signal.interrupted
            await self.progress.close()
            self.summary.elapsed_seconds = time.monotonic() - started
            self.checkpoint()
            self.journal.close(remove=True)
        if self.write_error is not None:
            raise self.write_error
        return self.summary

    async def _fan_out(self) -> None:
        settings = self.settings
        async with make_session(
            concurrency=settings.concurrency, timeout=settings.timeout
        ) as session:
            client = ApiClient(
                session,
                base_url=settings.base_url,
                api_key=settings.api_key,
                retention_seconds=settings.retention,
            )
            uploader = RowUploader(
                client=client,
                run_id=self.summary.run_id,
                retries=settings.retries,
                signal=self.signal,
                gate=BackoffGate(base=settings.backoff_base, cap=settings.backoff_cap),
                limiter=SlidingWindowLimiter(settings.rate) if settings.rate else None,
                backoff_base=settings.backoff_base,
                backoff_cap=settings.backoff_cap,
                transfers=Transfers(
                    via=settings.via,
                    base_dir=self.base_dir,
                    source_headers=settings.source_headers,
                ),
            )

            async def work(job: Row) -> None:
                try:
                    row = await uploader(job)
                except FatalApiError as exc:
                    self._abort(exc)
                    return
                except Exception as exc:  # a bug must not crash the pool or lose the row
                    row = result_row(
                        job,
                        method="url",  # the method is unknown when choosing it failed
                        run_id=self.summary.run_id,
                        attempts=1,
                        error=ServerError(f"internal error: {type(exc).__name__}: {exc}"),
                    )
                self._record(row)

            self.progress.start()
            checkpoints = asyncio.create_task(self._checkpoints())
            try:
                await fan_out(
                    self.plan.todo.iter_rows(named=True),
                    work,
                    concurrency=settings.concurrency,
                    signal=self.signal,
                    grace_seconds=INTERRUPT_GRACE_SECONDS,
                )
            finally:
                checkpoints.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await checkpoints

    def _record(self, row: Row) -> None:
        self.journal.append(row)
        if self.journal.rows_written >= CHECKPOINT_ROWS and self.write_error is None:
            try:
                self.checkpoint()
            except TableWriteError as exc:  # stop here; the final checkpoint tries once more
                self.write_error = exc
        ok = row["status"] == "ok"
        if ok:
            self.summary.ok += 1
        else:
            self.summary.failed += 1
            self.summary.error_kinds[row["error_kind"]] += 1
            self.summary.top_errors[row["error"]] += 1
        self.progress.record(ok)

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
        """Fold the journal into the table, write it atomically, then empty the journal."""
        if self.journal.rows_written == 0:
            return
        self.journal.sync()
        try:
            merge_into_table(self.settings.results, read_journal(self.journal.path), self.extras)
        except OSError as exc:  # disk full, permissions: the rows stay safe in the journal
            self.signal.stop()
            raise TableWriteError(
                f"{self.settings.results}: cannot write the result table ({exc.strerror or exc}); "
                f"finished rows are safe in {self.journal.path} and the next run folds them in"
            ) from exc
        self.journal.truncate()
        self.journal.rows_written = 0
