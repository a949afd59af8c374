"""A folder given as MANIFEST never uploads ferry's own files, wherever ``--results`` points,
even with everything a killed run leaves beside its table (journal, lock, checkpoints, plan)."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from pipeline.store.table import read_results
from tests.conftest import BackgroundServer
from tests.helpers.runs import spawn_run, wait_for_journal_lines


def test_a_folder_skips_its_own_table_and_what_a_killed_run_left(
    start_api: Callable[..., BackgroundServer], cli: Callable[..., Result], tmp_path: Path
) -> None:
    folder = tmp_path / "exports"
    (folder / "sub").mkdir(parents=True)
    names = [f"f{i:02d}.txt" for i in range(12)] + [f"sub/g{i:02d}.txt" for i in range(12)]
    for name in names:
        (folder / name).write_text(f"{name}\n")
    table = folder / "out.parquet"  # inside the folder, and not named *.results.*
    slow = start_api(latency_ms=150)
    process = spawn_run(folder, slow.base_url, "--results", str(table), "--concurrency", "2")
    try:
        wait_for_journal_lines(table, 3)
        left = sorted(p.name for p in folder.iterdir())
        assert {"out.parquet.journal", "out.parquet.plan", "out.parquet.checkpoints"} <= set(left)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=30)

    api = start_api()
    done = cli("run", folder, "--base-url", api.base_url, "--results", table, "--json")
    assert done.exit_code == 0, done.stderr
    uploaded = read_results(table)
    assert sorted(uploaded["id"].to_list()) == sorted(names)

    # another table elsewhere: the first one is still recognised (by its header) and skipped
    elsewhere = tmp_path / "elsewhere.parquet"
    again = cli("run", folder, "--base-url", api.base_url, "--results", elsewhere, "--json")
    assert again.exit_code == 0, again.stderr
    assert sorted(read_results(elsewhere)["id"].to_list()) == sorted(names)
