"""The plan half of ``ferry run``: the manifest read in batches, planned against the table;
``--dry-run`` stops here."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from pipeline.buckets.needs import StoreNeeds
from pipeline.buckets.registry import Stores
from pipeline.core.progress import StepProgress
from pipeline.core.settings import RunSettings
from pipeline.core.summary import RunSummary
from pipeline.manifest import open_manifest
from pipeline.plan.planner import ManifestNames, Plan, PlanOptions, make_plan
from pipeline.store import ResultStore, RunSpace

#: Manifest rows per batch handed to the planner: the peak of reading follows it.
BATCH_ROWS = 25_000


def _expected_rows(path: Path | None) -> int | None:
    """About how many rows a local manifest has, to size the plan's partitions."""
    if path is None:
        return None
    try:
        if path.is_dir():
            return None  # a folder may hold millions of files: counting them is reading it
        if path.suffix.lower() == ".parquet":
            return int(pq.read_metadata(path).num_rows)
        return path.stat().st_size // 40  # text: a URL and a little more a line
    # unreadable (pyarrow's errors are ValueErrors): the manifest's reader says why
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def manifest_batches(
    settings: RunSettings, stores: Stores, needs: StoreNeeds
) -> Iterator[tuple[Iterator[pl.DataFrame], Path, ManifestNames]]:
    """The manifest's rows in batches (the stores they use noted in ``needs``), the folder
    local sources are relative to, its names."""
    with open_manifest(
        settings.manifest, options=settings.manifest_options, stores=stores
    ) as source:
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
        yield needs.watch(source.batches(BATCH_ROWS)), base_dir, names


def plan_run(settings: RunSettings) -> RunSummary:
    """``--dry-run``: the plan against the table (and anything a run left), changing nothing."""
    store = ResultStore(settings.results)
    stores, needs = run_stores(settings), StoreNeeds()
    with (
        manifest_batches(settings, stores, needs) as (batches, _, names),
        store.open_run(dry_run=True) as space,
    ):
        plan = plan_in(batches, space, settings, names)
        needs.require(stores.environment, sign=settings.via != "relay")
    return RunSummary(results=settings.results, run_id="dry-run", plan=plan.counts, dry_run=True)


def plan_in(
    batches: Iterator[pl.DataFrame], space: RunSpace, settings: RunSettings, names: ManifestNames
) -> Plan:
    """The plan of ``settings`` in ``space``; a line every few seconds while it is made."""
    options = PlanOptions(
        now=datetime.now(UTC),
        failed_only=settings.failed_only,
        refresh_within=settings.refresh_within,
        limit=settings.limit,
        shard=settings.shard,
    )
    return make_plan(
        batches,
        space.table_rows(),
        options,
        base=space.base,
        scratch=space.scratch,
        chunks=space.chunks,
        names=names,
        progress=StepProgress("planning", "manifest rows read", every=settings.log_every_seconds),
    )


def run_stores(settings: RunSettings) -> Stores:
    """The run's object store clients (made on first use)."""
    return Stores(settings.stores, read_timeout=settings.timeout)
