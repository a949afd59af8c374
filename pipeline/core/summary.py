"""The run summary: counts, error kinds, throughput and the exit code they imply."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.core.errors import ExitCode
from pipeline.core.units import Rate

PLAN_CATEGORIES = ("new", "retry", "refresh", "skip")


@dataclass(frozen=True)
class ConcurrencyFigures:
    """The limit on requests in flight: in force at the end (or now), the least and the most it
    was; ``adaptive`` for ``--concurrency auto`` (a fixed N is all three)."""

    final: int
    lowest: int
    highest: int
    adaptive: bool = False

    def to_json(self) -> dict[str, int]:
        """``{"final", "min", "max"}``, the ``concurrency`` of ``--json``."""
        return {"final": self.final, "min": self.lowest, "max": self.highest}


@dataclass
class RunSummary:
    """What one run did; ``exit_code`` follows the contract."""

    results: Path
    run_id: str
    plan: dict[str, int]
    ok: int = 0
    failed: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)
    top_errors: Counter[str] = field(default_factory=Counter)
    elapsed_seconds: float = 0.0
    aborted: str | None = None
    aborted_message: str | None = None
    interrupted: bool = False
    dry_run: bool = False
    #: ``ok`` rows whose ``md5``/``sha256`` could not be checked: URL uploads, whose bytes the
    #: API fetched without passing through ferry.
    unchecked_hashes: int = 0
    #: Rows sent as URL uploads whose own request headers (aria2's ``header=``) only a relay
    #: sends.
    unsent_headers: int = 0
    #: Wall-clock start (epoch seconds): metrics written mid-run report the duration so far.
    started_at: float = field(default_factory=time.time)
    #: The limit on requests in flight (None when no request was planned: a dry run).
    concurrency: ConcurrencyFigures | None = None

    @property
    def skipped(self) -> int:
        """Rows the plan left alone."""
        return self.plan.get("skip", 0)

    @property
    def planned(self) -> int:
        """Rows the plan chose to do."""
        return sum(v for k, v in self.plan.items() if k != "skip")

    @property
    def not_attempted(self) -> int:
        """Planned rows that an abort or interrupt left as they were."""
        return max(0, self.planned - self.ok - self.failed)

    @property
    def rows_per_second(self) -> float:
        """Finished rows per second of the run."""
        done = self.ok + self.failed
        return done / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    @property
    def exit_code(self) -> ExitCode:
        """0 all planned rows ok, 1 some failed, 3 fatal API answer, 130 interrupted."""
        if self.interrupted:
            return ExitCode.INTERRUPTED
        if self.aborted:
            return ExitCode.FATAL_API
        return ExitCode.FAILED if self.failed else ExitCode.OK

    def plan_line(self) -> str:
        """``new N, retry N, refresh N, skip N``: what ``--dry-run`` prints."""
        return ", ".join(f"{name} {self.plan.get(name, 0)}" for name in PLAN_CATEGORIES)

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object."""
        return {
            "ok": self.ok,
            "failed": self.failed,
            "skipped": self.skipped,
            "not_attempted": self.not_attempted,
            "error_kinds": dict(sorted(self.error_kinds.items())),
            "results": str(self.results),
            "run_id": self.run_id,
            "plan": dict(self.plan),
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "rows_per_second": round(self.rows_per_second, 2),
            "aborted": self.aborted,
            "interrupted": self.interrupted,
            "unchecked_hashes": self.unchecked_hashes,
            "exit_code": int(self.exit_code),
            **({"concurrency": self.concurrency.to_json()} if self.concurrency else {}),
        }

    def text(self) -> str:
        """The short summary a person reads at the end of a run."""
        lines = [
            f"ferry: ok {self.ok}, failed {self.failed}, skipped {self.skipped}"
            + (f", not attempted {self.not_attempted}" if self.not_attempted else "")
            + f" in {self.elapsed_seconds:.1f}s ({self.rows_per_second:.1f} rows/s)"
        ]
        if self.error_kinds:
            kinds = ", ".join(f"{k} {n}" for k, n in self.error_kinds.most_common())
            lines.append(f"ferry: errors by kind: {kinds}")
            for message, count in self.top_errors.most_common(3):
                lines.append(f"ferry:   {count} x {message}")
        if self.unchecked_hashes:
            lines.append(
                f"ferry: md5/sha256 of {_rows(self.unchecked_hashes)} not checked: URL uploads, "
                "whose bytes the API fetched without ferry seeing them; check them with "
                "--via relay, or afterwards with ferry verify --checksum"
            )
        if self.unsent_headers:
            lines.append(
                f"ferry: header= lines of {_rows(self.unsent_headers)} not sent: URL uploads "
                "cannot send them; use --via relay (or auto) for sources that need them"
            )
        figures = self.concurrency
        if figures is not None and figures.adaptive:
            lines.append(
                f"ferry: concurrency auto: {figures.final} at the end, "
                f"{figures.lowest} to {figures.highest} during the run"
            )
        if self.aborted:
            lines.append(f"ferry: aborted: {self.aborted_message}")
        if self.interrupted:
            lines.append("ferry: interrupted: finished rows were kept; run again to continue")
        lines.append(f"ferry: results: {self.results}")
        return "\n".join(lines)


def _rows(count: int) -> str:
    return "1 row" if count == 1 else f"{count} rows"


@dataclass(frozen=True)
class CapacityEstimate:
    """How long ``rows`` take at ``rate`` (one request each, at least), against the retention."""

    rows: int
    rate: Rate
    retention_seconds: float

    @property
    def seconds(self) -> float:
        """Seconds the rows take at the rate, retries not counted."""
        return self.rows * self.rate.per_seconds / self.rate.count

    @property
    def too_slow(self) -> bool:
        """True when the first links expire before the last rows are done."""
        return self.seconds > self.retention_seconds

    def line(self) -> str:
        """``ferry: at 20/10s the 1200 planned rows take at least 10 min``."""
        return (
            f"ferry: at {self.rate} the {self.rows} planned rows take at least "
            f"{human_duration(self.seconds)}"
        )

    def warning(self) -> str:
        """The line printed when :attr:`too_slow`."""
        retention = human_duration(self.retention_seconds)
        return (
            f"ferry: warning: that is longer than --retention {retention}"
            ": links expire before a full refresh is done, so at this rate not every link can "
            "be kept alive; raise --rate if the key allows it"
        )


def human_duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``5.2 h``, ``3 days``, ``57.9 days``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h".replace(".0 h", " h")
    return f"{seconds / 86400:.1f} days".replace(".0 days", " days")
