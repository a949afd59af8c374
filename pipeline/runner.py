"""``ferry run`` as one library call: read, lock, fold, plan, fan out, journal, write, summarise."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import polars as pl
import pyarrow.parquet as pq

from pipeline.client import ApiClient
from pipeline.engine import (
    LimitedSlots,
    StopSignal,
    fan_out,
    interrupt_on_signals,
    run_event_loop,
)
from pipeline.errors import FatalApiError, ServerError, TableWriteError
from pipeline.limiter import AdaptiveLimit
from pipeline.logs import fields
from pipeline.manifest import open_manifest
from pipeline.metrics import record_run
from pipeline.pacing import Pacing
from pipeline.plan import ManifestNames, Plan, PlanOptions, make_plan
from pipeline.progress import Progress
from pipeline.retry import RetryPolicy
from pipeline.rows import PlannedRow, ResultRow, result_row
from pipeline.settings import RunSettings
from pipeline.sources import Sources
from pipeline.store import ManifestChunks, ResultStore, RunRecorder, check_results_path
from pipeline.summary import ConcurrencyFigures, RunSummary
from pipeline.transfers import Transfers
from pipeline.transport import make_session
from pipeline.worker import RowUploader

log = logging.getLogger(__name__)

INTERRUPT_GRACE_SECONDS = 5.0
#: A checkpoint also comes after this many finished rows, so the journal (read back whole at a
#: checkpoint) stays small however long the run.
CHECKPOINT_ROWS = 10_000


def new_run_id() -> str:
    """A sortable, unique run id: ``20261127T031700Z-1a2b3c``."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


#: Manifest rows per batch handed to the planner: the peak of reading follows it.
BATCH_ROWS = 25_000


def _expected_rows(path: Path | None) -> int | None:
    """About how many rows a local manifest has, to size the plan's partitions."""
    if path is None:
        return None
    try:
        if path.is_dir():
            return 0  # a folder's files: few enough to plan in one partition
        if path.suffix.lower() == ".parquet":
            return int(pq.read_metadata(path).num_rows)
        return path.stat().st_size // 40  # text: a URL and a little more a line
    except Exception:  # unreadable: the manifest reader says why
        return None


@contextlib.contextmanager
def _manifest(
    settings: RunSettings,
) -> Iterator[tuple[Iterator[pl.DataFrame], Path, ManifestNames]]:
    """The manifest's rows in batches, the folder local sources are relative to, its names."""
    with open_manifest(settings.manifest, options=settings.manifest_options) as source:
        base_dir = Path.cwd() if source.path is None else source.path
        if base_dir.is_file():
            base_dir = base_dir.parent
        names = ManifestNames(
            source.label,
            source.id_column,
            source.file_name_column,
            _expected_rows(source.path),
            hashed_ids=source.hashes_ids,
        )
        yield source.batches(BATCH_ROWS), base_dir, names


def _options(settings: RunSettings) -> PlanOptions:
    return PlanOptions(
        now=datetime.now(UTC),
        failed_only=settings.failed_only,
        refresh_within=settings.refresh_within,
        limit=settings.limit,
        shard=settings.shard,
    )


def plan_run(settings: RunSettings) -> RunSummary:
    """``--dry-run``: the plan against the table (and anything a run left), changing nothing."""
    store = ResultStore(settings.results)
    check_results_path(settings.results)
    with _manifest(settings) as (batches, _, names), _scratch_folder(settings.results) as scratch:
        if store.has_leftovers():  # plan against the table as a reader sees it
            folded = ResultStore(scratch / "folded.parquet")
            folded.write(store.read())
            store = folded
        else:
            store.read_header()
        plan = make_plan(batches, store, _options(settings), scratch=scratch, names=names)
    return RunSummary(results=settings.results, run_id="dry-run", plan=plan.counts, dry_run=True)


@contextlib.contextmanager
def _scratch_folder(table: Path) -> Iterator[Path]:
    """A temporary folder beside ``table`` (named as its own), else in the system's temp."""
    try:
        folder = tempfile.mkdtemp(prefix=f"{table.name}.dryrun-", dir=table.parent)
    except OSError:  # no such folder yet, or not writable
        folder = tempfile.mkdtemp(prefix="ferry-dryrun-")
    try:
        yield Path(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(settings: RunSettings, *, stream: TextIO | None = None) -> RunSummary:
    """Do one run of ``settings.manifest`` into ``settings.results`` and summarise it.

    Raises :class:`~pipeline.errors.PipelineError` subclasses for bad input (exit 2) and a held
    lock (exit 4) before any request; fatal API answers and interrupts end up in the summary.
    """
    if settings.dry_run:
        return plan_run(settings)
    out = stream if stream is not None else sys.stderr
    store = ResultStore(settings.results)
    check_results_path(settings.results)
    with _manifest(settings) as (batches, base_dir, names), store.locked():
        store.read_header()
        with _writes_to(store.files.table):
            recovered = store.recover()
        if recovered:
            log.info(
                f"ferry: folding {recovered} rows left by an interrupted run into "
                f"{settings.results}",
                extra=fields(rows=recovered, results=str(settings.results)),
            )
        try:
            with _writes_to(store.files.plan):
                plan = make_plan(batches, store, _options(settings), scratch=None, names=names)
        except BaseException:
            ManifestChunks(store.files.plan, [], []).remove()
            raise
        recorder = store.recorder(plan.base, plan.chunks)
        with _writes_to(store.files.checkpoints):
            recorder.open()
        run = _Run(settings, plan, recorder, base_dir, out)
        result: RunSummary = run_event_loop(run.execute())
        return result


@contextlib.contextmanager
def _writes_to(target: Path) -> Iterator[None]:
    """Turn a failed write under ``target`` (disk full, permissions) into one clear error."""
    try:
        yield
    except (OSError, pl.exceptions.ComputeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise TableWriteError(
            f"{target}: cannot write ({reason}); nothing was uploaded, and every row recorded "
            "before is kept: free some space and run again",
            path=target,
        ) from exc


class _Run:
    """The state of one executing run: journal, counters, table and checkpoints."""

    def __init__(
        self,
        settings: RunSettings,
        plan: Plan,
        recorder: RunRecorder,
        base_dir: Path,
        out: TextIO,
    ) -> None:
        self.settings = settings
        self.plan = plan
        self.out = out
        self.base_dir = base_dir
        self.recorder = recorder
        self.summary = RunSummary(results=settings.results, run_id=new_run_id(), plan=plan.counts)
        self.signal = StopSignal()
        #: ``--concurrency auto``: the adaptive limit and the slots it bounds.
        self.slots = (
            LimitedSlots(AdaptiveLimit(settings.concurrency)) if settings.adaptive else None
        )
        self.write_error: TableWriteError | None = None
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
        started = time.monotonic()
        try:
            with interrupt_on_signals(
                self.signal,
                notice="ferry: interrupted: finishing in-flight rows, then writing the table",
                out=self.out,
            ):
                await self._fan_out()
        finally:
            self.summary.interrupted = self.signal.interrupted
            self._note_concurrency()
            await self.progress.close()
            self.summary.elapsed_seconds = time.monotonic() - started
            self._finish()
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
                    Sources(session, self.base_dir, settings.source_headers), settings.via
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
                    self.plan.rows(),
                    work,
                    concurrency=settings.concurrency,
                    signal=self.signal,
                    grace_seconds=INTERRUPT_GRACE_SECONDS,
                    slots=self.slots,
                )
            finally:
                checkpoints.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await checkpoints

    def _record(self, row: ResultRow) -> None:
        if self.recorder.broken:
            return  # the journal failed: this row is not recorded, so it is not counted either
        try:
            self.recorder.append(row.to_journal())
        except OSError as exc:  # disk full: stop, and count only the rows on disk
            self.recorder.broken = True
            self._failed_write(self.recorder.files.journal, exc)
            return
        ok = row.status == "ok"
        if ok:
            self.summary.ok += 1
        else:
            self.summary.failed += 1
            self.summary.error_kinds[row.error_kind or ""] += 1
            self.summary.top_errors[row.error or ""] += 1
        self.progress.record(ok)
        if self.recorder.rows_since_checkpoint >= CHECKPOINT_ROWS and self.write_error is None:
            self.checkpoint()

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
        if not self._guard(self.recorder.checkpoint, self.recorder.checkpoints.folder):
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
        if self.write_error is None and self._guard(self.recorder.finish, self.settings.results):
            record_run(self.settings.metrics_file, self.summary, final=False)
            return
        self.recorder.close()

    def _guard(self, write: Callable[[], None], target: Path) -> bool:
        """Run ``write``; on a failed write (disk full) stop the run and say so, once."""
        try:
            write()
        except (OSError, pl.exceptions.PolarsError) as exc:
            self._failed_write(target, exc)
            return False
        return True

    def _failed_write(self, target: Path, exc: BaseException) -> None:
        self.signal.stop()
        if self.write_error is None:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.write_error = TableWriteError(
                f"{target}: cannot write ({reason}); rows finished before are kept beside "
                f"{self.settings.results.name} and the next run folds them in",
                path=target,
            )
