"""``--metrics-file``: Prometheus metrics of ``ferry run`` and ``ferry verify`` in a text file.

The file follows node_exporter's textfile collector convention (on cron hosts, point
``--collector.textfile.directory`` at its folder; in Kubernetes, a sidecar serves it). It is
rewritten whole and atomically (``prometheus_client.write_to_textfile``: temp file, rename) at
every checkpoint of a run and at the end. Every sample carries ``table`` (the result table's
absolute path), so several tables can share one collector directory, one file each.

========================================================  =====================================
``ferry_run_rows{status="ok|failed|skipped|not_attempted"}``  the run's rows (so far, mid-run)
``ferry_run_errors{kind=...}``                             failed rows by ``error_kind``
``ferry_run_duration_seconds``                             the run's wall time (so far)
``ferry_run_concurrency``                                  the limit on requests in flight (now)
``ferry_run_last_finish_timestamp_seconds``                when the last run finished
``ferry_run_exit_code``                                    the last finished run's exit code
``ferry_table_rows{status="ok|failed"}``                   the table, as ``ferry status``
``ferry_table_expired_rows``                               ok rows already expired
``ferry_table_expiring_rows{within="24h"}``                ok rows that expire within 24 h
========================================================  =====================================

Mid-run (and after ``ferry verify``) the last finished run's timestamp and exit code are
carried over from the file as it was, so an alert on them does not flap while a run goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from pipeline.core.errors import ERROR_KINDS, PipelineError
from pipeline.core.logs import fields
from pipeline.core.summary import RunSummary

log = logging.getLogger(__name__)

RUN_STATUSES = ("ok", "failed", "skipped", "not_attempted")
EXPIRING_WITHIN = "24h"
#: What a run that has not finished yet keeps from the file: the last finished run's verdict.
FINISH_FAMILIES = ("ferry_run_last_finish_timestamp_seconds", "ferry_run_exit_code")
TABLE_FAMILIES = ("ferry_table_rows", "ferry_table_expired_rows", "ferry_table_expiring_rows")
RUN_FAMILIES = (
    "ferry_run_rows",
    "ferry_run_errors",
    "ferry_run_duration_seconds",
    "ferry_run_concurrency",
    *FINISH_FAMILIES,
)


@dataclass(frozen=True)
class TableFigures:
    """What ``ferry status`` says about one table."""

    ok: int
    failed: int
    expired: int
    expiring_24h: int


def table_figures(results: Path) -> TableFigures | None:
    """The table's counts, read as ``ferry status`` reads them; ``None`` when it does not exist."""
    from pipeline.commands.status import table_status

    report = table_status([results])
    if report.total == 0 and not results.exists():
        return None
    return TableFigures(report.ok, report.failed, report.expired, report.expiring_24h)


def table_label(results: Path) -> str:
    """The ``table`` label: the result table's absolute path."""
    return str(results.resolve())


def record_run(
    metrics_file: Path | None, summary: RunSummary, *, final: bool, table_due: bool = True
) -> None:
    """Write the metrics of a run: at a checkpoint (``final=False``) or at its end.

    Reading the table's figures costs in proportion to the table, so a checkpoint recomputes
    them only when ``table_due`` and otherwise carries the file's previous ``ferry_table_*``
    samples over. Does nothing without ``metrics_file``. Never raises for an unwritable file:
    the run goes on, and an error line says why the file was not written.
    """
    if metrics_file is None:
        return
    registry = CollectorRegistry()
    label = table_label(summary.results)
    _run_rows(registry, label, summary)
    duration = summary.elapsed_seconds if final else time.time() - summary.started_at
    _gauge(registry, "ferry_run_duration_seconds", "Wall time of the run.", label, duration)
    if summary.concurrency is not None:
        _gauge(
            registry,
            "ferry_run_concurrency",
            "The limit on requests in flight (with --concurrency auto, as it adapts).",
            label,
            summary.concurrency.final,
        )
    if final:
        _finish(registry, label, summary.exit_code)
    else:
        _carry(registry, metrics_file, FINISH_FAMILIES)
    if final or table_due:
        _table(registry, label, table_figures(summary.results))
    else:
        _carry(registry, metrics_file, TABLE_FAMILIES)
    _write(metrics_file, registry)


def record_failed_start(
    metrics_file: Path | None, results: Path, *, exit_code: int, started_at: float
) -> None:
    """Write the metrics of a run that stopped before its first request (bad manifest: exit 2)."""
    if metrics_file is None:
        return
    registry = CollectorRegistry()
    label = table_label(results)
    empty = RunSummary(results=results, run_id="", plan={}, started_at=started_at)
    _run_rows(registry, label, empty)
    _gauge(
        registry,
        "ferry_run_duration_seconds",
        "Wall time of the run.",
        label,
        time.time() - started_at,
    )
    _finish(registry, label, exit_code)
    _table(registry, label, _figures_or_none(results))
    _write(metrics_file, registry)


def record_table(metrics_file: Path | None, results: Path) -> None:
    """Write the table's metrics (after ``ferry verify``), keeping the file's run metrics."""
    if metrics_file is None:
        return
    registry = CollectorRegistry()
    _carry(registry, metrics_file, RUN_FAMILIES)
    _table(registry, table_label(results), _figures_or_none(results))
    _write(metrics_file, registry)


def _figures_or_none(results: Path) -> TableFigures | None:
    try:
        return table_figures(results)
    except PipelineError:  # an unreadable table: its error is what the user sees, not this
        return None


def _gauge(
    registry: CollectorRegistry, name: str, documentation: str, label: str, value: float
) -> None:
    Gauge(name, documentation, ["table"], registry=registry).labels(table=label).set(value)


def _run_rows(registry: CollectorRegistry, label: str, summary: RunSummary) -> None:
    rows = Gauge(
        "ferry_run_rows",
        "Rows of the run by outcome (so far, while it runs).",
        ["table", "status"],
        registry=registry,
    )
    counts = (summary.ok, summary.failed, summary.skipped, summary.not_attempted)
    for status, count in zip(RUN_STATUSES, counts, strict=True):
        rows.labels(table=label, status=status).set(count)
    errors = Gauge(
        "ferry_run_errors",
        "Failed rows of the run by error_kind.",
        ["table", "kind"],
        registry=registry,
    )
    for kind in sorted({*ERROR_KINDS, *summary.error_kinds}):
        errors.labels(table=label, kind=kind).set(summary.error_kinds.get(kind, 0))


def _finish(registry: CollectorRegistry, label: str, exit_code: int) -> None:
    _gauge(
        registry,
        "ferry_run_last_finish_timestamp_seconds",
        "When the last run finished (Unix time).",
        label,
        time.time(),
    )
    _gauge(registry, "ferry_run_exit_code", "Exit code of the last finished run.", label, exit_code)


def _table(registry: CollectorRegistry, label: str, figures: TableFigures | None) -> None:
    if figures is None:
        return
    rows = Gauge(
        "ferry_table_rows",
        "Rows of the result table by status.",
        ["table", "status"],
        registry=registry,
    )
    rows.labels(table=label, status="ok").set(figures.ok)
    rows.labels(table=label, status="failed").set(figures.failed)
    _gauge(
        registry,
        "ferry_table_expired_rows",
        "ok rows whose link has expired.",
        label,
        figures.expired,
    )
    expiring = Gauge(
        "ferry_table_expiring_rows",
        "ok rows whose link expires within the window.",
        ["table", "within"],
        registry=registry,
    )
    expiring.labels(table=label, within=EXPIRING_WITHIN).set(figures.expiring_24h)


class _Carried:
    """A collector that hands back families read from the previous file."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def _carry(registry: CollectorRegistry, metrics_file: Path, names: Iterable[str]) -> None:
    wanted = set(names)
    try:
        text = metrics_file.read_text(encoding="utf-8")
        families = [f for f in text_string_to_metric_families(text) if f.name in wanted]
    except (OSError, ValueError):  # no file yet, or not ours: nothing to keep
        return
    if families:
        registry.register(_Carried(families))


def _write(metrics_file: Path, registry: CollectorRegistry) -> None:
    try:
        write_to_textfile(str(metrics_file), registry)
    except OSError as exc:
        log.error(
            f"ferry: error: --metrics-file {metrics_file}: cannot write it ({exc.strerror or exc})",
            extra=fields(file=str(metrics_file)),
        )
