"""``ferry verify``: do the download URLs of a result table's ``ok`` rows still serve the files?

Each link gets a ``HEAD`` (redirects followed); a server that answers ``HEAD`` with 405 or 501
gets a one-byte ranged ``GET`` (``Range: bytes=0-0``) instead. A link is

- **alive** when it answers 2xx (or 416 to the ranged GET: an empty file) and its size, where
  both the answer (``Content-Length``, or the total of ``Content-Range``) and the table's
  ``file_size`` know it, agrees;
- **dead** when it answers a client error (404, 410, 403, ...) or the sizes differ: its row
  becomes ``failed`` with ``error_kind = link_dead``, so the next ``ferry run`` uploads it again;
- **unknown** when the network failed, the request timed out, or the server answered 5xx/429
  on every try (``retries`` + 1). Unknown rows are left exactly as they were: a flaky network
  must never make ferry upload files again that are still there.

Rows that are alive are not touched; the table is rewritten (atomically, under its lock) only
when something changed.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

import aiohttp
import polars as pl

from pipeline.client import LinkAnswer, make_session, probe_link
from pipeline.engine import StopSignal, fan_out, interrupt_on_signals
from pipeline.errors import (
    LinkDeadError,
    RateLimitedError,
    ResultsError,
    ServerError,
    UploadError,
    UsageError,
)
from pipeline.pacing import backoff_delay
from pipeline.progress import Progress
from pipeline.runner import new_run_id, run_event_loop
from pipeline.schema import STATUS_FAILED, STATUS_OK
from pipeline.settings import VERIFY_DEFAULT_CONCURRENCY as DEFAULT_CONCURRENCY
from pipeline.settings import VERIFY_DEFAULT_RETRIES as DEFAULT_RETRIES
from pipeline.settings import VERIFY_DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
from pipeline.store import ResultStore, check_results_path, read_results

DEFAULT_BACKOFF_BASE = 0.5
DEFAULT_BACKOFF_CAP = 10.0
INTERRUPT_GRACE_SECONDS = 5.0
#: Client errors that say nothing about the link: try again, never declare it dead.
TRANSIENT_CLIENT_STATUSES = frozenset({408, 425, 429})


Verdict = Literal["alive", "dead", "unknown"]


@dataclass(frozen=True)
class VerifySettings:
    """Everything one ``ferry verify`` needs; built by ``jobs/verify.py``."""

    results: Path
    concurrency: int = DEFAULT_CONCURRENCY
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    progress: bool = False
    backoff_base: float = DEFAULT_BACKOFF_BASE
    backoff_cap: float = DEFAULT_BACKOFF_CAP
    log_every_seconds: float = 5.0

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise UsageError("--concurrency must be 1 or more")
        if self.timeout <= 0:
            raise UsageError("--timeout must be more than 0 seconds")
        if self.retries < 0:
            raise UsageError("--retries must be 0 or more")


@dataclass(frozen=True, slots=True)
class LinkCheck:
    """The verdict on one link; ``reason`` is the error text for dead and unknown links."""

    verdict: Verdict
    http_status: int | None = None
    reason: str | None = None


@dataclass
class VerifyReport:
    """What one ``ferry verify`` found; ``exit_code`` is 0 only when every link is alive."""

    results: Path
    run_id: str
    alive: int = 0
    dead: int = 0
    unknown: int = 0
    without_url: int = 0
    dead_reasons: Counter[str] = field(default_factory=Counter)
    unknown_reasons: Counter[str] = field(default_factory=Counter)
    written: bool = False
    interrupted: bool = False
    elapsed_seconds: float = 0.0

    @property
    def checked(self) -> int:
        """Links that got a verdict."""
        return self.alive + self.dead + self.unknown

    @property
    def exit_code(self) -> int:
        """0 all links alive, 1 some dead or unknown, 130 interrupted."""
        if self.interrupted:
            return 130
        return 1 if self.dead or self.unknown else 0

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object."""
        return {
            "alive": self.alive,
            "dead": self.dead,
            "unknown": self.unknown,
            "checked": self.checked,
            "results": str(self.results),
        }

    def text(self) -> str:
        """The lines a person reads on stderr."""
        lines = [
            f"ferry: verified {self.checked} links in {self.elapsed_seconds:.1f}s: "
            f"alive {self.alive}, dead {self.dead}, unknown {self.unknown}"
        ]
        if self.without_url:
            lines.append(f"ferry: {self.without_url} ok rows have no download URL to check")
        for reason, count in self.dead_reasons.most_common(3):
            lines.append(f"ferry:   dead: {count} x {reason}")
        for reason, count in self.unknown_reasons.most_common(3):
            lines.append(f"ferry:   unknown: {count} x {reason}")
        if self.dead:
            lines.append(
                f"ferry: marked {self.dead} rows failed (link_dead); "
                f"`ferry run {self.results}` uploads them again"
            )
        if self.unknown:
            lines.append(
                "ferry: unknown links could not be checked (network, timeout, 5xx); "
                "their rows were left as they were: verify again later"
            )
        if self.interrupted:
            lines.append("ferry: interrupted: links not checked yet were left as they were")
        lines.append(f"ferry: results: {self.results}")
        return "\n".join(lines)


def judge(answer: LinkAnswer, recorded_size: int | None) -> LinkCheck:
    """The verdict on one answer; raises a retryable :class:`UploadError` when it says nothing."""
    status = answer.status
    if 200 <= status < 300:
        if answer.size is not None and recorded_size is not None and answer.size != recorded_size:
            reason = f"size {answer.size} != {recorded_size} recorded"
            return LinkCheck("dead", status, reason)
        return LinkCheck("alive", status)
    if status == 429:
        raise RateLimitedError(f"download URL answered HTTP {status}", http_status=status)
    if 400 <= status < 500 and status not in TRANSIENT_CLIENT_STATUSES:
        return LinkCheck("dead", status, f"download URL answered HTTP {status}")
    raise ServerError(f"download URL answered HTTP {status}", http_status=status)


async def check_link(
    session: aiohttp.ClientSession,
    url: str,
    recorded_size: int | None,
    *,
    retries: int = DEFAULT_RETRIES,
    backoff_base: float = DEFAULT_BACKOFF_BASE,
    backoff_cap: float = DEFAULT_BACKOFF_CAP,
) -> LinkCheck:
    """Check one link, retrying network errors, timeouts, 5xx and 429 up to ``retries`` times.

    A link that still cannot be checked is ``unknown``, never ``dead``.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return judge(await probe_link(session, url), recorded_size)
        except UploadError as exc:
            if attempt > retries:
                return LinkCheck("unknown", exc.http_status, str(exc))
            retry_after = exc.retry_after if isinstance(exc, RateLimitedError) else None
            await asyncio.sleep(
                backoff_delay(attempt, base=backoff_base, cap=backoff_cap, retry_after=retry_after)
            )


def verify(settings: VerifySettings, *, stream: TextIO | None = None) -> VerifyReport:
    """Check every ``ok`` row's download URL of ``settings.results``; mark dead ones failed.

    Raises :class:`ResultsError` when the table is missing or unreadable and
    :class:`~pipeline.errors.LockedError` when a run holds its lock, before any request.
    A journal left beside the table by a killed run is folded in (and the table written) first.
    """
    out = stream if stream is not None else sys.stderr
    path = settings.results
    check_results_path(path)
    if not path.exists():
        raise ResultsError(path, "no such result table")
    store = ResultStore(path)
    with store.locked():
        folded = store.recover()
        table = read_results(path)
        report = VerifyReport(results=path, run_id=f"{new_run_id()}-verify")
        candidates = table.filter(
            (pl.col("status") == STATUS_OK) & pl.col("download_url").is_not_null()
        ).select("id", "download_url", "file_size")
        report.without_url = table.filter(pl.col("status") == STATUS_OK).height - candidates.height
        started = time.monotonic()
        checks: dict[str, LinkCheck] = run_event_loop(_check_all(candidates, settings, report, out))
        report.elapsed_seconds = time.monotonic() - started
        updated = mark_dead(table, checks, run_id=report.run_id, now=datetime.now(UTC))
        if report.dead:
            store.write(updated)
        report.written = bool(report.dead or folded)
        return report


def mark_dead(
    table: pl.DataFrame, checks: dict[str, LinkCheck], *, run_id: str, now: datetime
) -> pl.DataFrame:
    """``table`` with the rows whose link is dead turned ``failed``/``link_dead``; order kept.

    ``download_url`` and the other upload columns stay as they were, so the user sees which
    link died; ``attempts`` is 1 (the verify request), ``finished_at`` is ``now``.
    """
    dead = [(key, check) for key, check in checks.items() if check.verdict == "dead"]
    if not dead:
        return table
    marks = pl.DataFrame(
        {
            "id": [key for key, _ in dead],
            "_error": [check.reason for _, check in dead],
            "_http": [check.http_status for _, check in dead],
        },
        schema={"id": pl.String(), "_error": pl.String(), "_http": pl.Int32()},
    )
    hit = pl.col("_error").is_not_null()
    columns = table.columns
    return (
        table.join(marks, on="id", how="left", maintain_order="left")
        .with_columns(
            pl.when(hit).then(pl.lit(STATUS_FAILED)).otherwise(pl.col("status")).alias("status"),
            pl.when(hit)
            .then(pl.lit(LinkDeadError.error_kind))
            .otherwise(pl.col("error_kind"))
            .alias("error_kind"),
            pl.when(hit).then(pl.col("_error")).otherwise(pl.col("error")).alias("error"),
            pl.when(hit)
            .then(pl.col("_http"))
            .otherwise(pl.col("http_status"))
            .alias("http_status"),
            pl.when(hit).then(pl.lit(1, pl.Int32)).otherwise(pl.col("attempts")).alias("attempts"),
            pl.when(hit)
            .then(pl.lit(now, pl.Datetime("us", "UTC")))
            .otherwise(pl.col("finished_at"))
            .alias("finished_at"),
            pl.when(hit).then(pl.lit(run_id)).otherwise(pl.col("run_id")).alias("run_id"),
        )
        .select(columns)
    )


async def _check_all(
    candidates: pl.DataFrame, settings: VerifySettings, report: VerifyReport, out: TextIO
) -> dict[str, LinkCheck]:
    """Fan the checks out with at most ``settings.concurrency`` in flight; fill ``report``."""
    checks: dict[str, LinkCheck] = {}
    stop = StopSignal()
    progress = Progress(
        candidates.height, bar=settings.progress, log_every=settings.log_every_seconds, stream=out
    )
    async with make_session(concurrency=settings.concurrency, timeout=settings.timeout) as session:

        async def work(row: dict[str, Any]) -> None:
            check = await check_link(
                session,
                row["download_url"],
                row["file_size"],
                retries=settings.retries,
                backoff_base=settings.backoff_base,
                backoff_cap=settings.backoff_cap,
            )
            checks[row["id"]] = check
            _count(report, check)
            progress.record(check.verdict == "alive")

        progress.start()
        try:
            with interrupt_on_signals(
                stop,
                notice="ferry: interrupted: finishing in-flight checks, then writing the table",
                out=out,
            ):
                await fan_out(
                    candidates.iter_rows(named=True),
                    work,
                    concurrency=settings.concurrency,
                    signal=stop,
                    grace_seconds=INTERRUPT_GRACE_SECONDS,
                )
        finally:
            report.interrupted = stop.interrupted
            await progress.close()
    return checks


def _count(report: VerifyReport, check: LinkCheck) -> None:
    if check.verdict == "alive":
        report.alive += 1
    elif check.verdict == "dead":
        report.dead += 1
        report.dead_reasons[_reason_key(check.reason)] += 1
    else:
        report.unknown += 1
        report.unknown_reasons[_reason_key(check.reason)] += 1


def _reason_key(reason: str | None) -> str:
    """Group reasons: sizes differ per row, so they count as one kind of reason."""
    text = reason or "no reason given"
    return "size differs from the recorded file_size" if text.startswith("size ") else text
