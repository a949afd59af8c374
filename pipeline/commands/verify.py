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

With ``--checksum`` each link is downloaded instead (streamed, ``--concurrency`` bounded) and
its bytes compared with the row's ``size``/``md5``/``sha256`` where the table has them, else with
its ``file_size``: a link whose bytes differ is **mismatched**, and its row becomes ``failed``
with ``error_kind = checksum_mismatch`` (the next ``ferry run`` uploads it again).

Rows that are alive are not touched; the table is rewritten (atomically, under its lock, batch
by batch) only when something changed. Only the columns a check needs are read.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import polars as pl

from pipeline.commands.links import LinkCheck, check_link
from pipeline.commands.runner import new_run_id
from pipeline.core.errors import ChecksumMismatchError, ExitCode, LinkDeadError, ResultsError
from pipeline.core.fdlimit import fit_concurrency
from pipeline.core.progress import Progress
from pipeline.core.schema import STATUS_FAILED, STATUS_OK
from pipeline.core.settings import VerifySettings
from pipeline.manifest.options import INTEGRITY_FIELDS
from pipeline.store import ResultStore
from pipeline.upload.checksums import Expected, expected_of
from pipeline.upload.engine import StopSignal, fan_out, interrupt_on_signals, run_event_loop
from pipeline.upload.retry import RetryPolicy
from pipeline.upload.transport import make_session

INTERRUPT_GRACE_SECONDS = 5.0


@dataclass
class VerifyReport:
    """What one ``ferry verify`` found; ``exit_code`` is 0 only when every link is alive."""

    results: Path
    run_id: str
    alive: int = 0
    dead: int = 0
    unknown: int = 0
    without_url: int = 0
    #: ``--checksum`` was asked for: ``mismatched`` counts and is reported.
    checksum: bool = False
    mismatched: int = 0
    dead_reasons: Counter[str] = field(default_factory=Counter)
    mismatch_reasons: Counter[str] = field(default_factory=Counter)
    unknown_reasons: Counter[str] = field(default_factory=Counter)
    interrupted: bool = False
    elapsed_seconds: float = 0.0

    @property
    def checked(self) -> int:
        """Links that got a verdict."""
        return self.alive + self.dead + self.mismatched + self.unknown

    @property
    def exit_code(self) -> ExitCode:
        """0 all links alive, 1 some dead, mismatched or unknown, 130 interrupted."""
        if self.interrupted:
            return ExitCode.INTERRUPTED
        return ExitCode.FAILED if self.dead or self.mismatched or self.unknown else ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object (``mismatched`` only with ``--checksum``)."""
        counts = {"alive": self.alive, "dead": self.dead, "unknown": self.unknown}
        if self.checksum:
            counts["mismatched"] = self.mismatched
        return {**counts, "checked": self.checked, "results": str(self.results)}

    def text(self) -> str:
        """The lines a person reads on stderr."""
        mismatched = f", mismatched {self.mismatched}" if self.checksum else ""
        lines = [
            f"ferry: verified {self.checked} links in {self.elapsed_seconds:.1f}s: "
            f"alive {self.alive}, dead {self.dead}{mismatched}, unknown {self.unknown}"
        ]
        if self.without_url:
            lines.append(f"ferry: {self.without_url} ok rows have no download URL to check")
        for reason, count in self.dead_reasons.most_common(3):
            lines.append(f"ferry:   dead: {count} x {reason}")
        for reason, count in self.mismatch_reasons.most_common(3):
            lines.append(f"ferry:   mismatched: {count} x {reason}")
        for reason, count in self.unknown_reasons.most_common(3):
            lines.append(f"ferry:   unknown: {count} x {reason}")
        if self.dead:
            lines.append(
                f"ferry: marked {self.dead} rows failed (link_dead); "
                f"`ferry run {self.results}` uploads them again"
            )
        if self.mismatched:
            lines.append(
                f"ferry: marked {self.mismatched} rows failed (checksum_mismatch); "
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


def verify(settings: VerifySettings, *, stream: TextIO | None = None) -> VerifyReport:
    """Check every ``ok`` row's download URL of ``settings.results``; mark dead ones failed.

    Raises :class:`ResultsError` when the table is missing or unreadable and
    :class:`~pipeline.core.errors.LockedError` when a run holds its lock, before any request.
    A journal left beside the table by a killed run is folded in (and the table written) first.
    """
    out = stream if stream is not None else sys.stderr
    settings = replace(settings, concurrency=fit_concurrency(settings.concurrency))
    path = settings.results
    store = ResultStore(path)
    if not path.exists():
        raise ResultsError(path, "no such result table")
    with store.rewrite() as rewrite:
        table = rewrite.read(VERIFY_COLUMNS)
        report = VerifyReport(
            results=path, run_id=f"{new_run_id()}-verify", checksum=settings.checksum
        )
        candidates = table.filter(
            (pl.col("status") == STATUS_OK) & pl.col("download_url").is_not_null()
        ).select("id", "download_url", "file_size", *_integrity_columns(table))
        report.without_url = table.filter(pl.col("status") == STATUS_OK).height - candidates.height
        started = time.monotonic()
        checks: dict[str, LinkCheck] = run_event_loop(_check_all(candidates, settings, report, out))
        report.elapsed_seconds = time.monotonic() - started
        if report.dead or report.mismatched:
            now = datetime.now(UTC)
            rewrite.update(lambda rows: mark_dead(rows, checks, run_id=report.run_id, now=now))
        return report


#: The columns verify reads to check the links (the table is rewritten batch by batch).
VERIFY_COLUMNS = ("id", "status", "download_url", "file_size", *INTEGRITY_FIELDS)


def _integrity_columns(table: pl.DataFrame) -> list[pl.Expr]:
    """The integrity columns as the table has them (a CSV table's as text), null where it has
    none: ``size`` a whole number, the hashes text."""
    return [
        (pl.col(name) if name in table.columns else pl.lit(None))
        .cast(pl.Int64() if name == "size" else pl.String(), strict=False)
        .alias(name)
        for name in INTEGRITY_FIELDS
    ]


def content_expected(
    file_size: int | None, size: int | None, md5: str | None, sha256: str | None
) -> Expected:
    """What ``--checksum`` compares a download with: the row's integrity values, else the
    ``file_size`` the API reported."""
    return expected_of(size, md5, sha256) or Expected(size=file_size)


#: The verdicts that turn a row ``failed``, with the ``error_kind`` each gets.
_MARKED: dict[str, str] = {
    "dead": LinkDeadError.error_kind,
    "mismatch": ChecksumMismatchError.error_kind,
}


def mark_dead(
    table: pl.DataFrame, checks: dict[str, LinkCheck], *, run_id: str, now: datetime
) -> pl.DataFrame:
    """``table`` with the rows whose link is dead turned ``failed``/``link_dead`` (mismatched:
    ``failed``/``checksum_mismatch``); order kept.

    ``download_url`` and the other upload columns stay as they were, so the user sees which
    link died; ``attempts`` is 1 (the verify request), ``finished_at`` is ``now``.
    """
    dead = [(key, check) for key, check in checks.items() if check.verdict in _MARKED]
    if not dead:
        return table
    marks = pl.DataFrame(
        {
            "id": [key for key, _ in dead],
            "_error": [check.reason for _, check in dead],
            "_http": [check.http_status for _, check in dead],
            "_kind": [_MARKED[check.verdict] for _, check in dead],
        },
        schema={
            "id": pl.String(),
            "_error": pl.String(),
            "_http": pl.Int32(),
            "_kind": pl.String(),
        },
    )
    hit = pl.col("_error").is_not_null()
    columns = table.columns
    return (
        table.join(marks, on="id", how="left", maintain_order="left")
        .with_columns(
            pl.when(hit).then(pl.lit(STATUS_FAILED)).otherwise(pl.col("status")).alias("status"),
            pl.when(hit).then(pl.col("_kind")).otherwise(pl.col("error_kind")).alias("error_kind"),
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
    retry = RetryPolicy(settings.retries, settings.backoff_base, settings.backoff_cap)
    progress = Progress(
        candidates.height, bar=settings.progress, log_every=settings.log_every_seconds, stream=out
    )
    async with make_session(timeout=settings.timeout) as session:

        async def work(
            row: tuple[str, str, int | None, int | None, str | None, str | None],
        ) -> None:
            identity, url, recorded_size, size, md5, sha256 = row
            content = (
                content_expected(recorded_size, size, md5, sha256) if settings.checksum else None
            )
            check = await check_link(
                session, url, recorded_size, retry=retry, content=content, timeout=settings.timeout
            )
            checks[identity] = check
            _count(report, check)
            progress.record(check.verdict == "alive")

        progress.start()
        try:
            with interrupt_on_signals(
                stop,
                notice="ferry: interrupted: finishing in-flight checks, then writing the table",
            ):
                await fan_out(
                    candidates.iter_rows(),
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
    elif check.verdict == "mismatch":
        report.mismatched += 1
        report.mismatch_reasons[_reason_key(check.reason)] += 1
    else:
        report.unknown += 1
        report.unknown_reasons[_reason_key(check.reason)] += 1


def _reason_key(reason: str | None) -> str:
    """Group reasons: sizes and hashes differ per row, so each column is one kind of reason."""
    text = reason or "no reason given"
    column, mismatch, _ = text.partition(" mismatch: ")
    if mismatch:
        return f"{column} differs"
    return "size differs from the recorded file_size" if text.startswith("size ") else text
