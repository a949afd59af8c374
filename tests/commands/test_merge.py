"""``ferry merge``, and many hosts: shards with tables of their own, summed by status, merged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from click.testing import Result

from fileapi import BackgroundServer
from pipeline.core.schema import RESULT_COLUMNS, RESULT_POLARS_SCHEMA
from pipeline.store.files import TableFiles
from pipeline.store.journal import Journal
from pipeline.store.lock import table_lock
from pipeline.store.table import read_results, write_results
from tests.conftest import API_KEY, url_rows, write_manifest
from tests.helpers import REPO

Cli = Callable[..., Result]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def table(rows: list[dict[str, Any]], **extra_schema: pl.DataType) -> pl.DataFrame:
    """A result table from short rows: id, status, finished_at (minutes after T0), extras."""
    full = []
    for row in rows:
        minutes = row.pop("minute", None)
        full.append(
            {
                "url": f"https://source.example/{row['id']}",
                "upload_path": "ferry",
                "method": "url",
                "attempts": 1,
                "run_id": f"run-{minutes}",
                "finished_at": None if minutes is None else T0 + timedelta(minutes=minutes),
                **row,
            }
        )
    return pl.DataFrame(full, schema={**RESULT_POLARS_SCHEMA, **extra_schema})


def merge(cli: Cli, *args: object) -> Result:
    return cli("merge", *args)


def test_latest_attempt_wins_and_extra_columns_are_unioned(cli: Cli, tmp_path: Path) -> None:
    a = tmp_path / "a.results.parquet"
    b = tmp_path / "b.results.csv"
    write_results(
        table(
            [
                {
                    "id": "x",
                    "status": "failed",
                    "minute": 1,
                    "owner": "ops",
                    "error_kind": "timeout",
                },
                {"id": "y", "status": "ok", "minute": 1, "owner": "ops"},
                {"id": "w", "status": "ok", "minute": 9, "owner": "ops"},
            ],
            owner=pl.String(),
        ),
        a,
    )
    write_results(
        table(
            [
                {"id": "z", "status": "ok", "minute": 1, "batch": 7},
                {"id": "x", "status": "ok", "minute": 2, "batch": 8},
                {"id": "w", "status": "failed", "minute": 3, "batch": 9},
            ],
            batch=pl.Int64(),
        ),
        b,
    )
    out = tmp_path / "all.results.parquet"
    result = merge(cli, a, b, "--out", out, "--json")
    assert result.exit_code == 0, result.stderr
    assert "merged 2 tables, 4 rows (2 identities in several tables)" in result.stderr
    assert json.loads(result.stdout) == {
        "tables": 2,
        "input_rows": 6,
        "rows": 4,
        "ok": 4,
        "failed": 0,
        "shared_identities": 2,
        "results": str(out),
    }
    merged = read_results(out)
    assert merged.columns == [*RESULT_COLUMNS, "owner", "batch"]
    assert merged["id"].to_list() == ["x", "y", "w", "z"]  # order of first appearance
    rows = {row["id"]: row for row in merged.iter_rows(named=True)}
    assert rows["x"]["status"] == "ok" and rows["x"]["run_id"] == "run-2"  # the later attempt
    assert rows["x"]["error_kind"] is None
    assert rows["w"]["status"] == "ok" and rows["w"]["owner"] == "ops"  # minute 9 beats 3
    assert rows["z"]["batch"] == "7" and rows["z"]["owner"] is None  # the CSV's text, unioned


def test_ties_go_to_the_later_table_and_a_missing_time_loses(cli: Cli, tmp_path: Path) -> None:
    first = tmp_path / "first.results.parquet"
    second = tmp_path / "second.results.parquet"
    write_results(
        table(
            [
                {"id": "tie", "status": "ok", "minute": 5, "error": "from first"},
                {"id": "untimed", "status": "ok", "minute": 1},
            ]
        ),
        first,
    )
    write_results(
        table(
            [
                {"id": "tie", "status": "failed", "minute": 5, "error": "from second"},
                {"id": "untimed", "status": "failed"},  # no finished_at
            ]
        ),
        second,
    )
    out = tmp_path / "out.csv"
    assert merge(cli, first, second, "--out", out).exit_code == 0
    rows = {r["id"]: r for r in read_results(out).iter_rows(named=True)}
    assert rows["tie"]["error"] == "from second"
    assert rows["untimed"]["status"] == "ok"
    assert merge(cli, second, first, "--out", out).exit_code == 0
    rows = {r["id"]: r for r in read_results(out).iter_rows(named=True)}
    assert rows["tie"]["error"] == "from first"


def test_out_may_be_an_input_and_globs_are_expanded(cli: Cli, tmp_path: Path) -> None:
    shards = tmp_path / "shards"
    for k in range(3):
        rows = [{"id": f"s{k}-{i}", "status": "ok", "minute": k} for i in range(4)]
        write_results(table(rows), shards / f"shard-{k}.results.parquet")
    out = shards / "all.results.parquet"
    pattern = str(shards / "*.results.parquet")
    first = merge(cli, pattern, "--out", out)
    assert first.exit_code == 0, first.stderr
    assert "merged 3 tables, 12 rows (0 identities in several tables)" in first.stderr
    again = merge(cli, pattern, "--out", out)  # the glob now matches the merged table too
    assert "merged 4 tables, 12 rows (12 identities in several tables)" in again.stderr
    assert read_results(out).height == 12


def test_a_journal_beside_an_input_is_folded_in_keeping_extras(cli: Cli, tmp_path: Path) -> None:
    shard = tmp_path / "shard.results.parquet"
    rows = [{"id": "a", "status": "failed", "minute": 1, "owner": "ops"}]
    write_results(table(rows, owner=pl.String()), shard)
    journal = Journal(TableFiles(shard).journal).open()  # as a killed run leaves it
    late = table([{"id": "a", "status": "ok", "minute": 2}]).row(0, named=True)
    late["finished_at"] = int(late["finished_at"].timestamp() * 1_000_000)
    journal.append({name: late[name] for name in RESULT_COLUMNS})
    journal.close()

    out = tmp_path / "out.results.parquet"
    assert merge(cli, shard, "--out", out).exit_code == 0
    merged = read_results(out).row(0, named=True)
    assert (merged["status"], merged["owner"]) == ("ok", "ops")
    assert TableFiles(shard).journal.exists()  # an input's journal is not merge's to remove


def test_bad_inputs_exit_2_and_write_nothing_and_a_held_lock_exits_4(
    cli: Cli, tmp_path: Path
) -> None:
    good = tmp_path / "good.results.parquet"
    write_results(table([{"id": "a", "status": "ok", "minute": 1}]), good)
    garbage = tmp_path / "garbage.results.parquet"
    garbage.write_bytes(b"nope")
    out = tmp_path / "out.results.parquet"
    bad = merge(cli, good, garbage, "--out", out)
    assert bad.exit_code == 2 and "garbage.results.parquet" in bad.stderr
    nothing = merge(cli, str(tmp_path / "none-*.parquet"), "--out", out)
    assert nothing.exit_code == 2 and "no result table matches" in nothing.stderr
    assert merge(cli, good, "--out", tmp_path / "out.txt").exit_code == 2
    assert not out.exists()
    with table_lock(out):
        assert merge(cli, good, "--out", out).exit_code == 4
    assert not out.exists()


def test_shards_as_separate_hosts_then_status_and_merge(
    cli: Cli, api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> None:
    rows = url_rows(sources.base_url, 30)
    rows += [{"id": f"missing-{i}", "url": f"{sources.base_url}/no-{i}.txt"} for i in range(3)]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    hosts = tmp_path / "hosts"
    for k in (1, 2, 3):
        out = hosts / f"shard-{k}.results.parquet"
        args = ["run", manifest, "--base-url", api.base_url, "--results", out]
        if k == 2:  # this host takes its shard from the environment
            result = cli(*args, env={"FERRY_SHARD": "2/3"})
        else:
            result = cli(*args, "--shard", f"{k}/3")
        assert result.exit_code in (0, 1), result.stderr
        assert read_results(out).height > 0, f"shard {k} is empty"

    pattern = str(hosts / "shard-*.results.parquet")
    status = cli("status", pattern, "--json")
    assert status.exit_code == 0, status.stderr
    summed = json.loads(status.stdout)
    assert (summed["ok"], summed["failed"], summed["total"]) == (30, 3, 33)
    assert summed["error_kinds"] == {"source_error": 3}
    assert len(summed["results"]) == 3

    merged_path = tmp_path / "m.results.parquet"
    merged = cli("merge", pattern, "--out", merged_path, "--json")
    assert merged.exit_code == 0, merged.stderr
    assert json.loads(merged.stdout)["shared_identities"] == 0
    ids = read_results(merged_path)["id"].to_list()
    assert sorted(ids) == sorted(row["id"] for row in rows)  # every row exactly once
    # the merged table is the manifest's default result table: only the failures are left
    dry = cli("run", manifest, "--dry-run")
    assert dry.stdout.strip() == "new 0, retry 3, refresh 0, skip 30"


#: The command of the Kubernetes Indexed Job example in docs/verify-merge-shards.md, with
#: ``ferry`` started as ``python -m jobs`` (the interpreter of this test).
INDEXED_JOB_COMMAND = (
    'exec "$PYTHON" -m jobs run "$MANIFEST" --base-url "$API" '
    "--shard $((JOB_COMPLETION_INDEX + 1))/$SHARDS "
    '--results "$OUT/shard-$JOB_COMPLETION_INDEX.results.parquet"'
)


def test_kubernetes_indexed_job_shards_cover_every_row_once(
    api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> None:
    rows = url_rows(sources.base_url, 40)
    manifest = write_manifest(tmp_path / "m.csv", rows)
    out = tmp_path / "out"
    count = 4
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("FERRY_", "KIE_"))}
    base_env |= {
        "KIE_API_KEY": API_KEY,
        "PYTHON": sys.executable,
        "MANIFEST": str(manifest),
        "API": api.base_url,
        "SHARDS": str(count),
        "OUT": str(out),
    }
    pods = [  # the pods of one Indexed Job run side by side
        subprocess.Popen(
            ["sh", "-c", INDEXED_JOB_COMMAND],
            env={**base_env, "JOB_COMPLETION_INDEX": str(index)},
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for index in range(count)
    ]
    for pod in pods:
        _, err = pod.communicate(timeout=60)
        assert pod.returncode == 0, err.decode()

    seen: list[str] = []
    for index in range(count):
        ids = read_results(out / f"shard-{index}.results.parquet")["id"].to_list()
        assert ids, f"index {index} got no rows"
        seen += ids
    assert sorted(seen) == sorted(row["id"] for row in rows)  # each row once, none left out
