"""Planning through the library, as the runner calls it: manifest batches against the table's
rows (from the store's ``open_run``), into counts and the rows to do, in manifest order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from pipeline.core.errors import ManifestError
from pipeline.core.settings import Shard
from pipeline.manifest import open_manifest
from pipeline.plan.planner import ManifestNames, Plan, PlanOptions, make_plan
from pipeline.store import ResultStore
from pipeline.store.table import empty_results, fold, write_results
from tests.helpers.rows import read_frame, row

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def manifest_of(folder: Path, ids: list[str], **columns: list[str]) -> Path:
    path = folder / "m.csv"
    frame = pl.DataFrame({"id": ids, "url": [f"https://e.com/{i}" for i in ids], **columns})
    frame.write_csv(path)
    return path


def table_of(folder: Path, rows: dict[str, tuple[str, datetime | None]]) -> Path:
    """A result table: each id's status and expiry."""
    path = folder / "m.results.parquet"
    frame = fold(empty_results(), read_frame([row(i, status) for i, (status, _) in rows.items()]))
    expiries = pl.Series([expiry for _, expiry in rows.values()], dtype=pl.Datetime("us", "UTC"))
    write_results(frame.with_columns(expiries.alias("expires_at")), path)
    return path


def plan(manifest: Path, table: Path, options: PlanOptions, *, dry_run: bool = True) -> Plan:
    with (
        open_manifest(manifest) as source,
        ResultStore(table).open_run(dry_run=dry_run) as space,
    ):
        return make_plan(
            source.batches(2),  # batches of two rows: the plan never sees the whole manifest
            space.table_rows(),
            options,
            base=space.base,
            scratch=space.scratch,
            chunks=space.chunks,
            names=ManifestNames(source.label),
        )


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    manifest = manifest_of(tmp_path, ["new1", "ok", "failed", "expired", "soon", "new2"])
    table = table_of(
        tmp_path,
        {
            "ok": ("ok", NOW + timedelta(days=2)),
            "failed": ("failed", None),
            "expired": ("ok", NOW - timedelta(hours=1)),
            "soon": ("ok", NOW + timedelta(hours=6)),
            "gone": ("ok", NOW + timedelta(days=1)),  # no longer in the manifest
        },
    )
    return manifest, table


def test_each_row_falls_in_one_category(setup: tuple[Path, Path]) -> None:
    manifest, table = setup
    counts = plan(manifest, table, PlanOptions(now=NOW)).counts
    assert counts == {"new": 2, "retry": 1, "refresh": 1, "skip": 2}
    counts = plan(manifest, table, PlanOptions(now=NOW, refresh_within=12 * 3600)).counts
    assert counts == {"new": 2, "retry": 1, "refresh": 2, "skip": 1}
    counts = plan(manifest, table, PlanOptions(now=NOW, failed_only=True)).counts
    assert counts == {"new": 0, "retry": 1, "refresh": 0, "skip": 5}


def test_a_run_gets_its_rows_in_manifest_order_with_their_places(setup: tuple[Path, Path]) -> None:
    manifest, table = setup
    done = plan(manifest, table, PlanOptions(now=NOW), dry_run=False)
    rows = list(done.rows())
    assert [r.id for r in rows] == ["new1", "failed", "expired", "new2"]
    # a current row keeps its place in the table; a new one goes after every current row
    assert [r.key for r in rows] == [5 + 1, 1, 2, 5 + 6]


def test_limit_and_shards_choose_among_the_rows_to_do(setup: tuple[Path, Path]) -> None:
    manifest, table = setup
    limited = plan(manifest, table, PlanOptions(now=NOW, limit=2)).counts
    assert limited == {"new": 1, "retry": 1, "refresh": 0, "skip": 4}
    shards = [
        plan(manifest, table, PlanOptions(now=NOW, shard=Shard(k, 3))).counts for k in (1, 2, 3)
    ]
    for category in ("new", "retry", "refresh"):
        assert (
            sum(counts[category] for counts in shards)
            == {"new": 2, "retry": 1, "refresh": 1}[category]
        )


def test_an_id_on_two_different_rows_is_a_bad_manifest_naming_both(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,url\na,https://e.com/1\nb,https://e.com/2\na,https://e.com/3\n")
    with pytest.raises(ManifestError, match=r"column 'id': duplicate id 'a' in rows 1 and 3"):
        plan(manifest, tmp_path / "t.parquet", PlanOptions(now=NOW))
