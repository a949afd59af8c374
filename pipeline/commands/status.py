"""``ferry status``: what one or several result tables say, summed."""

from __future__ import annotations

import glob
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.core.errors import ResultsError
from pipeline.store import ResultStore

EXPIRING_WINDOW = timedelta(hours=24)


@dataclass
class StatusReport:
    """Counts over one or more result tables."""

    tables: list[Path]
    ok: int = 0
    failed: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)
    expiring_24h: int = 0
    expired: int = 0
    next_expiry: datetime | None = None

    @property
    def total(self) -> int:
        """Rows in all tables."""
        return self.ok + self.failed

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object, with the run summary's key names."""
        return {
            "ok": self.ok,
            "failed": self.failed,
            "total": self.total,
            "error_kinds": dict(sorted(self.error_kinds.items())),
            "expiring_24h": self.expiring_24h,
            "expired": self.expired,
            "next_expiry": self.next_expiry.isoformat() if self.next_expiry else None,
            "results": [str(p) for p in self.tables],
        }

    def text(self) -> str:
        """The table a person reads."""
        pairs: list[tuple[str, object]] = [("tables", len(self.tables)), ("rows", self.total)]
        pairs.append(("ok", self.ok))
        pairs.append(("failed", self.failed))
        pairs += [(f"  {kind}", count) for kind, count in self.error_kinds.most_common()]
        pairs += [("expiring 24h", self.expiring_24h), ("expired", self.expired)]
        if self.next_expiry:
            pairs.append(("next expiry", f"{self.next_expiry:%Y-%m-%d %H:%M:%S} UTC"))
        # the names' column is 14 wide, wider when a name (an error kind can be long) needs it
        width = max(14, *(len(name) + 1 for name, _ in pairs))
        return "\n".join(f"{name:<{width}}{value}" for name, value in pairs)


def expand_tables(patterns: list[str]) -> list[Path]:
    """Paths and globs (quoted, so the shell left them) to a list of existing tables."""
    found: list[Path] = []
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            matches = sorted(glob.glob(pattern))
            if not matches:
                raise ResultsError(pattern, "no result table matches this pattern")
            found.extend(Path(m) for m in matches)
        else:
            path = Path(pattern)
            if not path.exists():
                raise ResultsError(path, "no such result table")
            found.append(path)
    return found


#: The columns ``ferry status`` reads of a table (the others are not even decoded).
STATUS_COLUMNS = ("id", "status", "error_kind", "expires_at")


def load_table(path: Path) -> pl.DataFrame:
    """What status needs of a result table, with every row a running or killed run finished
    folded in."""
    return ResultStore(path).read(STATUS_COLUMNS)


def table_status(paths: list[Path], *, now: datetime | None = None) -> StatusReport:
    """Sum the tables' counts by status and error kind, and what expires when."""
    moment = now or datetime.now(UTC)
    report = StatusReport(tables=paths)
    for path in paths:
        frame = load_table(path)
        ok = frame.filter(pl.col("status") == "ok")
        report.ok += ok.height
        report.failed += frame.height - ok.height
        kinds = frame.filter(pl.col("status") == "failed").group_by("error_kind").len()
        for kind, count in kinds.iter_rows():
            report.error_kinds[kind or "unknown"] += count
        expires = ok["expires_at"].drop_nulls()
        report.expired += int((expires <= moment).sum())
        report.expiring_24h += int(
            ((expires > moment) & (expires <= moment + EXPIRING_WINDOW)).sum()
        )
        upcoming = expires.filter(expires > moment)
        if upcoming.len():
            first = upcoming.min()
            if isinstance(first, datetime) and (
                report.next_expiry is None or first < report.next_expiry
            ):
                report.next_expiry = first
    return report
